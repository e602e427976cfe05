"""Signed checkpoints of the audit chain (DESIGN.md §7): the chain's length and latest hash, signed with an
Ed25519 key kept outside the database. Deleting the newest events, or the whole table, then fails
verification against a checkpoint kept elsewhere (`--append FILE`), and anyone holding the public key can
check a checkpoint without the HMAC key.

The signed message is text, the same in this module, in exported checkpoints and in the standalone checker
(docs/audit.md): `iop-screening audit checkpoint v1`, then `length=`, `event=`, `hash=` and `at=` lines.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import AuditAnchor, AuditEvent

HEADER = "iop-screening audit checkpoint v1"


def _private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(settings.AUDIT_SIGNING_KEY))


def public_key_bytes(private: Ed25519PrivateKey | None = None) -> bytes:
    return (private or _private_key()).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_b64() -> str:
    """The public key, base64 of its 32 raw bytes: published on the auditor's page and in docs."""
    return base64.b64encode(public_key_bytes()).decode()


def key_id(public: bytes) -> str:
    """The first 8 bytes of the public key's SHA-256, in hex: which key signed a checkpoint."""
    return hashlib.sha256(public).hexdigest()[:16]


def message(*, length: int, event_id: int, event_hash: str, at: str) -> bytes:
    return f"{HEADER}\nlength={length}\nevent={event_id}\nhash={event_hash}\nat={at}\n".encode()


def as_dict(anchor: AuditAnchor) -> dict:
    """A checkpoint as it is written to an anchor file (one JSON object per line) and exported."""
    return {
        "length": anchor.length,
        "event": anchor.event_id,
        "hash": anchor.event_hash,
        "at": anchor.at.isoformat(),
        "key_id": anchor.key_id,
        "signature": anchor.signature,
    }


def signature_holds(checkpoint: dict, public_keys: dict[str, bytes]) -> bool:
    """Whether a checkpoint (`as_dict` shape) is signed by the key its key_id names, among `public_keys`."""
    public = public_keys.get(checkpoint.get("key_id", ""))
    if public is None:
        return False
    signed = message(
        length=checkpoint["length"], event_id=checkpoint["event"], event_hash=checkpoint["hash"], at=checkpoint["at"]
    )
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(checkpoint["signature"]), signed)
    except (InvalidSignature, ValueError):
        return False
    return True


def known_public_keys() -> dict[str, bytes]:
    """The current key, by id (a rotated-out key's public half can be added here from settings later)."""
    public = public_key_bytes()
    return {key_id(public): public}


@transaction.atomic
def checkpoint(*, append: Path | None = None) -> AuditAnchor | None:
    """Sign the chain as it stands (its length and latest hash) and store the checkpoint; with `append`, also
    add it as a JSON line to that file, outside the database. None when the chain is empty."""
    latest = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
    if latest is None:
        return None
    event_id, event_hash = latest
    length = AuditEvent.objects.filter(id__lte=event_id).count()
    at = timezone.now()
    private = _private_key()
    signed = message(length=length, event_id=event_id, event_hash=event_hash, at=at.isoformat())
    anchor = AuditAnchor.objects.create(
        length=length,
        event_id=event_id,
        event_hash=event_hash,
        at=at,
        key_id=key_id(public_key_bytes(private)),
        signature=base64.b64encode(private.sign(signed)).decode(),
    )
    if append is not None:
        with Path(append).open("a", encoding="utf-8") as f:
            f.write(json.dumps(as_dict(anchor), sort_keys=True) + "\n")
    return anchor
