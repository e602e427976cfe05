"""Streaming exports of screening records: CSV, JSON Lines and a FHIR R4 Bundle (DESIGN.md §7, §8).

`columns` says what is read and written, from the answer map; `writers` turn keyset pages into bytes
(PostgreSQL's COPY for the identified CSV); `runner` audits the export before its first byte and notes
each page's clients as disclosed before the page leaves; `deidentify` holds the Safe Harbor rules.
"""

from ..notices import REDISCLOSURE_NOTICE
from .columns import BAND_KEYS, DOMAIN_COLUMNS, FIELDS, FREE_TEXT_COLUMNS, PLAIN_COLUMNS, columns
from .runner import CONTENT_TYPES, FORMATS, ExportFilters, ExportRunner, export_queryset, writer_class
from .writers import escape_cell

__all__ = [
    "BAND_KEYS",
    "CONTENT_TYPES",
    "DOMAIN_COLUMNS",
    "FIELDS",
    "FORMATS",
    "FREE_TEXT_COLUMNS",
    "PLAIN_COLUMNS",
    "REDISCLOSURE_NOTICE",
    "ExportFilters",
    "ExportRunner",
    "columns",
    "escape_cell",
    "export_queryset",
    "writer_class",
]
