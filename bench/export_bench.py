"""Export throughput and peak memory on PostgreSQL, side by side in one run (issues 5 and 10).

For each database (`make bench-data`: 100,000 and 1,000,000 signed screenings), every method runs in
its own process, BENCH_ROUNDS times (default 3), the order rotating each round; the median is reported
with every run's time:

  COPY    the reference: `COPY (SELECT <the columns and joins our exports read>) TO STDOUT WITH CSV HEADER`
          on one connection, the bands and codes read from the stored JSON as our exports read them
  csv     `manage.py export_records --format csv`: the identified CSV (COPY per keyset page), its
          started event, disclosure rows and end event included
  jsonl   the same, JSON Lines
  fhir    the same, a FHIR R4 Bundle (QuestionnaireResponses and Observations)
  csv-deid  the de-identified CSV (the Python writer)

A method named `METHOD@base` runs the same from another checkout, BENCH_BASE (e.g. a `git worktree` of the
commit before a change, its `.env` copied), in the same rounds: a change measured side by side with what it
replaced. Its ratio is to `csv@base` when that ran too.

Each export's disclosure rows are deleted after it (untimed), so the shared databases do not grow by a
row per client per run. Output goes to /dev/null (FHIR at 1,000,000 rows is about 16 GB); the size is what the command reports.
Wall time from process start to exit, peak RSS from os.wait4. Run:

    .venv/bin/python bench/export_bench.py
    BENCH_DATABASES="postgres://…/iop_bench_100k" BENCH_METHODS="COPY csv" .venv/bin/python bench/export_bench.py
    BENCH_BASE=/work/old BENCH_METHODS="csv fhir csv@base fhir@base" .venv/bin/python bench/export_bench.py

Prints the machine it ran on with the figures; bench/README.md records them.
"""

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402

DEFAULT_DATABASES = "postgres://postgres@127.0.0.1:5432/iop_bench_100k postgres://postgres@127.0.0.1:5432/iop_bench"
PY = sys.executable
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
METHODS = os.environ.get("BENCH_METHODS", "COPY csv jsonl fhir csv-deid").split()
BASE = os.environ.get("BENCH_BASE", "")
SETUP = (
    "import os, sys; sys.path.insert(0, os.getcwd()); "
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'iop_screening.settings'); import django; django.setup()\n"
)
COPY = (
    SETUP
    + """
from django.db import connection
from screening.exports import FIELDS, ExportFilters, export_queryset
from screening.exports.columns import summary_sql

qs = export_queryset(ExportFilters()).annotate(**summary_sql("postgresql")).order_by("id").values_list(*FIELDS)
sql, params = qs.query.sql_with_params()
class Count:
    size = 0

    def write(self, data):
        self.size += len(data)


out = Count()
with connection.cursor() as cursor:
    cursor.copy_expert(f"COPY ({cursor.mogrify(sql, params).decode()}) TO STDOUT WITH CSV HEADER", out)
    print(f"Exported {cursor.rowcount} rows ({out.size} bytes)")
"""
)
# After each export, its disclosure rows (a row per client, 100,000 or 1,000,000 of them) are deleted: the bench
# databases are shared and stay as `make bench-data` built them but for the export's run and audit events
# (append-only, a few rows).
CLEAN_UP = (
    SETUP
    + """
from screening.models import AuditEvent, ExportDisclosure, ExportRun

run = ExportRun.objects.get(public_id=AuditEvent.objects.get(pk=int(sys.argv[1])).details["export_id"])
ExportDisclosure.objects.filter(export=run).delete()  # one DELETE: nothing refers to these rows
"""
)
COMMAND = {
    "csv": ["--format", "csv"],
    "jsonl": ["--format", "jsonl"],
    "fhir": ["--format", "fhir"],
    "csv-deid": ["--format", "csv", "--deidentified"],
}


def run(method: str, url: str) -> tuple[float, float, float, float]:
    """Wall seconds, peak RSS (MB), MB written and the process's CPU seconds (user + system) of one run."""
    method, at_base = method.removesuffix("@base"), method.endswith("@base")
    if at_base and not BASE:
        raise SystemExit(f"{method}@base needs BENCH_BASE, the other checkout")
    cwd = Path(BASE) if at_base else ROOT
    if method == "COPY":
        argv = [PY, "-c", COPY]
    else:
        argv = [PY, "manage.py", "export_records", *COMMAND[method], "--output", os.devnull]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, "DATABASE_URL": url}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{method} failed:\n{err[-2000:]}")
    size = int(re.search(r"\((\d+) bytes", out + err).group(1))
    if event := re.search(r"audit event #(\d+)", err):
        env = {**os.environ, "DATABASE_URL": url}
        subprocess.run([PY, "-c", CLEAN_UP, event.group(1)], cwd=ROOT, env=env, check=True)
    return wall, usage.ru_maxrss / 1024, size / 1e6, usage.ru_utime + usage.ru_stime


def _commit(checkout) -> str:
    git = ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"]
    return subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    print(machine())
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    if BASE:
        print(f"@base: the checkout {BASE} at {_commit(BASE)}; the others at {_commit(ROOT)}")
    print(f"{ROUNDS} rounds per method, order rotating each round; median, then every run's seconds")
    print("best: the fastest run (a loaded machine only adds time); CPU: the export process's user + system seconds")
    print("(median; PostgreSQL's own work is in its server process, not here); ratios of medians, then of bests")
    print(
        f"{'database':<16} {'method':<10} {'seconds':>8} {'best':>6} {'CPU':>6} {'peak RSS MB':>12} {'MB out':>7}"
        "  ratio (median, best)  [runs]"
    )
    for url in os.environ.get("BENCH_DATABASES", DEFAULT_DATABASES).split():
        runs = {m: [] for m in METHODS}
        for r in range(ROUNDS):
            for m in METHODS[r % len(METHODS) :] + METHODS[: r % len(METHODS)]:
                runs[m].append(run(m, url))
        med = {m: [statistics.median(v[i] for v in runs[m]) for i in range(4)] for m in METHODS}
        for m in METHODS:
            wall, rss, size, cpu = med[m]
            name, base = m.removesuffix("@base"), "@base" if m.endswith("@base") else ""
            reference = {"csv": "COPY", "jsonl": "csv", "fhir": "csv", "csv-deid": "csv"}.get(name)
            if reference and reference + base in med:
                reference += base
            best = min(v[0] for v in runs[m])
            ratio = ""
            if reference in med:
                ref_best = min(v[0] for v in runs[reference])
                ratio = f"{wall / med[reference][0]:.2f}x {best / ref_best:.2f}x {reference}"
            every = " ".join(f"{v[0]:.1f}" for v in runs[m])
            print(
                f"{url.rsplit('/', 1)[1]:<16} {m:<10} {wall:>8.1f} {best:>6.1f} {cpu:>6.1f} {rss:>12.0f} {size:>7.0f}"
                f"  {ratio:<21} [{every}]",
                flush=True,
            )
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} after {url.rsplit('/', 1)[1]}")


if __name__ == "__main__":
    main()
