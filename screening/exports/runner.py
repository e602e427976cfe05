"""One export from start to end: audited before the first byte, disclosures noted page by page (DESIGN.md §7)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from .. import anchors, audit
from ..models import AuditEvent, ExportDisclosure, ExportRun, Screening
from ..selectors import DateRange
from .columns import Row
from .writers import CopyCsvWriter, CsvWriter, FhirWriter, JsonlWriter, page_settings

logger = logging.getLogger(__name__)

FORMATS = {"csv": "CSV", "jsonl": "JSON Lines", "fhir": "FHIR R4 Bundle (JSON)"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
    "fhir": "application/fhir+json; charset=utf-8",
}
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "fhir": "json"}
WRITERS = {"csv": CsvWriter, "jsonl": JsonlWriter, "fhir": FhirWriter}


@dataclass(frozen=True)
class ExportFilters:
    """Completed or signed screenings created within the dates (inclusive, local days)."""

    since: dt.date | None = None
    until: dt.date | None = None

    def as_details(self) -> dict:
        return {"since": self.since and self.since.isoformat(), "until": self.until and self.until.isoformat()}


def export_queryset(filters: ExportFilters):
    return Screening.objects.completed_or_signed().created_in(DateRange(filters.since, filters.until)).order_by()


def writer_class(fmt: str, deidentified: bool):
    """PostgreSQL's COPY writes the identified CSV; the pseudonym key of a de-identified one never enters SQL."""
    if fmt == "csv" and not deidentified and connection.vendor == "postgresql":
        return CopyCsvWriter
    return WRITERS[fmt]


def note_disclosures(run: ExportRun, window) -> None:
    """Note the clients of one page as disclosed: one statement with the page's own WHERE."""
    sql, params = window.values("client_id").query.sql_with_params()
    # The table name is the model's; the page's WHERE is Django's compiled SQL, its values parameters.
    # "WHERE true" lets SQLite tell ON CONFLICT from a join constraint.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ExportDisclosure._meta.db_table} (export_id, client_id) "  # nosec B608
            f"SELECT DISTINCT %s, u.client_id FROM ({sql}) u WHERE true ON CONFLICT DO NOTHING",
            [run.pk, *params],
        )


@dataclass
class ExportRunner:
    """One export. `start()` notes it and writes its `started` audit event, committed, before any byte is
    made (if that fails, nothing is sent); `stream()` yields the bytes, a keyset page at a time, each page's
    clients noted as disclosed in the page's transaction before it leaves; an end event (rows, bytes,
    SHA-256, outcome) is written when the stream ends. An export whose process or database went away
    mid-stream keeps its started event and no end: it shows as interrupted."""

    fmt: str
    deidentified: bool
    filters: ExportFilters
    actor: object = None
    context: audit.AuditContext | None = None
    actor_username: str = ""
    via: str = "web"
    page: int | None = None  # screenings per page; by default the writer's

    def __post_init__(self):
        if self.fmt not in WRITERS:
            raise ValueError(f"unknown format {self.fmt!r}")
        self.export_id = uuid.uuid4()
        self.run: ExportRun | None = None
        self.started: AuditEvent | None = None
        self.event: AuditEvent | None = None

    @property
    def filename(self) -> str:
        kind = "deidentified" if self.deidentified else "identified"
        return f"screenings-{kind}-{timezone.localdate():%Y%m%d}-{str(self.export_id)[:8]}.{EXTENSIONS[self.fmt]}"

    def _record(self, **details) -> AuditEvent:
        run = self.run
        return audit.record(
            action=AuditEvent.Action.EXPORT,
            actor=run.actor,
            context=self.context,
            actor_username=run.actor_username,
            obj=run,
            object_type="export",
            details={
                "export_id": str(self.export_id),
                "format": self.fmt,
                "deidentified": self.deidentified,
                "filters": self.filters.as_details(),
                "via": self.via,
                **details,
            },
        )

    def start(self) -> AuditEvent:
        """Note the export and write its started event in one committed transaction, before any byte."""
        actor = self.actor if self.actor is not None and self.actor.is_authenticated else None
        with transaction.atomic(durable=True):  # committed here, never a savepoint of a caller's transaction
            self.run = ExportRun.objects.create(
                public_id=self.export_id,
                actor=actor,
                format=self.fmt,
                deidentified=self.deidentified,
                actor_username=self.actor_username or (actor.get_username() if actor is not None else ""),
            )
            self.started = self._record(phase="started")
            ExportRun.objects.filter(pk=self.run.pk).update(started_event=self.started)
        return self.started

    def pieces(self, writer) -> Iterator[tuple[bytes, int]]:
        """The head, then pages in id order (no server-side cursor), each read and noted in one transaction
        before it leaves, then the tail. A page is a range of `size` ids between the first and last exported
        (fewer screenings where ids are drafts or filtered out): memory stays bounded with no query to find
        where a page ends, which cost a tenth of a page's time at 1,000,000 rows."""
        yield writer.head(), 0
        qs, size = export_queryset(self.filters), self.page or writer.page_size
        bounds = qs.aggregate(first=Min("id"), last=Max("id"))
        if bounds["first"] is not None:
            for low in range(bounds["first"] - 1, bounds["last"], size):
                window = qs.filter(id__gt=low, id__lte=low + size)
                with transaction.atomic(), page_settings(copy=isinstance(writer, CopyCsvWriter)):
                    piece = writer.page(window)
                    note_disclosures(self.run, window)
                yield piece
        yield writer.tail(), 0

    def stream(self) -> Iterator[bytes]:
        if self.started is None:
            self.start()
        sha, rows, size, outcome = hashlib.sha256(), 0, 0, "failed"
        try:
            writer = writer_class(self.fmt, self.deidentified)(Row(self.deidentified), self.export_id)
            for piece, n in self.pieces(writer):
                if not piece:
                    continue
                # Counted as it is handed on: a download cut short while this piece was on its way is
                # over-reported (like its disclosures), never under-reported.
                sha.update(piece)
                size += len(piece)
                rows += n
                yield piece
            outcome = "completed"
        except GeneratorExit:
            outcome = "cut_short"
            raise
        finally:
            with transaction.atomic():  # the end event and the run's link to it, together
                self.event = self._record(
                    phase=outcome,
                    outcome=outcome,
                    started_event=self.started.pk,
                    rows=rows,
                    bytes=size,
                    sha256=sha.hexdigest(),
                )
                ExportRun.objects.filter(pk=self.run.pk).update(event=self.event)
            try:  # a checkpoint after every export (DESIGN.md §7), never in the way of the export's own outcome
                anchors.checkpoint()
            except Exception:
                logger.exception("export %s: no checkpoint of the audit chain was made after it", self.export_id)
