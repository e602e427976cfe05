"""`manage.py export_audit` over 1,000,000 audit events on PostgreSQL, beside a bare COPY (issue 12 goal: within
2x of the COPY, peak memory under 150 MB).

The database is filled by bench/audit_bench.py's inserter (a valid chain, bulk INSERTs; a rerun tops it up),
then given a signed checkpoint every 10,000 events, as the housekeeping command would make them. Then, each
in its own process, BENCH_ROUNDS times (default 3), the order rotating each round; the median is reported with
every run's seconds:

  COPY   the reference: `COPY (SELECT id, at, actor_username, action, object_type, object_id, ip_address,
         details, prev_hash, hash FROM screening_auditevent ORDER BY id) TO STDOUT WITH CSV HEADER`
  csv    `manage.py export_audit --format csv` (its events and checkpoints included)
  jsonl  `manage.py export_audit --format jsonl`

Output goes to /dev/null; the size is what each process reports. Wall time from process start to exit (Django
set up in every process, the COPY's too), peak RSS from os.wait4. Last, one JSON Lines export is written to a
file and checked by tools/verify_audit_export.py with the public key (its time and result printed). Run:

    BENCH_DATABASE=postgres://postgres@127.0.0.1:5432/iop_audit_export_bench .venv/bin/python bench/audit_export_bench.py

The database is created and migrated when missing. Prints the machine it ran on with the figures.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE = os.environ.get("BENCH_DATABASE", "postgres://postgres@127.0.0.1:5432/iop_audit_export_bench")
os.environ["DATABASE_URL"] = DATABASE
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")

import psycopg2  # noqa: E402

from bench.machine import machine  # noqa: E402

PY = sys.executable
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
METHODS = os.environ.get("BENCH_METHODS", "COPY csv jsonl").split()
EVERY = 10_000  # events between checkpoints
SETUP = (
    f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); "
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'iop_screening.settings'); import django; django.setup()\n"
)
COPY = (
    SETUP
    + """
from django.db import connection

class Count:
    size = 0

    def write(self, data):
        self.size += len(data)

out = Count()
with connection.cursor() as cursor:
    cursor.copy_expert(
        "COPY (SELECT id, at, actor_username, action, object_type, object_id, ip_address, details, prev_hash, hash "
        "FROM screening_auditevent ORDER BY id) TO STDOUT WITH CSV HEADER",
        out,
    )
    print(f"Exported {cursor.rowcount} rows ({out.size} bytes)")
"""
)


def ensure_database() -> None:
    base, name = DATABASE.rsplit("/", 1)
    conn = psycopg2.connect(f"{base}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')  # the bench's own setting, not input
    conn.close()
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)


def fill() -> None:
    """Top the chain up to BENCH_EVENTS with audit_bench's inserter, then sign a checkpoint every EVERY events."""
    import base64

    from bench import audit_bench  # sets Django up on DATABASE_URL
    from screening import anchors
    from screening.models import AuditAnchor, AuditEvent

    start = time.perf_counter()
    added = max(audit_bench.top_up(audit_bench.N), 0)  # a chain already longer is left as it is
    print(f"inserted {added:,} events with a valid chain in {time.perf_counter() - start:.1f} s", flush=True)
    if AuditAnchor.objects.exists():
        return
    private = anchors._private_key()
    kid = anchors.key_id(anchors.public_key_bytes(private))
    rows, length, last = [], 0, 0
    while batch := list(AuditEvent.objects.filter(id__gt=last).order_by("id").values_list("id", "hash", "at")[:EVERY]):
        length += len(batch)
        last, h, at = batch[-1]
        if len(batch) == EVERY:
            at = at.isoformat()
            signed = anchors.message(length=length, event_id=last, event_hash=h, at=at)
            signature = base64.b64encode(private.sign(signed)).decode()
            rows.append(AuditAnchor(length=length, event_id=last, event_hash=h, at=at, key_id=kid, signature=signature))
    AuditAnchor.objects.bulk_create(rows)
    print(f"signed {len(rows)} checkpoints, one every {EVERY:,} events", flush=True)


def prepare() -> None:
    """In a child process (`--prepare`): fill, update the planner's statistics as autovacuum would after a bulk
    load, and print the public key last."""
    fill()
    from django.db import connection

    from screening import anchors

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE screening_auditevent")
    print(anchors.public_key_b64())


def run(method: str, output: str = os.devnull) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and MB written by one run of one method."""
    argv = [PY, "-c", COPY] if method == "COPY" else [PY, "manage.py", "export_audit", "--format", method]
    if method != "COPY":
        argv += ["--output", output]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{method} failed:\n{err[-2000:]}")
    size = int(re.search(r"\((\d+) bytes", out + err).group(1))
    return wall, usage.ru_maxrss / 1024, size / 1e6


def check_a_file(key: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.jsonl"
        wall, rss, size = run("jsonl", str(path))
        argv = [PY, str(ROOT / "tools" / "verify_audit_export.py"), str(path), "--public-key", key]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # a few lines: no pipe fills
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        lines = (proc.stdout.read() + proc.stderr.read()).decode().strip().splitlines()
    print(f"export_audit --format jsonl to a file: {wall:.1f} s, {rss:.0f} MB peak RSS, {size:.0f} MB")
    print(
        f"tools/verify_audit_export.py on it: exit {os.waitstatus_to_exitcode(status)} in {took:.1f} s, "
        f"{usage.ru_maxrss / 1024:.0f} MB peak RSS: {lines[1]} / {lines[-1]}"
    )


def main() -> None:
    # This process never sets Django up: a child's peak RSS (os.wait4) counts its parent's pages up to its exec.
    ensure_database()
    print(machine())
    prepared = subprocess.run([PY, __file__, "--prepare"], cwd=ROOT, check=True, capture_output=True, text=True)
    *lines, key = prepared.stdout.strip().splitlines()
    print("\n".join(lines), flush=True)
    print(f"{ROUNDS} rounds per method, order rotating each round; median, then every run's seconds")
    print(f"{'method':<7} {'seconds':>8} {'peak RSS MB':>12} {'MB out':>8}  ratio      [runs]")
    runs = {m: [] for m in METHODS}
    for r in range(ROUNDS):
        for m in METHODS[r % len(METHODS) :] + METHODS[: r % len(METHODS)]:
            runs[m].append(run(m))
    med = {m: [statistics.median(v[i] for v in runs[m]) for i in range(3)] for m in METHODS}
    for m in METHODS:
        wall, rss, size = med[m]
        ratio = f"{wall / med['COPY'][0]:.2f}x COPY" if m != "COPY" and "COPY" in med else ""
        every = " ".join(f"{v[0]:.1f}" for v in runs[m])
        print(f"{m:<7} {wall:>8.1f} {rss:>12.0f} {size:>8.0f}  {ratio:<10} [{every}]", flush=True)
    check_a_file(key)


if __name__ == "__main__":
    prepare() if sys.argv[1:] == ["--prepare"] else main()
