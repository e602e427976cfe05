"""`manage.py verify_audit` over 1,000,000 audit events on PostgreSQL (issue 5 goal: under 30 s).

The events are inserted through a fast path that still builds a valid chain: each hash is computed
with `screening.audit`'s own canonical form and key, in Python, and the rows go in with bulk
INSERTs. The chain continues from whatever the database holds, so a rerun tops it up. Run:

    psql -h 127.0.0.1 -U postgres -c 'create database iop_audit_bench'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_audit_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_audit_bench .venv/bin/python bench/audit_bench.py

Prints the machine it ran on with the figures; bench/README.md records them.
"""

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from psycopg2.extras import execute_values  # noqa: E402

from bench.machine import machine  # noqa: E402
from screening import audit  # noqa: E402
from screening.models import AuditEvent  # noqa: E402

N = int(os.environ.get("BENCH_EVENTS", 1_000_000))
BATCH = 10_000


def top_up(n: int) -> int:
    have = AuditEvent.objects.count()
    last = AuditEvent.objects.order_by("-id").values_list("hash", "at").first()
    prev, at = (last[0], last[1]) if last else (audit.GENESIS_HASH, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    rows = []
    with connection.cursor() as cursor:
        for i in range(have, n):
            at = at + dt.timedelta(milliseconds=7)
            details = {"bench": i, "page": "client_detail"}
            object_id = f"00000000-0000-4000-8000-{i:012d}"
            content = audit._canonical(
                at=at.isoformat(),
                actor_id=None,
                actor_username="bench",
                action="view",
                object_type="client",
                object_id=object_id,
                ip_address="127.0.0.1",
                details=details,
                prev_hash=prev,
            )
            h = audit._digest(content)
            rows.append((at, None, "bench", "view", "client", object_id, "127.0.0.1", json.dumps(details), prev, h))
            prev = h
            if len(rows) == BATCH:
                _insert(cursor, rows)
                rows = []
        if rows:
            _insert(cursor, rows)
    return n - have


def _insert(cursor, rows) -> None:
    execute_values(
        cursor.cursor,
        "INSERT INTO screening_auditevent (at, actor_id, actor_username, action, object_type, object_id, "
        "ip_address, details, prev_hash, hash) VALUES %s",
        rows,
        page_size=BATCH,
    )


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("Run against PostgreSQL: set DATABASE_URL (see the docstring).")
    print(machine())
    start = time.perf_counter()
    added = top_up(N)
    print(
        f"inserted {added:,} events with a valid chain in {time.perf_counter() - start:.1f} s "
        f"(total {AuditEvent.objects.count():,})"
    )
    connection.close()
    for workers in (1, 2):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "manage.py", "verify_audit", "--no-record", "--workers", str(workers)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=os.environ,
        )
        wall = time.perf_counter() - start
        print(
            f"verify_audit --workers {workers}: exit {proc.returncode} in {wall:.1f} s wall (process start to exit): "
            f"{(proc.stdout or proc.stderr).strip()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
