"""Streaming exports of screening records: CSV, JSON Lines and a FHIR R4 Bundle (issue 5, DESIGN.md §8).

One row builder feeds the three writers. Rows are read in keyset pages of plain tuples
(`values_list`), so memory stays flat however many screenings there are; each page becomes one
encoded piece of output. `stream_export` wraps a writer: it records which clients each page
contained (accounting of disclosures) before sending it, hashes exactly the bytes handed on, and
when the stream ends — finished, cut short or failed — appends the export to the audit log.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import queue
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, InterfaceError, connection, transaction
from django.db.models import Max, Min
from django.db.models.expressions import RawSQL
from django.utils import timezone

from . import answers, audit, fhir, rules
from .deidentify import AGE_CAP, AGE_CAP_LABEL, Pseudonymizer, age_on, safe_age, safe_birth_year
from .models import AuditEvent, ExportDisclosure, ExportRun, RiskSummary, Screening
from .notices import REDISCLOSURE_NOTICE
from .selectors import DateRange

FORMATS = {"csv": "CSV", "jsonl": "JSON Lines", "fhir": "FHIR R4 Bundle (JSON)"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
    "fhir": "application/fhir+json; charset=utf-8",
}
EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "fhir": "json"}
PAGE = 2000


# Cells a spreadsheet would read as a formula (OWASP "CSV injection"; tab and CR included).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """Prefix a formula-looking text cell with an apostrophe so spreadsheets show it as text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def text_cell(value: str | None) -> str:
    """A CSV cell of text someone typed: formula-escaped, then quoted if it holds a comma, quote or line break.

    RFC 4180 quoting, by the same rule wherever the cell sits in the row (`_pg_text_cell` is its SQL twin).
    """
    if not value:
        return ""
    value = escape_cell(value)
    return '"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value


# --- What is read: one tuple per screening, in this order.
_HEAD = (
    "id",
    "client_id",
    "public_id",
    "client__public_id",
    "client__record_number",
    "client__given_name",
    "client__family_name",
    "client__date_of_birth",
    "amends__public_id",
    "amends_id",
    "status",
    "created_at",
    "completed_at",
    "decided_at",
    "signed_at",
    "clinician_id",
    "decided_by_id",
    "signed_by_id",
    "override_text",
    "recommendation",
    "rules_version",
    # The six-domain ratings, from the summary beside the record (RiskSummary), in rules.Domain order.
    *(f"risk_summary__{d.value}" for d in rules.Domain),
)
(
    _ID,
    _CLIENT,
    _PUBLIC,
    _CPUBLIC,
    _RECNO,
    _GIVEN,
    _FAMILY,
    _DOB,
    _AMENDS_PUBLIC,
    _AMENDS,
    _STATUS,
    _CREATED,
    _COMPLETED,
    _DECIDED,
    _SIGNED,
    _CLIN,
    _DEC_BY,
    _SIG_BY,
    _OVR_TEXT,
    _REC,
    _RULES,
    _DOMAIN0,
    *_,
) = range(len(_HEAD))
_DOMAINS = slice(_DOMAIN0, _DOMAIN0 + len(rules.Domain))
_SUBSTANCE_INPUT, _DSM5_INPUT = (answers.INPUTS[name] for name in answers.MULTI_ANSWERS)
_SUBSTANCES = _SUBSTANCE_INPUT.columns
_DSM5 = _DSM5_INPUT.columns
# The answers of DESIGN.md §2 that are one column each (the C-SSRS object's questions included), in §2 order;
# then item answers and decision codes.
_ANSWERS = tuple(
    column
    for a in answers.ANSWERS.values()
    if a.name not in answers.MULTI_ANSWERS
    for column in ((a.column,) if a.column else tuple(i.name for i in a.inputs))
)
_ITEMS = answers.ITEM_COLUMNS
_CODES = ("recommended_level", "decision", "final_level", "override_reason")
# Columns written as they are stored: numbers, booleans and closed code lists (CheckConstraints), so
# they never need CSV quoting or formula escaping. The CSV writer has the database format them.
_PLAIN = (*_ANSWERS, *_ITEMS, *_CODES)
FIELDS = (*_HEAD, *_SUBSTANCES, *_DSM5, *_PLAIN)
_S0 = len(_HEAD)
_D0 = _S0 + len(_SUBSTANCES)
_P0 = _D0 + len(_DSM5)
_SUBSTANCE_CODES = tuple(code for code, _ in _SUBSTANCE_INPUT.choices)
_DSM5_CODES = tuple(code for code, _ in _DSM5_INPUT.choices)
# Choice answers stored as "" when unanswered; typed output gives null.
_BLANK_AS_NULL = {
    *(answers.ANSWER_OF_COLUMN[i.name] for i in answers.INPUTS.values() if i.kind is answers.Kind.CHOICE),
    *_CODES,
}
BAND_KEYS = answers.BAND_KEYS


def _answer_name(field: str) -> str:
    return answers.ANSWER_OF_COLUMN.get(field, field)


# --- What is written: the column names, identified and de-identified.
IDENTITY_COLUMNS = (
    "screening_id",
    "client_id",
    "record_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "age_at_screening",
    "amends",
    "status",
    "created_at",
    "completed_at",
    "decided_at",
    "signed_at",
)
DEIDENTIFIED_IDENTITY_COLUMNS = (
    "screening_ref",
    "person",
    "birth_year",
    "age_at_screening",
    "amends_ref",
    "status",
    "created_year",
    "signed_year",
)
PLAIN_COLUMNS = ("substances", "dsm5_criteria", *(_answer_name(f) for f in _ANSWERS), *_ITEMS, *_CODES)
DOMAIN_COLUMNS = tuple(f"domain_{d.value}" for d in rules.Domain)
SUMMARY_COLUMNS = ("rules_version", *(f"band_{k}" for k in BAND_KEYS), "flags", "pathway", "reasons", *DOMAIN_COLUMNS)
STAFF_COLUMNS = ("override_text", "clinician", "decided_by", "signed_by")
# Text that people typed (not a closed code list): the cells CSV escaping must cover.
FREE_TEXT_COLUMNS = ("record_number", "given_name", "family_name", *STAFF_COLUMNS)


def columns(deidentified: bool) -> tuple[str, ...]:
    if deidentified:
        return (*DEIDENTIFIED_IDENTITY_COLUMNS, *PLAIN_COLUMNS, *SUMMARY_COLUMNS)
    return (*IDENTITY_COLUMNS, *PLAIN_COLUMNS, *SUMMARY_COLUMNS, *STAFF_COLUMNS)


def _iso(value: dt.datetime | None, tz) -> str | None:
    """ISO 8601 in the program's time zone, with its offset: the time the screens show, unambiguous."""
    return value.astimezone(tz).isoformat() if value is not None else None


class Usernames(dict):
    """User id → username, loaded a page at a time and kept (there are few staff, many screenings)."""

    def load(self, page: list[tuple], positions=(_CLIN, _DEC_BY, _SIG_BY)) -> None:
        missing = {r[i] for r in page for i in positions if r[i] is not None} - self.keys()
        if missing:
            self.update(get_user_model().objects.filter(id__in=missing).values_list("id", "username"))


class RowBuilder:
    """Turns one `FIELDS` tuple into the typed values of `columns(deidentified)`, in order.

    `head` and `tail` give the cells around the plain block, which the CSV writer takes from the
    database already formatted; `__call__` gives the whole typed row (JSON Lines, FHIR).
    """

    def __init__(self, deidentified: bool, pseudonymize: Pseudonymizer | None = None):
        self.deidentified = deidentified
        self.pseudonymize = pseudonymize or Pseudonymizer()
        self.columns = columns(deidentified)
        self.usernames = Usernames()
        self._tz = timezone.get_current_timezone()
        self._blank_positions = tuple(i for i, name in enumerate(self.columns) if name in _BLANK_AS_NULL)

    def head(self, row: tuple) -> list:
        created = row[_CREATED]
        dob = row[_DOB]
        day = created.astimezone(self._tz).date()  # the program's local day, as the date filters count
        age = age_on(dob, day)
        if self.deidentified:
            p = self.pseudonymize
            signed = row[_SIGNED]
            return [
                p("screening", row[_ID]),
                p("person", row[_CLIENT]),
                safe_birth_year(dob, age),
                safe_age(age),
                p("screening", row[_AMENDS]) if row[_AMENDS] is not None else None,
                row[_STATUS],
                day.year,
                signed.astimezone(self._tz).year if signed is not None else None,
            ]
        return [
            str(row[_PUBLIC]),
            str(row[_CPUBLIC]),
            row[_RECNO],
            row[_GIVEN],
            row[_FAMILY],
            dob.isoformat(),
            age,
            str(row[_AMENDS_PUBLIC]) if row[_AMENDS_PUBLIC] is not None else None,
            row[_STATUS],
            _iso(created, self._tz),
            _iso(row[_COMPLETED], self._tz),
            _iso(row[_DECIDED], self._tz),
            _iso(row[_SIGNED], self._tz),
        ]

    def tail(self, row: tuple) -> list:
        rec = row[_REC] or {}
        bands = rec.get("bands") or {}
        out = [
            row[_RULES],
            *(bands.get(k) for k in BAND_KEYS),
            list(rec.get("flags", ())),
            list(rec.get("pathway", ())),
            [r["code"] for r in rec.get("reasons", ())],
            *row[_DOMAINS],
        ]
        if not self.deidentified:
            out += self.staff(row)
        return out

    def staff(self, row: tuple) -> list:
        names = self.usernames
        return [row[_OVR_TEXT], names.get(row[_CLIN]), names.get(row[_DEC_BY]), names.get(row[_SIG_BY])]

    def plain(self, row: tuple) -> list:
        return [
            [c for c, v in zip(_SUBSTANCE_CODES, row[_S0:_D0], strict=True) if v],
            [c for c, v in zip(_DSM5_CODES, row[_D0:_P0], strict=True) if v],
            *row[_P0:],
        ]

    def __call__(self, row: tuple) -> list:
        out = self.head(row) + self.plain(row) + self.tail(row)
        for i in self._blank_positions:
            if out[i] == "":
                out[i] = None
        return out


def _summary_sql(vendor: str, rec: str) -> list[str]:
    """The rules output's bands, flags, pathway and reason codes, read from the stored JSON by the database."""
    if vendor == "postgresql":
        band = "COALESCE({rec}->'bands'->>'{k}', '')"
        # A jsonb array of codes prints as ["a", "b"]: drop the brackets and quotes, join with ";". Codes are
        # closed lists of lower-case words (rules.py), so this is exact, and three times faster than
        # unnesting each array in a subquery (measured while profiling the export).
        listed = "COALESCE(replace(translate(({rec}->'{k}')::text, '[]\"', ''), ', ', ';'), '')"
        reasons = (
            "COALESCE(replace(translate(jsonb_path_query_array({rec}, '$.reasons[*].code')::text, '[]\"', ''), "
            "', ', ';'), '')"
        )
    else:  # SQLite's JSON1
        band = "COALESCE(json_extract({rec}, '$.bands.{k}'), '')"
        listed = (
            "COALESCE((SELECT group_concat(value, ';') FROM "
            "(SELECT value FROM json_each({rec}, '$.{k}') ORDER BY key)), '')"
        )
        reasons = (
            "COALESCE((SELECT group_concat(json_extract(value, '$.code'), ';') FROM "
            "(SELECT value FROM json_each({rec}, '$.reasons') ORDER BY key)), '')"
        )
    return [
        *(band.format(rec=rec, k=k) for k in BAND_KEYS),
        listed.format(rec=rec, k="flags"),
        listed.format(rec=rec, k="pathway"),
        reasons.format(rec=rec),
    ]


def _plain_sql(vendor: str) -> str:
    """SQL text of the plain and summary columns of one row, the way the CSV writer formats them.

    Numbers, booleans, codes and the rules output never need CSV quoting or formula escaping, so the
    database can format them: one string per row instead of a hundred Python objects.
    """
    fields = {f.attname: f for f in Screening._meta.concrete_fields}
    table = Screening._meta.db_table

    def col(name: str) -> str:
        return f'"{table}"."{fields[name].column}"'

    def listed(names, codes) -> str:
        parts = " || ".join(f"(CASE WHEN {col(n)} THEN '{c};' ELSE '' END)" for n, c in zip(names, codes, strict=True))
        return f"RTRIM({parts}, ';')"

    cells = [listed(_SUBSTANCES, _SUBSTANCE_CODES), listed(_DSM5, _DSM5_CODES)]
    for name in _PLAIN:
        kind = fields[name].get_internal_type()
        if kind == "BooleanField":
            cells.append(f"(CASE WHEN {col(name)} THEN 'true' WHEN NOT {col(name)} THEN 'false' ELSE '' END)")
        elif kind == "CharField":
            cells.append(col(name))
        else:
            cells.append(f"COALESCE(CAST({col(name)} AS TEXT), '')")
    cells.append(col("rules_version"))
    cells.extend(_summary_sql(vendor, col("recommendation")))
    # The six-domain ratings from the summary beside the record: one indexed lookup per row, no join, so the
    # CSV's SQL reads the same rows whatever else the query joins.
    summary = RiskSummary._meta.db_table
    ratings = " || ',' || ".join(f'CAST(r."{d.value}" AS TEXT)' for d in rules.Domain)
    empty = "," * (len(rules.Domain) - 1)
    cells.append(f'COALESCE((SELECT {ratings} FROM "{summary}" r WHERE r."screening_id" = {col("id")}), \'{empty}\')')
    return " || ',' || ".join(cells)


# --- Which screenings: completed or signed, created within the dates (inclusive, local days).


@dataclass(frozen=True)
class ExportFilters:
    since: dt.date | None = None
    until: dt.date | None = None

    def as_details(self) -> dict:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def export_queryset(filters: ExportFilters):
    return Screening.objects.completed_or_signed().created_in(DateRange(filters.since, filters.until)).order_by()


def iter_pages(qs, fields, page: int = PAGE) -> Iterator[list[tuple]]:
    """Keyset pages of tuples in id order: one page in memory at a time. `fields[0]` must be "id"."""
    if "plain_csv" in fields:
        qs = qs.annotate(plain_csv=RawSQL(_plain_sql(connection.vendor), ()))
    last = 0
    while True:
        rows = list(qs.filter(id__gt=last).order_by("id").values_list(*fields)[:page])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


# --- Writers: each yields (bytes, rows in those bytes).


def _csv_head_piece(cols, export_id: uuid.UUID) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # LF, as PostgreSQL's COPY writes
    # A BOM so spreadsheets read UTF-8; the notice is the first line, then the header row.
    buf.write("\ufeff")
    writer.writerow([f"NOTICE (42 CFR Part 2): {REDISCLOSURE_NOTICE} Export {export_id}."])
    writer.writerow(cols)
    return buf.getvalue().encode()


def write_csv(pages: Iterator[list[tuple]], build: RowBuilder, export_id: uuid.UUID) -> Iterator[tuple[bytes, int]]:
    """CSV a page at a time: identity cells from Python, the plain block as the database formatted it."""
    cols = build.columns
    n_head = len(IDENTITY_COLUMNS if not build.deidentified else DEIDENTIFIED_IDENTITY_COLUMNS)
    head_text = {i for i, c in enumerate(cols[:n_head]) if c in FREE_TEXT_COLUMNS}
    yield _csv_head_piece(cols, export_id), 0
    for page in pages:
        build.usernames.load(page)
        lines = []
        for r in page:
            head = ",".join(
                text_cell(v) if i in head_text else ("" if v is None else str(v)) for i, v in enumerate(build.head(r))
            )
            if build.deidentified:
                lines.append(f"{head},{r[-1]}\n")
            else:
                staff = ",".join(text_cell(v) for v in build.staff(r))
                lines.append(f"{head},{r[-1]},{staff}\n")
        yield "".join(lines).encode(), len(page)


# --- CSV on PostgreSQL: the database writes whole lines, a page of them as one string, and notes the page's
# clients in the same statement. The same bytes as `write_csv` (tests/test_exports.py compares them), without
# a Python object per cell: at a million rows this is what keeps the export near `COPY`.

_STAFF_RELATIONS = ("clinician", "decided_by", "signed_by")
# What `_HEAD` reads for the identity and staff cells, the staff as usernames (the database writes them).
_PG_IDENTIFIED_FIELDS = (
    *_HEAD[:_AMENDS],
    *_HEAD[_STATUS:_CLIN],
    _HEAD[_OVR_TEXT],
    *(f"{r}__username" for r in _STAFF_RELATIONS),
)
# De-identified: the database is not even asked for names, record numbers, public ids or free text.
_PG_DEIDENTIFIED_FIELDS = ("id", "client_id", "client__date_of_birth", "amends_id", "status", "created_at", "signed_at")
_TZ_NAME = re.compile(r"[A-Za-z0-9_+\-/]+")


def _pg_text_cell(col: str) -> str:
    """SQL twin of `text_cell`."""
    escaped = f"(CASE WHEN left({col}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || {col} ELSE {col} END)"
    quoted = f"""'"' || replace({escaped}, '"', '""') || '"'"""
    return f"""(CASE WHEN {col} IS NULL OR {col} = '' THEN '' WHEN {col} ~ '[",\\r\\n]' THEN {quoted} ELSE {escaped} END)"""


def _pg_iso(col: str, tz_name: str) -> str:
    """SQL twin of `_iso`: local time in `tz_name`, microseconds only when not zero, then the UTC offset then."""
    local = f"({col} AT TIME ZONE '{tz_name}')"
    offset = f"EXTRACT(EPOCH FROM ({local} - ({col} AT TIME ZONE 'UTC')))::int"
    sign = f"CASE WHEN {offset} < 0 THEN '-' ELSE '+' END"
    hours = f"lpad((abs({offset}) / 3600)::text, 2, '0')"
    minutes = f"lpad((abs({offset}) % 3600 / 60)::text, 2, '0')"
    return (
        f"""COALESCE(to_char({local}, 'YYYY-MM-DD"T"HH24:MI:SS') """
        f"""|| CASE WHEN to_char({local}, 'US') = '000000' THEN '' ELSE to_char({local}, '.US') END """
        f"""|| {sign} || {hours} || ':' || {minutes}, '')"""
    )


def _pg_line(build: RowBuilder, tz_name: str) -> str | tuple[str, str]:
    """SQL of a CSV line over a page row `p`, its local day `l.day` and the age then, `a.years`.

    De-identified, the pseudonyms are made in Python (`_deidentified_lines`): the export's key never goes
    into SQL text, which PostgreSQL's and Django's logs can record. So the database gives the cells between
    and after them: (birth year and age, the rest of the line).
    """

    def c(name: str) -> str:
        return f'p."{name}"'

    dob = c("client__date_of_birth")
    if build.deidentified:
        between = [
            f"(CASE WHEN a.years >= {AGE_CAP} THEN '' ELSE date_part('year', {dob})::int::text END)",
            f"(CASE WHEN a.years >= {AGE_CAP} THEN '{AGE_CAP_LABEL}' ELSE a.years::text END)",
        ]
        after = [
            c("status"),
            "date_part('year', l.day)::int::text",
            f"COALESCE(date_part('year', {c('signed_at')} AT TIME ZONE '{tz_name}')::int::text, '')",
            c("plain_csv"),
        ]
        return " || ',' || ".join(between), " || ',' || ".join(after) + " || E'\\n'"
    cells = [
        f"{c('public_id')}::text",
        f"{c('client__public_id')}::text",
        *(_pg_text_cell(c(f"client__{n}")) for n in ("record_number", "given_name", "family_name")),
        f"to_char({dob}, 'YYYY-MM-DD')",
        "a.years::text",
        f"COALESCE({c('amends__public_id')}::text, '')",
        c("status"),
        *(_pg_iso(c(n), tz_name) for n in ("created_at", "completed_at", "decided_at", "signed_at")),
        c("plain_csv"),
        *(_pg_text_cell(c(n)) for n in ("override_text", *(f"{r}__username" for r in _STAFF_RELATIONS))),
    ]
    return " || ',' || ".join(cells) + " || E'\\n'"


def _deidentified_lines(rows: list[tuple], pseudonymize: Pseudonymizer) -> str:
    """De-identified CSV lines from (id, client id, amended id, birth year and age, rest of the line)."""
    p = pseudonymize
    return "".join(
        f"{p('screening', i)},{p('person', client)},{between},{p('screening', amends) if amends is not None else ''},{after}"
        for i, client, amends, between, after in rows
    )


@functools.lru_cache(maxsize=8)
def _postgresql_reads_zone(name: str) -> bool:
    """Whether PostgreSQL's `AT TIME ZONE` reads `name` as the IANA zone Python's zoneinfo reads.

    PostgreSQL tries abbreviations first: 'CET' is a fixed +01:00 there but follows summer time in
    zoneinfo. Such names (UTC aside) leave the CSV to Python.
    """
    if not _TZ_NAME.fullmatch(name):  # the name is written into SQL text
        return False
    if name == "UTC":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = %s), "
            "EXISTS (SELECT 1 FROM pg_timezone_abbrevs WHERE lower(abbrev) = lower(%s))",
            [name, name],
        )
        is_zone, is_abbreviation = cursor.fetchone()
    return is_zone and not is_abbreviation


def database_writes_csv() -> bool:
    """Whether the database formats CSV exports itself (PostgreSQL); elsewhere `write_csv` does."""
    return connection.vendor == "postgresql" and _postgresql_reads_zone(timezone.get_current_timezone_name())


class _PageStatement:
    """The prepared page statement on the calling thread's connection: `run(first, end)` → its rows.

    A page is the screenings with `first <= id < end`. The statement notes the page's clients as
    disclosed before it returns the page's lines (in autocommit, that note is committed first).
    """

    def __init__(self, name: str, body: str):
        self.name, self.body = name, body

    def __enter__(self):
        self.cursor = connection.cursor()
        self.cursor.execute(f"PREPARE {self.name} (bigint, bigint) AS {self.body}")
        return self

    def run(self, first: int, end: int) -> list[tuple]:
        self.cursor.execute(f"EXECUTE {self.name} (%s, %s)", [first, end])
        return self.cursor.fetchall()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.cursor.execute(f"DEALLOCATE {self.name}")
            else:
                # The error in flight is the one to report; the connection may be unusable or in an
                # aborted transaction, and a prepared statement ends with its session anyway.
                with contextlib.suppress(DatabaseError, InterfaceError):
                    self.cursor.execute(f"DEALLOCATE {self.name}")
        finally:
            with contextlib.suppress(DatabaseError, InterfaceError):
                self.cursor.close()


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Hand an item to the consumer, unless it has stopped listening."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _pages_in_parallel(name: str, body: str, starts: range, page: int, end: int, workers: int):
    """Run the pages on `workers` connections at once, `workers` pages ahead at most, yielding them in order.

    Worker i runs pages i, i + workers, … on its own connection and hands each over through a queue of
    one, so at most one finished page per worker waits in memory. The consumer takes them round-robin.
    If it stops early, the workers stop after the page they are on (already noted as disclosed).
    """
    stop = threading.Event()
    queues = [queue.Queue(maxsize=1) for _ in range(workers)]

    def work(i: int) -> None:
        try:
            with _PageStatement(f"{name}_{i}", body) as statement:
                for first in starts[i::workers]:
                    if stop.is_set() or not _put(queues[i], statement.run(first, min(first + page, end)), stop):
                        return
        except BaseException as e:  # handed to the consumer, which raises it
            _put(queues[i], e, stop)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, args=(i,), name=f"export-csv-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    try:
        for k in range(len(starts)):
            item = queues[k % workers].get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        for t in threads:
            t.join()


def _pages_here(name: str, body: str, starts: range, page: int, end: int):
    with _PageStatement(name, body) as statement:
        for first in starts:
            yield statement.run(first, min(first + page, end))


def write_csv_postgresql(qs, build: RowBuilder, run: ExportRun, page: int) -> Iterator[tuple[bytes, int]]:
    """The CSV of `write_csv`, formatted by PostgreSQL: one statement per page of ids.

    Pages are ranges of `page` ids between the first and last matching screening. With
    `EXPORT_CSV_WORKERS` above 1, that many connections work on consecutive pages at once (the
    database does the formatting, so this is what uses more than one core); inside a transaction —
    which other connections cannot see into — the pages run one after the other on this connection.
    Identified, a page comes back as one string; de-identified, as rows that Python completes with
    the pseudonyms.
    """
    tz_name = timezone.get_current_timezone_name()
    if not _postgresql_reads_zone(tz_name):
        raise ValueError(f"PostgreSQL does not read time zone {tz_name!r} as zoneinfo does")
    fields = _PG_DEIDENTIFIED_FIELDS if build.deidentified else _PG_IDENTIFIED_FIELDS
    inner, params = (
        qs.order_by()
        .annotate(plain_csv=RawSQL(_plain_sql("postgresql"), ()))
        .values_list(*fields, "plain_csv")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        inner = cursor.mogrify(inner, params)
    inner = inner.decode() if isinstance(inner, bytes) else inner
    dob = 'p."client__date_of_birth"'
    line = _pg_line(build, tz_name)
    if build.deidentified:
        columns, result = (
            f"{line[0]} AS between_cells, {line[1]} AS after_cells",
            "SELECT id, client_id, amends_id, between_cells, after_cells FROM page ORDER BY id",
        )
    else:
        columns, result = f"{line} AS line", "SELECT count(*), string_agg(line, '' ORDER BY id) FROM page"
    body = (
        f"WITH page AS (SELECT p.id, p.client_id, {'p.amends_id, ' if build.deidentified else ''}{columns} "
        f"FROM ({inner}) p "
        f"CROSS JOIN LATERAL (SELECT (p.created_at AT TIME ZONE '{tz_name}')::date AS day) l "
        f"CROSS JOIN LATERAL (SELECT (date_part('year', l.day) - date_part('year', {dob}) - "
        f"CASE WHEN to_char(l.day, 'MMDD') < to_char({dob}, 'MMDD') THEN 1 ELSE 0 END)::int AS years) a "
        "WHERE p.id >= $1 AND p.id < $2), "
        # The page's clients are noted as disclosed in the same statement, before its bytes are sent; in
        # client order, so that connections noting pages that share clients cannot deadlock.
        f"noted AS (INSERT INTO {ExportDisclosure._meta.db_table} (export_id, client_id) "
        f"SELECT DISTINCT {int(run.pk)}::bigint, page.client_id FROM page ORDER BY 2 ON CONFLICT DO NOTHING) "
        f"{result}"
    )
    name = f"iop_export_csv_{int(run.pk)}"
    yield _csv_head_piece(build.columns, run.public_id), 0
    bounds = qs.order_by().aggregate(first=Min("id"), last=Max("id"))
    if bounds["first"] is None:
        return
    end = bounds["last"] + 1  # rows added after this point are not part of this export
    starts = range(bounds["first"], end, page)
    workers = max(1, int(getattr(settings, "EXPORT_CSV_WORKERS", 1)))
    in_transaction = connection.in_atomic_block or not connection.get_autocommit()
    if workers > 1 and len(starts) > 1 and not in_transaction:
        pages = _pages_in_parallel(name, body, starts, page, end, workers)
    else:
        pages = _pages_here(name, body, starts, page, end)
    try:
        for rows in pages:
            if build.deidentified:
                if rows:
                    yield _deidentified_lines(rows, build.pseudonymize).encode(), len(rows)
            elif rows[0][0]:
                yield rows[0][1].encode(), rows[0][0]
    finally:
        pages.close()  # stops the workers now, not whenever the generator is collected


def write_jsonl(pages, build: RowBuilder, export_id: uuid.UUID) -> Iterator[tuple[bytes, int]]:
    cols = build.columns
    header = {
        "record_type": "notice",
        "notice": REDISCLOSURE_NOTICE,
        "export_id": str(export_id),
        "deidentified": build.deidentified,
        "columns": list(cols),
    }
    yield (json.dumps(header, ensure_ascii=False) + "\n").encode(), 0
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for page in pages:
        build.usernames.load(page)
        lines = [encode({"record_type": "screening", **dict(zip(cols, build(r), strict=True))}) for r in page]
        yield ("\n".join(lines) + "\n").encode(), len(lines)


def write_fhir(pages, build: RowBuilder, export_id: uuid.UUID) -> Iterator[tuple[bytes, int]]:
    cols = build.columns
    yield fhir.bundle_head(export_id=export_id, notice=REDISCLOSURE_NOTICE, timestamp=timezone.now()).encode(), 0
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    first = True
    for page in pages:
        build.usernames.load(page)
        parts = []
        for r in page:
            for entry in fhir.bundle_entries(
                dict(zip(cols, build(r), strict=True)), deidentified=build.deidentified, export_id=export_id
            ):
                parts.append((fhir.ENTRIES_OPEN if first else ",") + encode(entry))
                first = False
        yield "".join(parts).encode(), len(page)
    # FHIR JSON allows no empty array: a Bundle with no screenings has no "entry" at all.
    yield (fhir.BUNDLE_TAIL_EMPTY if first else fhir.BUNDLE_TAIL_WITH_ENTRIES).encode(), 0


CSV_FIELDS = (*_HEAD[:_REC], "plain_csv")  # the database formats the rest (`_plain_sql`)
WRITERS = {"csv": (write_csv, CSV_FIELDS), "jsonl": (write_jsonl, FIELDS), "fhir": (write_fhir, FIELDS)}


def _record_disclosures(run: ExportRun, qs, page: list[tuple]) -> None:
    """Note the clients of one page before it is sent: over-report a cut-short export, never under-report."""
    sub = qs.filter(id__gte=page[0][_ID], id__lte=page[-1][_ID]).values("client_id")
    sql, params = sub.query.sql_with_params()
    table = ExportDisclosure._meta.db_table
    with connection.cursor() as cursor:
        # "WHERE true" lets SQLite tell the ON CONFLICT clause from a join constraint.
        cursor.execute(
            f"INSERT INTO {table} (export_id, client_id) SELECT DISTINCT %s, u.client_id FROM ({sql}) u "
            "WHERE true ON CONFLICT DO NOTHING",
            [run.pk, *params],
        )


def filename(fmt: str, deidentified: bool, export_id: uuid.UUID) -> str:
    kind = "deidentified" if deidentified else "identified"
    return f"screenings-{kind}-{timezone.localdate():%Y%m%d}-{str(export_id)[:8]}.{EXTENSIONS[fmt]}"


@dataclass
class ExportRunner:
    """One export. `start()` notes it and writes its `started` audit event, committed, before any byte is
    made (if that fails, nothing is sent); `stream()` yields the bytes; an end event (rows, bytes, SHA-256,
    outcome) is written when the stream ends. An export whose process or database went away mid-stream
    keeps its started event and no end: it shows as interrupted."""

    fmt: str
    deidentified: bool
    filters: ExportFilters
    actor: object = None
    context: audit.AuditContext | None = None
    actor_username: str = ""
    via: str = "web"
    page: int = PAGE

    def __post_init__(self):
        if self.fmt not in WRITERS:
            raise ValueError(f"unknown format {self.fmt!r}")
        self.export_id = uuid.uuid4()
        self.run: ExportRun | None = None
        self.started: AuditEvent | None = None
        self.event: AuditEvent | None = None

    @property
    def filename(self) -> str:
        return filename(self.fmt, self.deidentified, self.export_id)

    def _details(self, **more) -> dict:
        return {
            "export_id": str(self.export_id),
            "format": self.fmt,
            "deidentified": self.deidentified,
            "filters": self.filters.as_details(),
            "via": self.via,
            **more,
        }

    def start(self) -> AuditEvent:
        """Note the export and write its started event in one committed transaction, before any byte."""
        actor = self.actor if self.actor is not None and self.actor.is_authenticated else None
        with transaction.atomic(durable=True):  # committed here, never a savepoint of a caller's transaction
            run = ExportRun.objects.create(
                public_id=self.export_id,
                actor=actor,
                format=self.fmt,
                deidentified=self.deidentified,
                actor_username=self.actor_username or (actor.get_username() if actor is not None else ""),
            )
            started = audit.record(
                action=AuditEvent.Action.EXPORT,
                actor=actor,
                context=self.context,
                actor_username=run.actor_username,
                obj=run,
                object_type="export",
                details=self._details(phase="started"),
            )
            ExportRun.objects.filter(pk=run.pk).update(started_event=started)
        self.run, self.started = run, started
        return started

    def stream(self) -> Iterator[bytes]:
        if self.started is None:
            self.start()
        run = self.run
        actor = run.actor
        qs = export_queryset(self.filters)
        writer, fields = WRITERS[self.fmt]
        sha, rows, size, outcome = hashlib.sha256(), 0, 0, "failed"

        def pages():
            for page in iter_pages(qs, fields, self.page):
                _record_disclosures(run, qs, page)
                yield page

        pieces = None
        try:
            build = RowBuilder(self.deidentified)
            if self.fmt == "csv" and database_writes_csv():
                pieces = write_csv_postgresql(qs, build, run, self.page)
            else:
                pieces = writer(pages(), build, self.export_id)
            for piece, n in pieces:
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
            if pieces is not None:
                pieces.close()  # the writer's own clean-up (and any page workers) ends before the event
            with transaction.atomic():  # the end event and the run's link to it, together
                self.event = audit.record(
                    action=AuditEvent.Action.EXPORT,
                    actor=actor,
                    context=self.context,
                    actor_username=run.actor_username,
                    obj=run,
                    object_type="export",
                    details=self._details(
                        phase=outcome,
                        outcome=outcome,
                        started_event=self.started.pk,
                        rows=rows,
                        bytes=size,
                        sha256=sha.hexdigest(),
                    ),
                )
                ExportRun.objects.filter(pk=run.pk).update(event=self.event)
