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


def _iter_events(chunk: int = 5000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last).order_by("id")[:chunk])
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def verify() -> Verification:
    """Walk the whole chain in order; report the first event whose link or content is wrong."""
    prev = GENESIS_HASH
    checked = 0
    for event in _iter_events():
        if event.prev_hash != prev:
            return Verification(
                False,
                checked,
                event.id,
                "does not link to the event before it (an event was deleted, inserted or reordered)",
            )
        if not hmac.compare_digest(event_hash(event), event.hash):
            return Verification(False, checked, event.id, "content does not match its hash (the event was changed)")
        prev = event.hash
        checked += 1
    return Verification(True, checked)
