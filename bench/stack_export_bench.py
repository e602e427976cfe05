"""A 1,000,000-row identified CSV export through the production stack (issue 13, item 6), beside the same export
by `manage.py export_records` straight to PostgreSQL, in one run.

The stack's database is a copy of a `make bench-data` database (BENCH_SOURCE, default iop_bench: 1,000,000 signed
screenings), made once as STACK_DB (default iop_stack_1m) and given to the stack's owner role, so the stack runs
as in production: nginx → two gunicorn app servers → PgBouncer (transaction mode, no server-side cursors) → the
application role. An auditor signs in through nginx and downloads the export page's identified CSV of every
date; the bytes are counted as they arrive (nothing is kept). Reported: wall time, bytes, rows, and the time of
`manage.py export_records --format csv` on the same database (owner role, straight to PostgreSQL) for reference;
BENCH_ROUNDS rounds (default 2), alternating which goes first.

    .venv/bin/python bench/stack_export_bench.py      # uses STACK_PORT etc. like deploy/stack.sh; starts and stops it
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.load.journey import CSRF, Http, sign_in  # noqa: E402
from bench.machine import machine  # noqa: E402

PY = sys.executable
PG = os.environ.get("STACK_PG", "postgres://postgres@127.0.0.1:5432")
SOURCE = os.environ.get("BENCH_SOURCE", "iop_bench")
DB = os.environ.setdefault("STACK_DB", "iop_stack_1m")
OWNER = f"{DB}_owner"
HOST = urllib.parse.urlsplit(PG)
OWNER_URL = f"postgres://{OWNER}@{HOST.hostname}:{HOST.port or 5432}/{DB}"
STACK = f"http://127.0.0.1:{os.environ.setdefault('STACK_PORT', '8080')}"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))

GIVE_TO_OWNER = """
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v', 'm')
             -- a sequence that belongs to a column goes with its table
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
    EXECUTE format('ALTER %s public.%I OWNER TO %I',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
      r.relname, '{owner}');
  END LOOP;
END $$;
"""


def psql(db: str, *sql: str) -> str:
    args = ["psql", f"{PG}/{db}", "-qtAX", "-v", "ON_ERROR_STOP=1"]
    for s in sql:
        args += ["-c", s]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def prepare() -> None:
    if psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{DB}'"):
        return
    print(f"== copying {SOURCE} to {DB} (once) and giving it to {OWNER}", flush=True)
    if not psql("postgres", f"SELECT 1 FROM pg_roles WHERE rolname = '{OWNER}'"):
        psql("postgres", f'CREATE ROLE "{OWNER}" LOGIN CREATEROLE')
    for attempt in range(120):  # a template must have no other connection: wait for other benchmarks' to end
        try:
            psql("postgres", f'CREATE DATABASE "{DB}" TEMPLATE "{SOURCE}" OWNER "{OWNER}"')
            break
        except subprocess.CalledProcessError as e:
            if "being accessed by other users" not in e.stderr or attempt == 119:
                raise
            time.sleep(5)
    try:
        psql(DB, GIVE_TO_OWNER.format(owner=OWNER), f'ALTER SCHEMA public OWNER TO "{OWNER}"')
        psql("postgres", f"ALTER DATABASE \"{DB}\" SET timezone TO 'UTC'")
    except subprocess.CalledProcessError:
        psql("postgres", f'DROP DATABASE "{DB}"')  # made again next time, not left half given
        raise


def through_stack(password: str, username: str) -> tuple[float, int, int]:
    http = Http(requests.Session(), STACK)
    sign_in(http, username, password)
    page = http.get("/audit/exports/")
    data = {"format": "csv", "deidentified": "no", "since": "2000-01-01", "until": "2999-12-31"}
    started = time.perf_counter()
    size = lines = 0
    with http.session.post(
        STACK + "/audit/exports/",
        data={"csrfmiddlewaretoken": CSRF.search(page.text).group(1), **data},
        headers={"Referer": STACK + "/audit/exports/"},
        stream=True,
        timeout=600,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 20):
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines - 2  # the 42 CFR Part 2 notice line and the header


def direct() -> float:
    started = time.perf_counter()
    subprocess.run(
        [PY, "manage.py", "export_records", "--format", "csv", "--output", os.devnull],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": OWNER_URL},
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    print(machine())
    prepare()
    subprocess.run(
        ["deploy/stack.sh", "start"], cwd=ROOT, check=True, env={**os.environ, "STACK_MFA_REQUIRED": "false"}
    )
    try:
        password, username = secrets.token_urlsafe(18), f"bench_audit_{secrets.token_hex(3)}"
        subprocess.run(
            [PY, "manage.py", "create_user", username, "--role", "auditor", "--password-env", "BENCH_PASSWORD"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": OWNER_URL, "BENCH_PASSWORD": password},
            check=True,
        )
        stack_times, direct_times = [], []
        for n in range(ROUNDS):
            order = ("stack", "direct") if n % 2 == 0 else ("direct", "stack")
            for which in order:
                if which == "stack":
                    seconds, size, rows = through_stack(password, username)
                    stack_times.append(seconds)
                    print(f"   through nginx: {seconds:.1f} s, {size / 1e6:.0f} MB, {rows:,} rows", flush=True)
                else:
                    direct_times.append(direct())
                    print(f"   manage.py export_records: {direct_times[-1]:.1f} s", flush=True)
        s, d = statistics.median(stack_times), statistics.median(direct_times)
        print(
            f"median: through nginx and gunicorn {s:.1f} s; the command straight to PostgreSQL {d:.1f} s; ratio {s / d:.2f}"
        )
    finally:
        subprocess.run(["deploy/stack.sh", "stop"], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
