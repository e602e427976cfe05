"""The append-only, hash-chained audit log (DESIGN.md §7).

`record` is the only function that writes an AuditEvent. Each event stores
HMAC-SHA-256(key, canonical content + previous event's hash), so changing, deleting or
reordering any event breaks the chain from that point; `verify` finds the first break.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import AuditEvent

GENESIS_HASH = "0" * 64
# Key of the PostgreSQL advisory lock that serializes writers, so the chain never forks.
_ADVISORY_LOCK_KEY = 0x10A0D17


def client_ip(request) -> str | None:
    """The caller's address. Only REMOTE_ADDR: a forwarded header is trusted only behind a known proxy."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _canonical(
    *,
    at: str,
    actor_id: int | None,
    actor_username: str,
    action: str,
    object_type: str,
    object_id: str,
    ip_address: str | None,
    details: dict,
    prev_hash: str,
) -> bytes:
    return json.dumps(
        [at, actor_id, actor_username, action, object_type, object_id, ip_address, details, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    ).encode()


def _digest(content: bytes) -> str:
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), content, hashlib.sha256).hexdigest()


def event_hash(event: AuditEvent) -> str:
    """The hash an event should carry, recomputed from its stored content."""
    return _digest(
        _canonical(
            at=event.at.isoformat(),
            actor_id=event.actor_id,
            actor_username=event.actor_username,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            ip_address=event.ip_address,
            details=event.details,
            prev_hash=event.prev_hash,
        )
    )


def record(
    *,
    action: str,
    actor=None,
    request=None,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """Append one event to the chain: who, what, when, which object, from which address."""
    if (
        actor is None
        and request is not None
        and getattr(request, "user", None) is not None
        and request.user.is_authenticated
    ):
        actor = request.user
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(getattr(obj, "public_id", obj.pk))
    details = json.loads(json.dumps(details or {}, default=str))  # store exactly what was hashed
    username = actor_username or (actor.get_username() if actor is not None else "")
    ip = client_ip(request)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
        # On SQLite every transaction is IMMEDIATE (settings), so it already holds the write lock.
        prev = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
        at = timezone.now()
        event = AuditEvent(
            at=at,
            actor=actor,
            actor_username=username,
            action=action,
            object_type=object_type,
            object_id=object_id,
            ip_address=ip,
            details=details,
            prev_hash=prev,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str = ""

    def as_details(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_broken_id": self.first_broken_id,
            "problem": self.problem,
        }


# The stored columns `event_hash` reads, in `_canonical` order; verify reads only these, as tuples.
_HASHED_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "ip_address",
    "details",
    "prev_hash",
    "hash",
)


def _iter_rows(chunk: int) -> Iterator[tuple]:
    # Keyset pages of plain tuples: flat memory, and no model instance per event (1,000,000 events in seconds).
    last = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last).order_by("id").values_list(*_HASHED_COLUMNS)[:chunk])
        if not batch:
            return
        yield from batch
        last = batch[-1][0]


def verify(chunk: int = 10_000) -> Verification:
    """Walk the whole chain in order; report the first event whose link or content is wrong."""
    key = settings.AUDIT_HMAC_KEY.encode()
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode
    new, compare = hmac.new, hmac.compare_digest
    sha256 = hashlib.sha256
    prev = GENESIS_HASH
    checked = 0
    for event_id, at, actor_id, username, action, otype, oid, ip, details, prev_hash, stored in _iter_rows(chunk):
        if prev_hash != prev:
            return Verification(
                False,
                checked,
                event_id,
                "does not link to the event before it (an event was deleted, inserted or reordered)",
            )
        content = dumps([at.isoformat(), actor_id, username, action, otype, oid, ip, details, prev_hash]).encode()
        if not compare(new(key, content, sha256).hexdigest(), stored):
            return Verification(False, checked, event_id, "content does not match its hash (the event was changed)")
        prev = stored
        checked += 1
    return Verification(True, checked)


def verify_and_record(*, actor=None, request=None, actor_username: str = "", via: str = "web") -> Verification:
    """Verify the chain and append the result as a `verify` event: the auditor page shows the latest one."""
    result = verify()
    record(
        action=AuditEvent.Action.VERIFY,
        actor=actor,
        request=request,
        actor_username=actor_username,
        object_type="audit_log",
        details={**result.as_details(), "via": via},
    )
    return result


def last_verification() -> AuditEvent | None:
    """The most recent `verify` event (its details hold the result), or None."""
    return AuditEvent.objects.filter(action=AuditEvent.Action.VERIFY).order_by("-id").first()
