"""Signed checkpoints of the audit chain (DESIGN.md §7): the chain's length and latest hash, signed with an
Ed25519 key kept outside the database. Deleting the newest events, or the whole table, then fails
verification against a checkpoint kept elsewhere (`--append FILE`), and anyone holding the public key can
check a checkpoint without the HMAC key.

The signed message is text, the same in this module, in exported checkpoints and in the standalone checker
(docs/audit.md): `iop-screening audit checkpoint v1`, then `length=`, `event=`, `hash=` and `at=` lines.

A checkpoint *holds* when its signature verifies with a known public key and the chain still contains it: the
event it names exists with the hash it signed, and exactly `length` events have an id up to that event's.
`verify_audit --anchor FILE` checks every checkpoint of a file and of the table that way; the auditor page's
"Verify now" starts from the latest stored one (`screening.audit.verify_from_checkpoint`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
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
    """The keys checkpoints may be signed with, by id: the current one, and the public halves of retired ones
    (`AUDIT_RETIRED_PUBLIC_KEYS`), so that checkpoints signed before a rotation still verify."""
    keys = [base64.b64decode(k) for k in settings.AUDIT_RETIRED_PUBLIC_KEYS] + [public_key_bytes()]
    return {key_id(public): public for public in keys}


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
        # Inside the transaction: a file that cannot be written leaves no stored checkpoint either.
        with Path(append).open("a", encoding="utf-8") as f:
            f.write(json.dumps(as_dict(anchor), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
    return anchor


def public_key_id() -> str:
    """The id of the current signing key, as checkpoints carry it."""
    return key_id(public_key_bytes())


def describe(checkpoint: dict) -> str:
    """How a checkpoint is named in messages: `checkpoint of 1,234 events up to #5678 signed 2026-…`."""
    return f"checkpoint of {checkpoint['length']:,} events up to #{checkpoint['event']} signed {checkpoint['at']}"


class CheckpointFileError(ValueError):
    """A line of an anchor file that is not a checkpoint."""


_FIELDS = {"length": int, "event": int, "hash": str, "at": str, "key_id": str, "signature": str}
_HASH = re.compile(r"[0-9a-f]{64}")


def read_file(path: Path) -> list[dict]:
    """The checkpoints of an anchor file, in its order (blank lines skipped). OSError when it cannot be read;
    CheckpointFileError naming the line when one is not a checkpoint."""
    checkpoints = []
    with Path(path).open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                checkpoint = json.loads(line)
            except ValueError:
                raise CheckpointFileError(f"line {number} of {path} is not JSON") from None
            if not isinstance(checkpoint, dict) or any(
                type(checkpoint.get(name)) is not kind for name, kind in _FIELDS.items()
            ):
                fields = ", ".join(f"{name} ({kind.__name__})" for name, kind in _FIELDS.items())
                raise CheckpointFileError(f"line {number} of {path} is not a checkpoint: it needs {fields}")
            in_range = all(0 < checkpoint[name] < 2**63 for name in ("length", "event"))  # a bigint id
            if not (in_range and _HASH.fullmatch(checkpoint["hash"])):
                raise CheckpointFileError(f"line {number} of {path} is not a checkpoint: bad length, event or hash")
            checkpoints.append(checkpoint)
    return checkpoints


def stored() -> list[dict]:
    """Every checkpoint of the anchors table, oldest first, in the file's shape."""
    return [as_dict(anchor) for anchor in AuditAnchor.objects.order_by("id")]


def latest_signed() -> tuple[AuditAnchor | None, int]:
    """The newest stored checkpoint whose signature holds, and how many newer ones did not (a row forged in
    the table, or signed by a key no longer known)."""
    public_keys, passed_over, newer = known_public_keys(), 0, AuditAnchor.objects.order_by("-id")
    # Plain pages, not .iterator(): no server-side cursor, so nothing outlives the query (PgBouncer, DESIGN §12).
    while page := list(newer[:20]):
        for anchor in page:
            if signature_holds(as_dict(anchor), public_keys):
                return anchor, passed_over
            passed_over += 1
        newer = newer.filter(id__lt=page[-1].pk)
    return None, passed_over


def events_after(event_id: int) -> int:
    """How many events were added after the one a checkpoint names."""
    return AuditEvent.objects.filter(id__gt=event_id).count()


@dataclass(frozen=True)
class Problem:
    """The first checkpoint that does not hold, and why (a sentence that names it)."""

    checkpoint: dict
    text: str

    @property
    def event_id(self) -> int:
        return self.checkpoint["event"]


_IN_BATCH = 500  # ids per IN (...) list: well under SQLite's limit on parameters


def first_problem(checkpoints: Iterable[dict], *, where: str = "") -> Problem | None:
    """The first of `checkpoints` (in their order) that does not hold, or None when all do.

    Each must be signed by a known key and still be in the chain: its event there with its hash, and exactly
    `length` events up to it. The counts are taken between consecutive checkpoints, so checking many of them
    reads the table's ids about once. `where` says where a checkpoint came from, in the message."""
    checkpoints = list(checkpoints)
    public_keys = known_public_keys()
    ids = sorted({c["event"] for c in checkpoints})
    hashes: dict[int, str] = {}
    for i in range(0, len(ids), _IN_BATCH):
        hashes.update(AuditEvent.objects.filter(id__in=ids[i : i + _IN_BATCH]).values_list("id", "hash"))
    lengths, total, previous = {}, 0, None
    for event_id in ids:
        events = AuditEvent.objects.filter(id__lte=event_id)
        if previous is not None:
            events = events.filter(id__gt=previous)
        total += events.count()
        lengths[event_id], previous = total, event_id
    for checkpoint in checkpoints:
        named = describe(checkpoint) + (f" ({where})" if where else "")
        event_id, length = checkpoint["event"], checkpoint["length"]
        if checkpoint["key_id"] not in public_keys:
            known = ", ".join(public_keys)
            return Problem(checkpoint, f"{named} is signed by key {checkpoint['key_id']}, not a known key ({known})")
        if not signature_holds(checkpoint, public_keys):
            return Problem(checkpoint, f"{named} does not verify: its signature does not match it (forged or altered)")
        if event_id not in hashes:
            return Problem(
                checkpoint,
                f"{named} is missing from the chain: event #{event_id} is gone "
                "(events deleted after it, or an older backup restored?)",
            )
        if hashes[event_id] != checkpoint["hash"]:
            return Problem(
                checkpoint, f"{named} does not match the chain: event #{event_id} carries another hash (replaced?)"
            )
        if lengths[event_id] != length:
            return Problem(
                checkpoint,
                f"{named} does not match the chain: {lengths[event_id]:,} events lead to #{event_id}, not "
                f"{length:,} (events before it deleted or inserted?)",
            )
    return None
