"""The audit-log export (issue 12, DESIGN.md §7): the trail, filtered, as CSV or JSON Lines, each event with its
sequence number, previous hash and hash, and the signed checkpoints in range between them — so a third party
can check the linkage and the signatures with the public key alone (tools/verify_audit_export.py).

Like a record export it is an audit event committed before its first byte, and a second event with its rows
and SHA-256 when the stream ends. Its started event is signed by a checkpoint in the same transaction (the
audit writers' lock is still held, so the checkpoint names exactly that event) and the export stops at that
event: an unfiltered export that runs to today ends on a signed checkpoint of its own last row. The end
event gets a checkpoint too (table only), as every export does.

Pages are keyset windows in id order (never a server-side cursor: PgBouncer-safe); a window also ends at
each checkpoint's event, so a checkpoint row follows the event it signs. On PostgreSQL each window's rows
are made by one `COPY (SELECT …) TO STDOUT` (CSV, or JSON Lines built in SQL, byte for byte as Python makes them);
elsewhere Python writes them. One connection, no threads (as the record exports).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
from django.db import connection, transaction
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from .. import anchors, audit
from ..models import AuditAnchor, AuditEvent, Client, Screening
from ..selectors import DateRange
from .columns import iso
from .writers import FORMULA_START, csv_line, escape_cell, page_settings

logger = logging.getLogger(__name__)

FORMATS = {"csv": "CSV", "jsonl": "JSON Lines"}
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}
NOTICE = "IOP Screening audit-log export"

EVENT_FIELDS = (
    "sequence",
    "at",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "ip_address",
    "details",
    "prev_hash",
    "hash",
)
CHECKPOINT_FIELDS = ("length", "event", "hash", "at", "key_id", "signature")  # anchors.as_dict
CSV_COLUMNS = ("record_type", *EVENT_FIELDS, *(f"checkpoint_{name}" for name in CHECKPOINT_FIELDS))
_READ = ("id", "at", "actor_username", "action", "object_type", "object_id", "ip_address", "details_text")
_READ += ("prev_hash", "hash")
_WINDOW = "{window}"  # where a COPY statement takes its window's SELECT


@dataclass(frozen=True)
class AuditExportFilters:
    """Events within the dates (local days, both included), by one actor (username), of one action, or about
    one client (the client itself or any of its screenings). Only the dates keep the range contiguous."""

    since: dt.date | None = None
    until: dt.date | None = None
    actor: str = ""
    action: str = ""
    client: Client | None = field(default=None, compare=False)

    @property
    def contiguous(self) -> bool:
        """Every event in the range is exported, so a reader can check each link."""
        return not (self.actor or self.action or self.client)

    def as_details(self) -> dict:
        """For the audit event and the file's notice: the client by its public id, never its record number."""
        return {
            "since": self.since and self.since.isoformat(),
            "until": self.until and self.until.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "client": str(self.client.public_id) if self.client else "",
        }

    def dates(self) -> DateRange:
        return DateRange(self.since, self.until)

    def in_dates(self):
        """The events within the dates."""
        r = self.dates()
        within = {"at__gte": r.since, "at__lt": r.until}
        return AuditEvent.objects.order_by().filter(**{k: v for k, v in within.items() if v is not None})

    def events(self):
        """The events the export holds (before the export caps them at its own started event)."""
        events = self.in_dates()
        if self.actor:
            events = events.filter(actor_username=self.actor)
        if self.action:
            events = events.filter(action=self.action)
        if self.client is not None:
            ids = [str(self.client.public_id)]
            ids += [str(p) for p in Screening.objects.filter(client=self.client).values_list("public_id", flat=True)]
            events = events.filter(object_id__in=ids)
        return events


def _checkpoints(filters: AuditExportFilters, upto: int, page: int = 1000) -> Iterator[dict]:
    """The checkpoints whose event is within the dates and at or before `upto`, by event then id, in keyset pages."""
    qs = AuditAnchor.objects.filter(event_id__lte=upto).order_by("event_id", "id")
    if filters.since or filters.until:
        qs = qs.filter(event_id__in=filters.in_dates().values("id"))
    after = Q()
    while batch := list(qs.filter(after)[:page]):
        yield from (anchors.as_dict(a) for a in batch)
        after = Q(event_id__gt=batch[-1].event_id) | Q(event_id=batch[-1].event_id, id__gt=batch[-1].id)


def _rows(window):
    """The window's events as `_READ` (details as its stored JSON text), in id order."""
    return window.annotate(details_text=Cast("details", TextField())).order_by("id").values_list(*_READ)


def _read(window) -> list[tuple]:
    return list(_rows(window))


class CsvWriter:
    """A header, a notice row (the export and its filters, as JSON in `details`), then event and checkpoint rows;
    LF line endings, text cells escaped against formulas."""

    page_size = 5000

    def head(self, notice: dict) -> bytes:
        cells = ["notice", *[""] * len(EVENT_FIELDS), *[""] * len(CHECKPOINT_FIELDS)]
        cells[CSV_COLUMNS.index("details")] = orjson.dumps(notice).decode()
        return (csv_line(CSV_COLUMNS) + csv_line(cells)).encode()

    def page(self, window) -> tuple[bytes, int]:
        tz, esc = timezone.get_current_timezone(), escape_cell
        blank = [""] * len(CHECKPOINT_FIELDS)
        lines = [
            csv_line(
                [
                    "event",
                    str(id_),
                    iso(at, tz),
                    esc(user),
                    action,  # one of AuditEvent.Action (a database constraint)
                    esc(otype),
                    esc(oid),
                    ip or "",
                    details,  # always a JSON object: "{…}"
                    prev,
                    h,
                    *blank,
                ]
            )
            for id_, at, user, action, otype, oid, ip, details, prev, h in _read(window)
        ]
        return "".join(lines).encode(), len(lines)

    def checkpoint(self, c: dict) -> bytes:
        cells = [str(c[name]) for name in CHECKPOINT_FIELDS]
        cells[-1] = escape_cell(cells[-1])  # base64 may start with "+"
        return csv_line(["checkpoint", *[""] * len(EVENT_FIELDS), *cells]).encode()


def _copy_sql() -> str:
    """The twin of `CsvWriter.page`'s cells in SQL, over a window row `p` named as `_READ` (tests compare them)."""
    codes = ", ".join(str(ord(c)) for c in FORMULA_START)  # ascii() reads the first character without a copy

    def text(name: str) -> str:
        return f"CASE WHEN ascii(p.{name}) IN ({codes}) THEN '''' || p.{name} ELSE NULLIF(p.{name}, '') END"

    cells = [
        "'event'",
        "p.id",
        """to_char(p.at, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM')""",
        text("actor_username"),
        "p.action",
        text("object_type"),
        text("object_id"),
        "p.ip_address",
        "p.details_text",
        "p.prev_hash",
        "p.hash",
        *["NULL"] * len(CHECKPOINT_FIELDS),
    ]
    # Cells and names come from code; the window's SELECT is Django's, its values bound by mogrify.
    return f"COPY (SELECT {', '.join(cells)} FROM ({_WINDOW}) AS p({', '.join(_READ)}) ORDER BY p.id) TO STDOUT (FORMAT csv)"  # nosec B608


def _copy(copy: str, window) -> tuple[bytes, int]:
    """One window through a COPY statement (`_WINDOW` in it: the window's SELECT), called inside the window's transaction
    with the program's time zone set for it; the bytes and the rows."""
    sql, params = _rows(window).query.sql_with_params()
    buf = io.BytesIO()
    with page_settings(copy=True), connection.cursor() as cursor:
        cursor.copy_expert(copy.replace(_WINDOW, cursor.mogrify(sql, params).decode(), 1), buf)
        return buf.getvalue(), cursor.rowcount


class CopyCsvWriter(CsvWriter):
    """The CSV on PostgreSQL: each window is one COPY on this connection, in the program's time zone."""

    page_size = 20000
    copy = _copy_sql()

    def page(self, window) -> tuple[bytes, int]:
        return _copy(self.copy, window)


class JsonlWriter:
    """A notice line (the export and its filters), then one JSON object per event or checkpoint."""

    page_size = 5000

    def head(self, notice: dict) -> bytes:
        return orjson.dumps({"record_type": "notice", **notice}) + b"\n"

    def page(self, window) -> tuple[bytes, int]:
        tz, dumps, fragment = timezone.get_current_timezone(), orjson.dumps, orjson.Fragment
        lines = [
            dumps(
                {
                    "record_type": "event",
                    "sequence": id_,
                    "at": iso(at, tz),
                    "actor_username": user,
                    "action": action,
                    "object_type": otype,
                    "object_id": oid,
                    "ip_address": ip,
                    "details": fragment(details),  # the stored JSON, as it is
                    "prev_hash": prev,
                    "hash": h,
                }
            )
            for id_, at, user, action, otype, oid, ip, details, prev, h in _read(window)
        ]
        return b"\n".join(lines) + b"\n" if lines else b"", len(lines)

    def checkpoint(self, c: dict) -> bytes:
        return orjson.dumps({"record_type": "checkpoint", **c}) + b"\n"


def _copy_jsonl_sql() -> str:
    """The twin of `JsonlWriter.page`'s lines in SQL, byte for byte (tests compare them): the same keys in the same
    order, strings escaped by to_json as orjson escapes them, `details` as stored. One concat(), not `||` after
    `||`, which copies the growing line at each step."""

    def string(expr: str) -> str:
        return f"COALESCE(to_json({expr})::text, 'null')"

    parts = [
        """'{"record_type":"event","sequence":'""",
        "p.id",
        """',"at":"'""",
        """to_char(p.at, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM')""",
        """'","actor_username":'""",
        string("p.actor_username"),
        """',"action":"'""",
        "p.action",  # one of AuditEvent.Action (a database constraint): letters and underscores
        """'","object_type":'""",
        string("p.object_type"),
        """',"object_id":'""",
        string("p.object_id"),
        """',"ip_address":'""",
        # An address's text is digits, hex letters, dots and colons: quoted as it is, with no escaping to look for.
        """COALESCE('"' || host(p.ip_address) || '"', 'null')""",
        """',"details":'""",
        "p.details_text",
        """',"prev_hash":"'""",
        "p.prev_hash",
        """'","hash":"'""",
        "p.hash",
        """'"}'""",
    ]
    # CSV format with a quote and a delimiter that JSON text never holds (it escapes every control character):
    # COPY writes each line as it is, with no escaping to undo. Names come from code; the window's values are
    # bound by mogrify.
    select = f"SELECT concat({', '.join(parts)}) FROM ({_WINDOW}) AS p({', '.join(_READ)}) ORDER BY p.id"  # nosec B608
    return f"COPY ({select}) TO STDOUT (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"


class CopyJsonlWriter(JsonlWriter):
    """JSON Lines on PostgreSQL: each window's lines made by one COPY, in the program's time zone."""

    page_size = 20000
    copy = _copy_jsonl_sql()

    def page(self, window) -> tuple[bytes, int]:
        return _copy(self.copy, window)


def writer_for(fmt: str):
    """PostgreSQL's COPY writes the lines there (several times faster than Python); Python elsewhere."""
    postgres = connection.vendor == "postgresql"
    if fmt == "csv":
        return CopyCsvWriter() if postgres else CsvWriter()
    return CopyJsonlWriter() if postgres else JsonlWriter()


@dataclass
class AuditLogExport:
    """One export of the audit log. `start()` writes its started event and a checkpoint of it, committed, before
    any byte (if that fails, nothing is sent); `stream()` yields the bytes; an end event (events, checkpoints,
    bytes, SHA-256, outcome) and a checkpoint of it are written when the stream ends."""

    fmt: str
    filters: AuditExportFilters
    actor: object = None
    context: audit.AuditContext | None = None
    actor_username: str = ""
    via: str = "web"
    page: int | None = None

    def __post_init__(self):
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown format {self.fmt!r}")
        self.export_id = uuid.uuid4()
        self.started: AuditEvent | None = None
        self.event: AuditEvent | None = None

    @property
    def filename(self) -> str:
        return f"audit-log-{timezone.localdate():%Y%m%d}-{str(self.export_id)[:8]}.{self.fmt}"

    def _record(self, **details) -> AuditEvent:
        return audit.record(
            action=AuditEvent.Action.EXPORT,
            actor=self.actor,
            context=self.context,
            actor_username=self.actor_username,
            object_type="audit_log",
            object_id=str(self.export_id),
            details={
                "export_id": str(self.export_id),
                "format": self.fmt,
                "filters": self.filters.as_details(),
                "via": self.via,
                **details,
            },
        )

    def start(self) -> AuditEvent:
        """The started event and its checkpoint in one committed transaction, before any byte. The writers' lock
        that `audit.record` takes is held to the commit, so the checkpoint signs exactly the started event; if
        either cannot be written, neither is, and nothing is sent."""
        with transaction.atomic(durable=True):
            self.started = self._record(phase="started")
            anchors.checkpoint()
        return self.started

    def notice(self) -> dict:
        return {
            "notice": NOTICE,
            "export_id": str(self.export_id),
            "filters": self.filters.as_details(),
            "contiguous": self.filters.contiguous,
            "through_event": self.started.pk,
            "columns": list(EVENT_FIELDS),
            "checkpoint_columns": list(CHECKPOINT_FIELDS),
        }

    def steps(self, size: int) -> Iterator[dict | QuerySet]:
        """Windows of events (querysets) and checkpoints (dicts) in file order: windows in id order from the first
        event exported, each a range of `size` ids (fewer events where ids were skipped or filtered out) cut short
        at the next checkpoint's event, which follows it. Memory stays bounded with no query to find where a
        window ends."""
        upto = self.started.pk
        events = self.filters.events().filter(id__lte=upto)
        pending = _checkpoints(self.filters, upto)
        nxt = next(pending, None)
        first = events.order_by("id").values_list("id", flat=True).first()
        last = upto if first is None else first - 1
        while True:
            while nxt is not None and nxt["event"] <= last:
                yield nxt
                nxt = next(pending, None)
            if last >= upto:
                return
            end = min(last + size, upto if nxt is None else nxt["event"])
            yield events.filter(id__gt=last, id__lte=end)
            last = end

    def pieces(self, writer) -> Iterator[tuple[bytes, int, int]]:
        """(bytes, events, checkpoints): the head, then each step, every window in its own transaction on this
        one connection (no threads, no second connection: as the record exports, PgBouncer-safe)."""
        yield writer.head(self.notice()), 0, 0
        for step in self.steps(self.page or writer.page_size):
            if isinstance(step, dict):
                yield writer.checkpoint(step), 0, 1
                continue
            with transaction.atomic():
                piece, n = writer.page(step)
            if piece:
                yield piece, n, 0

    def stream(self) -> Iterator[bytes]:
        if self.started is None:
            self.start()
        sha, rows, checkpoints, size, outcome = hashlib.sha256(), 0, 0, 0, "failed"
        try:
            for piece, n, c in self.pieces(writer_for(self.fmt)):
                sha.update(piece)
                size += len(piece)
                rows, checkpoints = rows + n, checkpoints + c
                yield piece
            outcome = "completed"
        except GeneratorExit:
            outcome = "cut_short"
            raise
        finally:
            self.event = self._record(
                phase=outcome,
                outcome=outcome,
                started_event=self.started.pk,
                rows=rows,
                checkpoints=checkpoints,
                bytes=size,
                sha256=sha.hexdigest(),
            )
            try:  # a checkpoint after every export (DESIGN.md §7), never in the way of the end event
                anchors.checkpoint()
            except Exception:
                logger.exception("audit-log export %s: no checkpoint was made after it", self.export_id)
