"""One identified-CSV export page's COPY on PostgreSQL under the page transaction's settings, side by side with JIT
left on and with parallel workers turned off too (issue 10): the median of BENCH_ROUNDS (default 7) alternating runs of the same page of
10,000 screenings (the middle of the table), each in its own transaction, output to memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_bench .venv/bin/python bench/export_page_settings.py
"""

import io
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Max  # noqa: E402

from bench.machine import machine  # noqa: E402
from screening.exports import FIELDS, ExportFilters, export_queryset  # noqa: E402
from screening.exports.columns import Row, summary_sql  # noqa: E402
from screening.exports.writers import CopyCsvWriter, page_settings  # noqa: E402

PAGE = 10_000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
# What the page's transaction turns back on, per variant (the export's own: nothing).
VARIANTS = {
    "the export's (no JIT)": {},
    "JIT on (before)": {"jit": "on"},
    "no parallel workers either": {"max_parallel_workers_per_gather": "0"},
}


def page_seconds(writer: CopyCsvWriter, window, turn_on: dict) -> float:
    query = window.annotate(**summary_sql("postgresql")).order_by("id").values_list(*FIELDS).query
    sql, params = query.sql_with_params()
    with transaction.atomic(), page_settings(copy=True), connection.cursor() as cursor:
        for name, value in turn_on.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        start = time.perf_counter()
        cursor.copy_expert(writer.copy.format(cursor.mogrify(sql, params).decode()), io.BytesIO())
        return time.perf_counter() - start


def main() -> None:
    qs = export_queryset(ExportFilters())
    low = qs.aggregate(last=Max("id"))["last"] // 2
    window = qs.filter(id__gt=low, id__lte=low + PAGE)
    writer = CopyCsvWriter(Row(False), uuid.uuid4())
    print(machine(), "; load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    page_seconds(writer, window, {})  # warm the page's rows into the cache
    for _ in range(ROUNDS):
        for name, turn_on in VARIANTS.items():
            times[name].append(page_seconds(writer, window, turn_on))
    base = statistics.median(times["the export's (no JIT)"])
    for name, runs in times.items():
        med = statistics.median(runs)
        print(
            f"{name:<45} median {med * 1000:6.0f} ms  {med / base:4.2f}x  [{' '.join(f'{r * 1000:.0f}' for r in runs)}]"
        )
    print("load average at the end", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
