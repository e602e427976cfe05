"""What-if replay over every stored screening: wall time of `manage.py replay_rules` over the whole
date range under rule set 2027.01, as a separate process, as an admin would run it.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_bench .venv/bin/python bench/replay_bench.py

It also checks, on a 30-day slice, that the parallel replay (one process per core) gives exactly the
result of the one-process replay, and that replaying changes no stored row.
"""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Max, Min  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.machine import machine  # noqa: E402
from screening import replay  # noqa: E402
from screening.models import Screening  # noqa: E402
from screening.selectors import day_start  # noqa: E402

VERSION = os.environ.get("BENCH_VERSION", "2027.01")


def fingerprint() -> tuple:
    """A cheap summary of the stored recommendations, to show replay changed none of them."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), sum(hashtext(recommended_level || rules_version || recommendation::text)),"
            " max(updated_at) FROM screening_screening"
        )
        return cur.fetchone()


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL (see the docstring).")
    span = Screening.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    since = timezone.localtime(span["first"]).date()
    until = timezone.localtime(span["last"]).date()
    before = fingerprint()

    slice_since, slice_until = day_start(until - timedelta(days=29)), day_start(until + timedelta(days=1))
    t0 = time.perf_counter()
    one = replay.replay_range(slice_since, slice_until, VERSION, workers=1)
    one_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    many = replay.replay_range(slice_since, slice_until, VERSION, workers=os.cpu_count() or 1)
    many_s = time.perf_counter() - t0
    assert (one.total, one.changed, one.matrix, one.changes) == (many.total, many.changed, many.matrix, many.changes)

    cmd = [
        sys.executable,
        "manage.py",
        "replay_rules",
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--version",
        VERSION,
        "--json",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True, text=True)
    wall = time.perf_counter() - t0
    out = json.loads(proc.stdout)
    after = fingerprint()
    assert before == after, "replay changed stored rows"

    print(f"machine: {machine()}")
    print(
        f"30-day slice ({one.total:,} screenings): one process {one_s:.1f} s, {os.cpu_count()} processes "
        f"{many_s:.1f} s, identical results"
    )
    print(
        f"replay_rules --since {since} --until {until} --version {VERSION} --json: {out['total']:,} screenings "
        f"in {wall:.1f} s wall ({out['total'] / wall:,.0f}/s), {out['changed']:,} would change"
    )
    print("matrix (stored → replayed): " + json.dumps(out["matrix"]))
    print("stored rows unchanged: yes (count, hash of level+version+recommendation, max updated_at)")


if __name__ == "__main__":
    main()
