"""The writers: CSV (Python, or PostgreSQL's COPY for identified exports), JSON Lines and a FHIR R4 Bundle.

Each writes a head, then one piece per keyset page of screenings (`page(window)` → bytes and rows), then a
tail. A window is a queryset of the page's screenings; the runner chooses the windows, notes them as
disclosed and hashes what it sends.
"""

from __future__ import annotations

import contextlib
import io
import re
import uuid

import orjson
from django.db import connection
from django.utils import timezone

from .. import answers, fhir
from ..models import Screening
from ..notices import REDISCLOSURE_NOTICE
from .columns import (
    ANSWER_COLUMNS,
    CODE_COLUMNS,
    DSM5,
    FIELDS,
    FREE_TEXT_COLUMNS,
    RECORD_COLUMNS,
    STAFF,
    SUBSTANCES,
    SUMMARY,
    TIMES,
    Row,
    summary_sql,
)

# Cells a spreadsheet would read as a formula (OWASP "CSV injection"; tab and CR included).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """Prefix a formula-looking text cell with an apostrophe so spreadsheets show it as text."""
    return "'" + value if value.startswith(FORMULA_START) else value


def read(window) -> list[tuple]:
    """The page's screenings as `FIELDS` tuples, in id order.

    On PostgreSQL, the queryset's own SQL run on a cursor that reads UUIDs as their text (the writers write
    text; psycopg2's `uuid.UUID` objects cost a Python call each), every row in one fetch: no field of
    `FIELDS` has a converter in Django on PostgreSQL, so the tuples are otherwise what `values_list` gives."""
    rows = window.annotate(**summary_sql(connection.vendor)).order_by("id").values_list(*FIELDS)
    if connection.vendor != "postgresql":
        return list(rows)
    import psycopg2  # PostgreSQL's driver, imported where it is used

    uuid_as_text = psycopg2.extensions.new_type((_UUID_OID,), "UUID_AS_TEXT", psycopg2.STRING)
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        psycopg2.extensions.register_type(uuid_as_text, cursor.cursor)  # this cursor only
        cursor.execute(sql, params)
        return cursor.fetchall()


_UUID_OID = 2950  # PostgreSQL's uuid type (pg_type.oid, fixed)


def csv_line(cells) -> str:
    """One CSV line (RFC 4180 quoting; LF, as COPY writes). Python's csv module leaves a lone CR unquoted
    when the line ends in LF, which breaks the row in other readers."""
    return ",".join('"' + c.replace('"', '""') + '"' if _NEEDS_QUOTES.search(c) else c for c in cells) + "\n"


_NEEDS_QUOTES = re.compile(r'[",\r\n]')


class CsvWriter:
    """CSV with LF line endings (as COPY writes them), a BOM for spreadsheets, the notice, then the header."""

    page_size = 1000  # screenings per page: a page is read, noted and sent whole, so it bounds memory

    def __init__(self, row: Row, export_id: uuid.UUID):
        self.row, self.export_id = row, export_id
        self.free = frozenset(i for i, c in enumerate(row.columns) if c in FREE_TEXT_COLUMNS)

    def head(self) -> bytes:
        notice = f"NOTICE (42 CFR Part 2): {REDISCLOSURE_NOTICE} Export {self.export_id}."
        return ("\ufeff" + csv_line([notice]) + csv_line(self.row.columns)).encode()

    def cell(self, i: int, v) -> str:
        if v is None:
            return ""
        if v is True or v is False:
            return "true" if v else "false"
        if isinstance(v, list):
            return ";".join(v)
        return escape_cell(v) if i in self.free else str(v)

    def page(self, window) -> tuple[bytes, int]:
        rows = read(window)
        cell = self.cell
        return "".join(csv_line([cell(i, v) for i, v in enumerate(self.row(r))]) for r in rows).encode(), len(rows)

    def tail(self) -> bytes:
        return b""


def copy_cells() -> str:
    """SQL of the identified CSV's cells over a page row `p` (its columns named as `FIELDS`), in column order.

    The twin of `Row` + `CsvWriter.cell` for PostgreSQL's COPY, which does the quoting (tests compare the
    two on parsed rows). Times and the local day are in the session's time zone, set for the transaction.
    """
    fields = {f.attname: f for f in Screening._meta.concrete_fields}
    formula = ", ".join("E'" + c.encode("unicode_escape").decode() + "'" for c in FORMULA_START)

    def p(name: str) -> str:
        return f'p."{name}"'

    def text(name: str) -> str:
        return f"CASE WHEN left({p(name)}, 1) IN ({formula}) THEN '''' || {p(name)} ELSE NULLIF({p(name)}, '') END"

    def listed(inp) -> str:
        codes = (f"CASE WHEN {p(c)} THEN '{code}' END" for c, (code, _) in zip(inp.columns, inp.choices, strict=True))
        return f"NULLIF(concat_ws(';', {', '.join(codes)}), '')"

    def plain(name: str) -> str:
        kind = fields[name].get_internal_type()
        return {"BooleanField": f"{p(name)}::text", "CharField": f"NULLIF({p(name)}, '')"}.get(kind, p(name))

    dob, day = p("client__date_of_birth"), f"{p('created_at')}::date"
    before_birthday = f"(to_char({day}, 'MMDD') < to_char({dob}, 'MMDD'))::int"
    return ", ".join(
        [
            f"{p('public_id')}::text",
            f"{p('client__public_id')}::text",
            *(text(f"client__{n}") for n in ("record_number", "given_name", "family_name")),
            f"to_char({dob}, 'YYYY-MM-DD')",
            f"date_part('year', {day}) - date_part('year', {dob}) - {before_birthday}",
            f"{p('amends__public_id')}::text",
            f"{p('carried_from__public_id')}::text",
            p("status"),
            *(f"""to_char({p(t)}, 'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM')""" for t in TIMES),
            listed(SUBSTANCES),
            listed(DSM5),
            *(plain(n) for n in (*ANSWER_COLUMNS, *answers.ITEM_COLUMNS, *CODE_COLUMNS)),
            *(p(n) for n in SUMMARY),
            *(plain(n) for n in RECORD_COLUMNS),
            *(text(n) for n in STAFF),
        ]
    )


class CopyCsvWriter(CsvWriter):
    """The identified CSV on PostgreSQL: each page is one `COPY (SELECT …) TO STDOUT` on this connection."""

    page_size = 10000  # under 1 kB a line, in one bytes object: fewer, larger pages cost less per row

    def __init__(self, row: Row, export_id: uuid.UUID):
        super().__init__(row, export_id)
        # A field read twice (an answer that is also an instrument item) is named once; cells use the first.
        names = ", ".join(f'"{f}"' if FIELDS.index(f) == i else f'"{f}#{i}"' for i, f in enumerate(FIELDS))
        # Cells and names are built from code (the answer map, the model); the page's SELECT is Django's, its
        # values bound by psycopg2's mogrify: no input becomes SQL text.
        self.copy = f'COPY (SELECT {copy_cells()} FROM ({{}}) AS p({names}) ORDER BY p."id") TO STDOUT (FORMAT csv)'  # nosec B608

    def page(self, window) -> tuple[bytes, int]:
        """Called inside the page's transaction, with the program's time zone set for it (`page_settings`)."""
        query = window.annotate(**summary_sql("postgresql")).order_by("id").values_list(*FIELDS).query
        sql, params = query.sql_with_params()
        buf = io.BytesIO()
        with connection.cursor() as cursor:
            cursor.copy_expert(self.copy.format(cursor.mogrify(sql, params).decode()), buf)
            return buf.getvalue(), cursor.rowcount


@contextlib.contextmanager
def page_settings(copy: bool):
    """Settings for one page's transaction on PostgreSQL, put back after it (nothing outlives it: PgBouncer-safe).

    Primary-key lookups for the joins, which a page of a few thousand screenings needs (a hash join reads
    each joined table whole, for every page); no JIT compilation: a page's plan costs more than PostgreSQL's
    `jit_above_cost`, so each page compiled its expressions anew, a quarter of the page's time
    (bench/export_page_settings.py);
    for COPY, the program's time zone, for its times and local days (never for rows Django reads: it takes the
    session's times as UTC).
    """
    if connection.vendor != "postgresql":
        yield
        return
    local = {"enable_hashjoin": "off", "enable_mergejoin": "off", "jit": "off"}
    if copy:
        local["TimeZone"] = timezone.get_current_timezone_name()
    set_local = "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in local)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"current_setting('{k}')" for k in local))
        before = dict(zip(local, cursor.fetchone(), strict=True))
        cursor.execute(set_local, [x for item in local.items() for x in item])
    yield
    with connection.cursor() as cursor:
        cursor.execute(set_local, [x for item in before.items() for x in item])


class JsonlWriter:
    """A notice line, then one JSON object per screening (typed: numbers, booleans, lists, null)."""

    page_size = 2000  # about 2.7 kB a line: 5.5 MB a page (1,000: 7% slower on 20,000 screenings)

    def __init__(self, row: Row, export_id: uuid.UUID):
        self.row, self.export_id = row, export_id

    def head(self) -> bytes:
        notice = {"record_type": "notice", "notice": REDISCLOSURE_NOTICE, "export_id": str(self.export_id)}
        return orjson.dumps({**notice, "deidentified": self.row.deidentified, "columns": self.row.columns}) + b"\n"

    def page(self, window) -> tuple[bytes, int]:
        rows, cols, dumps, row = read(window), ("record_type", *self.row.columns), orjson.dumps, self.row
        line = orjson.OPT_APPEND_NEWLINE  # each line ends in LF as orjson writes it
        # Appended as each is made: orjson's bytes keep its whole starting buffer (about 64 kB for a 2.7 kB line),
        # so a page's lines held in a list until a join took some 70 MB.
        page = bytearray()
        for r in rows:
            page += dumps(dict(zip(cols, ["screening", *row(r)], strict=True)), option=line)
        return bytes(page), len(rows)

    def tail(self) -> bytes:
        return b""


class FhirWriter:
    """One Bundle: per screening, a QuestionnaireResponse and the Observations of its totals and domains."""

    page_size = 500  # about 15 kB a screening

    def __init__(self, row: Row, export_id: uuid.UUID):
        self.row, self.export_id, self.first = row, export_id, True
        self.entries = fhir.BundleEntries(row.columns, deidentified=row.deidentified, export_id=export_id)

    def head(self) -> bytes:
        return fhir.bundle_head(export_id=self.export_id, notice=REDISCLOSURE_NOTICE, timestamp=timezone.now())

    def page(self, window) -> tuple[bytes, int]:
        rows = read(window)
        if not rows:
            return b"", 0
        lead, self.first = fhir.ENTRIES_OPEN if self.first else ",", False
        return self.entries.page([self.row(r) for r in rows], lead=lead).encode(), len(rows)

    def tail(self) -> bytes:
        # FHIR JSON allows no empty array: a Bundle with no screenings has no "entry" at all.
        return fhir.BUNDLE_TAIL_EMPTY if self.first else fhir.BUNDLE_TAIL_WITH_ENTRIES
