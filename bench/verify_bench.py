"""The auditor page's "Verify now" over 1,000,000 audit events on PostgreSQL, with 10,000 after the latest
signed checkpoint (issue 12 goal: under 1 s), and the full `verify_audit` timed in the same run as the reference.

The chain is built with bench/audit_bench.py's fast path (valid hashes, bulk INSERTs) up to BENCH_EVENTS
(default 1,000,000) less BENCH_AFTER (default 10,000); a checkpoint is signed (`anchors.checkpoint`, also
appended to a file); then BENCH_AFTER more events are added. A rerun tops the chain up the same way, so the
checkpoint always has BENCH_AFTER events after it. Timed, BENCH_ROUNDS times (default 3), each figure printed:

  web verify (function)  `audit.verify_from_checkpoint()`: what the page's POST runs
  web verify (POST)      the page's POST through Django's test client, signed in as an auditor: the check, its
                         `verify` event and the redirect (the events after the checkpoint grow by one a round)

first on the freshly inserted table, then after `VACUUM ANALYZE` (what autovacuum leaves in service); then
`anchors.checkpoint()` itself (what each export's end adds); then the references, each a process, wall time from
start to exit: `verify_audit --no-record --workers 1`, `--workers 2`, and `--workers 2 --anchor FILE`. Run:

    psql -h 127.0.0.1 -U postgres -c 'create database iop_a12_bench'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_a12_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_a12_bench .venv/bin/python bench/verify_bench.py

Prints the machine it ran on (and the load average before each timing) with the figures.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")
os.environ["MFA_REQUIRED"] = "false"  # the bench's auditor has no second factor; the check is the same

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Permission, User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from bench.audit_bench import top_up  # noqa: E402
from bench.machine import machine  # noqa: E402
from screening import anchors, audit  # noqa: E402
from screening.models import AuditEvent  # noqa: E402

N = int(os.environ.get("BENCH_EVENTS", 1_000_000))
AFTER = int(os.environ.get("BENCH_AFTER", 10_000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def build(anchor_file: Path) -> None:
    start = time.perf_counter()
    if AuditEvent.objects.count() < N - AFTER:
        top_up(N - AFTER)
    anchor = anchors.checkpoint(append=anchor_file)
    top_up(AuditEvent.objects.count() + AFTER)
    print(
        f"built in {time.perf_counter() - start:.1f} s: {AuditEvent.objects.count():,} events; checkpoint of "
        f"{anchor.length:,} events up to #{anchor.event_id}, then {anchors.events_after(anchor.event_id):,} after it",
        flush=True,
    )


def auditor_client() -> Client:
    user, _ = User.objects.get_or_create(username="bench-auditor")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_auditevent", "verify_audit"], content_type__app_label="screening")
    )
    client = Client()
    client.force_login(user)
    return client


def time_web_verify(client: Client, label: str) -> None:
    for i in range(1, ROUNDS + 1):
        before = load()
        start = time.perf_counter()
        result = audit.verify_from_checkpoint()
        took = time.perf_counter() - start
        print(
            f"{label} round {i}: web verify (function) {took:.3f} s — ok={result.ok}, {result.checked:,} events "
            f"checked after the checkpoint of {result.checkpoint['length']:,} ({before})",
            flush=True,
        )
        before = load()
        start = time.perf_counter()
        response = client.post(reverse("audit_verify"))
        took = time.perf_counter() - start
        details = audit.last_verification().details
        print(
            f"{label} round {i}: web verify (POST) {took:.3f} s — HTTP {response.status_code}, ok={details['ok']}, "
            f"{details['checked']:,} events checked ({before})",
            flush=True,
        )


def time_checkpoint() -> None:
    """What every export's end and each due housekeeping run adds: one checkpoint (a COUNT of the chain)."""
    for i in range(1, ROUNDS + 1):
        before = load()
        start = time.perf_counter()
        anchor = anchors.checkpoint()
        took = time.perf_counter() - start
        print(f"round {i}: anchors.checkpoint() {took:.3f} s — {anchor.length:,} events ({before})", flush=True)


def time_command(*args: str) -> None:
    before = load()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--no-record", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    wall = time.perf_counter() - start
    out = " ".join((proc.stdout + proc.stderr).split())
    print(f"verify_audit --no-record {' '.join(args)}: exit {proc.returncode} in {wall:.1f} s wall ({before}): {out}")


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("Run against PostgreSQL: set DATABASE_URL (see the docstring).")
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        anchor_file = Path(tmp) / "anchors.jsonl"
        build(anchor_file)
        client = auditor_client()
        time_web_verify(client, "fresh table")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE screening_auditevent")
        time_web_verify(client, "after VACUUM ANALYZE")
        time_checkpoint()  # after the web verify: it moves the latest checkpoint to the end of the chain
        connection.close()
        time_command("--workers", "1")
        time_command("--workers", "2")
        time_command("--workers", "2", "--anchor", str(anchor_file))


if __name__ == "__main__":
    main()
