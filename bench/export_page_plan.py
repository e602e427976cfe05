"""One export page's query on PostgreSQL, with the page transaction's planner settings and without
(docs/exports.md): EXPLAIN ANALYZE execution time of a page of 10,000 screenings, best of five each.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_bench_100k .venv/bin/python bench/export_page_plan.py
"""

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from bench.machine import machine  # noqa: E402
from screening.exports import FIELDS, ExportFilters, export_queryset  # noqa: E402
from screening.exports.columns import summary_sql  # noqa: E402

PAGE = 10_000


def page_ms(settings_off: bool, first: int) -> float:
    qs = export_queryset(ExportFilters())
    window = qs.filter(id__gt=first, id__lte=first + PAGE).annotate(**summary_sql("postgresql"))
    sql, params = window.order_by("id").values_list(*FIELDS).query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        if settings_off:
            cursor.execute(
                "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)"
            )
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS off) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))


def main() -> None:
    print(machine())
    total = export_queryset(ExportFilters()).count()
    first = total // 3
    for label, off in (("hash and merge joins allowed", False), ("primary-key lookups (the export's)", True)):
        best = min(page_ms(off, first) for _ in range(5))
        print(f"{total:,} screenings, a page of {PAGE:,}: {label:<38} {best:8.1f} ms (best of 5)")


if __name__ == "__main__":
    main()
