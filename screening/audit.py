"""The append-only, hash-chained audit log (DESIGN.md §7).

`record` is the only function that writes an AuditEvent. Each event stores
HMAC-SHA-256(key, canonical content + previous event's hash), so changing, deleting or
reordering any event breaks the chain from that point; `verify` finds the first break.
`verify_from_checkpoint` checks only what came after the latest signed checkpoint (screening.anchors), which
vouches for the events up to it: the auditor page's "Verify now".
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, connections, models, transaction
from django.utils import timezone

from . import anchors
from .models import AuditEvent

GENESIS_HASH = "0" * 64
# Key of the PostgreSQL advisory lock that serializes writers, so the chain never forks.
_ADVISORY_LOCK_KEY = 0x10A0D17


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Where an action came from: the caller's address and the request's id. Made once per request by
    `screening.middleware.AuditContextMiddleware` (as `request.audit`); commands use `SYSTEM`."""

    address: str | None = None
    request_id: str = ""


SYSTEM = AuditContext()


# What an event's hash covers, in this order: `at` as ISO text, then the other columns as stored.
_HASHED = ("at", "actor_id", "actor_username", "action", "object_type", "object_id", "ip_address")
_HASHED += ("details", "prev_hash")
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode


def _canonical(**content: Any) -> bytes:
    # The request id joins the hashed content only when there is one: events recorded before it hash as before.
    request = [content["request_id"]] if content.get("request_id") else []
    return _encode([content[name] for name in _HASHED] + request).encode()


def _digest(content: bytes) -> str:
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), content, hashlib.sha256).hexdigest()


def event_hash(event: AuditEvent) -> str:
    """The hash an event should carry, recomputed from its stored content."""
    content = {name: getattr(event, name) for name in (*_HASHED[1:], "request_id")}
    return _digest(_canonical(at=event.at.isoformat(), **content))


def record(
    *,
    action: str,
    actor=None,
    context: AuditContext | None = None,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """Append one event to the chain: who, what, when, which object, from which address."""
    if actor is not None and not actor.is_authenticated:
        actor = None  # an anonymous user is nobody
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(getattr(obj, "public_id", obj.pk))
    details = json.loads(json.dumps(details or {}, default=str))  # store exactly what was hashed
    event = AuditEvent(actor=actor, action=action, object_type=object_type, object_id=object_id, details=details)
    event.actor_username = actor_username or (actor.get_username() if actor is not None else "")
    event.ip_address = (context or SYSTEM).address
    event.request_id = (context or SYSTEM).request_id
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
        # On SQLite every transaction is IMMEDIATE (settings), so it already holds the write lock.
        event.prev_hash = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
        event.at = timezone.now()
        event.hash = event_hash(event)
        event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str = ""
    # From `verify_from_checkpoint`: the checkpoint it started from (`checked` counts the events after it), or
    # None when it checked the whole chain.
    checkpoint: dict[str, Any] | None = None

    def as_details(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_LINK_PROBLEM = "does not link to the event before it (an event was deleted, inserted or reordered)"
_CONTENT_PROBLEM = "content does not match its hash (the event was changed)"


def _iter_rows(chunk: int, after: int = 0, upto: int | None = None) -> Iterator[tuple]:
    # Keyset pages of plain tuples: flat memory, and no model instance per event.
    last = after
    events = AuditEvent.objects.all() if upto is None else AuditEvent.objects.filter(id__lte=upto)
    while True:
        batch = list(
            events.filter(id__gt=last).order_by("id").values_list("id", *_HASHED, "hash", "request_id")[:chunk]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1][0]


@dataclass(frozen=True)
class _Span:
    """The result of checking the events with after < id <= upto; links are checked inside the span only."""

    checked: int
    first_id: int | None
    first_prev_hash: str | None
    last_hash: str | None
    broken_id: int | None = None
    problem: str = ""


def _verify_span(span: tuple[int, int | None], chunk: int) -> _Span:
    # The hash of `_canonical` and `_digest` inlined, with local names: this loop runs once per event.
    key, dumps, sha256 = settings.AUDIT_HMAC_KEY.encode(), _encode, hashlib.sha256
    new, compare = hmac.new, hmac.compare_digest
    prev = first_id = first_prev = None
    checked = 0
    rows = _iter_rows(chunk, *span)
    for event_id, at, actor_id, username, action, otype, oid, ip, details, prev_hash, stored, request in rows:
        if first_id is None:
            first_id, first_prev = event_id, prev_hash
        elif prev_hash != prev:
            return _Span(checked, first_id, first_prev, prev, event_id, _LINK_PROBLEM)
        hashed = [at.isoformat(), actor_id, username, action, otype, oid, ip, details, prev_hash]
        content = dumps(hashed + [request] if request else hashed).encode()
        if not compare(new(key, content, sha256).hexdigest(), stored):
            return _Span(checked, first_id, first_prev, prev, event_id, _CONTENT_PROBLEM)
        prev = stored
        checked += 1
    return _Span(checked, first_id, first_prev, prev)


def _forget_inherited_connections() -> None:
    # A forked child must open its own database connection, never use (or close) the parent's.
    for conn in connections.all(initialized_only=True):
        conn.connection = None


def verify(chunk: int = 10_000, workers: int = 1) -> Verification:
    """Walk the whole chain in id order; report the first event whose link or content is wrong.

    With workers > 1 (PostgreSQL, outside a transaction) the id range is split into spans checked by forked
    processes; the spans are then joined in order, so the answer is the same as walking alone.
    """
    spans: list[tuple[int, int | None]] = [(0, None)]
    # Inside a transaction the children would not see its uncommitted events: walk alone there.
    if workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        bounds = AuditEvent.objects.aggregate(lo=models.Min("id"), hi=models.Max("id"))
        if bounds["lo"] is not None:
            lo, hi = bounds["lo"] - 1, bounds["hi"]
            n = workers * 4  # several spans a worker, so a slow one does not hold up the rest
            cuts = [lo + (hi - lo) * i // n for i in range(n)] + [hi]
            # The last span also takes whatever is appended meanwhile.
            spans = [(cuts[i], cuts[i + 1] if i < n - 1 else None) for i in range(n)]
    check = functools.partial(_verify_span, chunk=chunk)
    if len(spans) > 1:
        connections.close_all()
        fork = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=fork, initializer=_forget_inherited_connections) as pool:
            results = list(pool.map(check, spans))
    else:
        results = [check(spans[0])]
    prev, checked = GENESIS_HASH, 0
    for span in results:
        if span.first_id is None:
            continue
        if span.first_prev_hash != prev:
            return Verification(False, checked, span.first_id, _LINK_PROBLEM)
        if span.broken_id is not None:
            return Verification(False, checked + span.checked, span.broken_id, span.problem)
        checked += span.checked
        prev = span.last_hash
    return Verification(True, checked)


def verify_from_checkpoint(chunk: int = 10_000) -> Verification:
    """Check the chain from the latest stored checkpoint whose signature holds; the whole chain when none does.

    The checkpoint vouches for the events up to it once its event still carries the hash it signed and exactly
    its `length` events lead to that event (a COUNT); then the checkpoint's event and every one after it are
    recomputed and linked as `verify` does. `checked` counts the events after the checkpoint. A change to an
    event before the checkpoint is left to the full check (`manage.py verify_audit`)."""
    anchor, passed_over = anchors.latest_signed()
    if anchor is None:
        return verify(chunk)
    checkpoint = anchors.as_dict(anchor)
    summary = {"id": anchor.pk, **checkpoint, "passed_over": passed_over}
    del summary["signature"]
    problem = anchors.first_problem([checkpoint], where="the latest stored checkpoint")
    if problem is not None:
        return Verification(False, 0, anchor.event_id, problem.text, checkpoint=summary)
    # The span starts at the checkpoint's event (it exists: checked just above), so its content is recomputed
    # and the next event's link to it checked; its own link backwards is what the checkpoint vouches for.
    span = _verify_span((anchor.event_id - 1, None), chunk)
    if span.broken_id is not None:
        return Verification(False, max(span.checked - 1, 0), span.broken_id, span.problem, checkpoint=summary)
    return Verification(True, span.checked - 1, checkpoint=summary)


def record_verification(
    result: Verification,
    *,
    actor=None,
    context: AuditContext | None = None,
    actor_username: str = "",
    via: str = "web",
    **details: Any,
) -> AuditEvent:
    """Append a verification's result as a `verify` event: the auditor page shows the latest one."""
    return record(
        action=AuditEvent.Action.VERIFY,
        actor=actor,
        context=context,
        actor_username=actor_username,
        object_type="audit_log",
        details={**result.as_details(), "via": via, **details},
    )


def verify_and_record(
    *, actor=None, context: AuditContext | None = None, actor_username: str = "", via: str = "web", workers: int = 1
) -> Verification:
    """Verify the chain and append the result as a `verify` event: the auditor page shows the latest one."""
    result = verify(workers=workers)
    record_verification(result, actor=actor, context=context, actor_username=actor_username, via=via)
    return result


def verify_from_checkpoint_and_record(*, actor=None, context: AuditContext | None = None) -> Verification:
    """The auditor page's "Verify now": `verify_from_checkpoint`, its result appended as a `verify` event."""
    result = verify_from_checkpoint()
    record_verification(result, actor=actor, context=context, via="web")
    return result


def last_verification() -> AuditEvent | None:
    """The most recent `verify` event (its details hold the result), or None."""
    return AuditEvent.objects.filter(action=AuditEvent.Action.VERIFY).order_by("-id").first()
