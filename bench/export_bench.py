"""CSV export throughput and peak memory on PostgreSQL, side by side in one run (issue 5).

For each database (100,000 and 1,000,000 screenings made by `manage.py generate_screenings N --seed 5`):

  ours    `manage.py export_records --format csv --output FILE` — the real command: streaming export,
          disclosures and the audit event included
  dj-ie   django-import-export: a ModelResource over the same columns, `resource.export(qs).csv`
  COPY    `COPY (SELECT <the columns our export reads>) TO STDOUT WITH CSV HEADER`, written to a file

Each runs in its own process; wall time from process start to exit, peak RSS from os.wait4. Ours and
COPY run BENCH_ROUNDS times each (default 3), alternating and swapping which goes first, and the median
is reported with every run's time; they all run for every size before django-import-export, which runs
once per size (at most BENCH_IE_MAX_ROWS rows when that is set) and takes far longer. Run:

    BENCH_DATABASES="postgres://postgres@127.0.0.1:5432/iop_export_bench100k postgres://postgres@127.0.0.1:5432/iop_export_bench" \
        .venv/bin/python bench/export_bench.py

Prints the machine it ran on with the figures; bench/README.md records them.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402

DEFAULT_DATABASES = (
    "postgres://postgres@127.0.0.1:5432/iop_export_bench100k postgres://postgres@127.0.0.1:5432/iop_export_bench"
)
PY = sys.executable
# django-import-export builds the whole file in memory and takes minutes per 100,000 rows on this shared
# machine; above this many rows it is not run (the output says so). Unset: always run.
IE_MAX_ROWS = int(os.environ["BENCH_IE_MAX_ROWS"]) if os.environ.get("BENCH_IE_MAX_ROWS") else None
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SETUP = (
    f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); "
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'iop_screening.settings'); import django; django.setup()\n"
)

IMPORT_EXPORT = (
    SETUP
    + """
from import_export import fields, resources
from screening.exports import FIELDS, export_queryset, ExportFilters
from screening.models import Screening

COLUMNS = [f for f in FIELDS if f != "id"] + ["clinician__username", "decided_by__username", "signed_by__username"]

class ScreeningResource(resources.ModelResource):
    class Meta:
        model = Screening
        fields = ("id", *COLUMNS)
        export_order = ("id", *COLUMNS)

qs = export_queryset(ExportFilters()).order_by("id")
with open(sys.argv[1], "w") as f:
    f.write(ScreeningResource().export(queryset=qs).csv)
"""
)

COPY = (
    SETUP
    + """
from django.db import connection
from screening.exports import FIELDS, export_queryset, ExportFilters

fields = list(FIELDS) + ["clinician__username", "decided_by__username", "signed_by__username"]
sql, params = export_queryset(ExportFilters()).order_by("id").values_list(*fields).query.sql_with_params()
with connection.cursor() as cursor, open(sys.argv[1], "w") as f:
    select = cursor.cursor.mogrify(sql, params).decode()
    cursor.cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH CSV HEADER", f)
"""
)


def run(argv: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def rows_in(url: str) -> int:
    env = {**os.environ, "DATABASE_URL": url}
    code = SETUP + (
        "from screening.exports import export_queryset, ExportFilters\n"
        "print(export_queryset(ExportFilters()).count())\n"
    )
    return int(subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)


def measure(name: str, url: str, scripts: dict, tmp: Path) -> tuple[float, float, float]:
    """One run of one method: wall seconds, peak RSS MB, MB written."""
    env = {**os.environ, "DATABASE_URL": url}
    out = tmp / f"{name}.csv"
    if name == "ours":
        argv = [PY, "manage.py", "export_records", "--format", "csv", "--output", str(out)]
    else:
        argv = [PY, str(scripts[name]), str(out)]
    wall, rss = run(argv, env)
    size = out.stat().st_size / 1e6
    out.unlink()
    return wall, rss, size


def main() -> None:
    databases = os.environ.get("BENCH_DATABASES", DEFAULT_DATABASES).split()
    print(machine())
    print(f"ours and COPY: {ROUNDS} rounds each, alternating, median; then django-import-export once per size")
    print(f"{'rows':>10} {'method':<8} {'seconds':>9} {'peak RSS MB':>12} {'MB out':>8}  ratio / all runs (s)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scripts = {}
        for name, code in (("dj-ie", IMPORT_EXPORT), ("COPY", COPY)):
            path = tmp / f"{name}.py"
            path.write_text(code)
            scripts[name] = path
        sizes, ours = {}, {}
        # First ours and COPY for every size, side by side (alternating, the first method changing each
        # round), so that the slow django-import-export runs do not sit between them.
        for url in databases:
            n = sizes[url] = rows_in(url)
            runs = {"ours": [], "COPY": []}
            for r in range(ROUNDS):
                for name in ("ours", "COPY") if r % 2 == 0 else ("COPY", "ours"):
                    runs[name].append(measure(name, url, scripts, tmp))
            med = {
                name: tuple(statistics.median(v[i] for v in values) for i in range(3)) for name, values in runs.items()
            }
            ours[url] = med["ours"][0]
            for name in ("ours", "COPY"):
                wall, rss, size = med[name]
                ratio = "" if name == "ours" else f"ours takes {ours[url] / wall:.2f}x COPY"
                every = " ".join(f"{v[0]:.1f}" for v in runs[name])
                print(f"{n:>10,} {name:<8} {wall:>9.1f} {rss:>12.0f} {size:>8.0f}  {ratio} [{every}]", flush=True)
        for url in databases:
            n = sizes[url]
            if IE_MAX_ROWS is not None and n > IE_MAX_ROWS:
                print(f"{n:>10,} dj-ie    not run: more than BENCH_IE_MAX_ROWS={IE_MAX_ROWS:,} rows", flush=True)
                continue
            wall, rss, size = measure("dj-ie", url, scripts, tmp)
            print(
                f"{n:>10,} {'dj-ie':<8} {wall:>9.1f} {rss:>12.0f} {size:>8.0f}  ours is {wall / ours[url]:.1f}x faster",
                flush=True,
            )


if __name__ == "__main__":
    main()
