"""What-if replay over every stored screening, as the web runs it: a background job (`replay_jobs.run_job`, the
function a server's thread runs, with its count, its progress write after every page and its result), side by side
with its two references, in one run, on the same rows:

- **read**: the same keyset pages read and dropped (`replay.pages`): what the database and the driver cost alone;
- **evaluate**: parse and evaluate the same snapshots already in memory, on one core (`replay_eval.evaluate_page`
  over pages held in a list): what the rules cost alone;
- **job, N processes**: the job as configured (`REPLAY_PROCESSES`, default 2; its worker processes at a lower
  CPU priority than everything else on the machine), then the job over the last 30 days only (a narrow range of a
  large table);
- **command, --workers N**: `manage.py replay_rules --json` in its own process, timed from its start: the same code
  at normal priority, as an admin would run it on the server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_bench .venv/bin/python bench/replay_bench.py

Each method runs `BENCH_ROUNDS` times (default 3), alternating; the best and the median are printed. It checks that
every method counts the same rows, that the job and the command give the same result, and that the replay changed no
stored row. The job rows it makes are deleted at the end (they are not audit events: `run_job` is called directly).
On a database not yet migrated to the ReplayJob table (0019), the whole run is one transaction that creates that
table and is rolled back at the end (PostgreSQL's DDL is transactional), so the database is left as it was.
Goal (issue 15): 1,000,000 screenings in under 30 s.
"""

import contextlib
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")

# A replay's worker processes are spawned, and spawn imports this file again (as __mp_main__) in each: Django is set
# up and the app imported only in the process that runs the benchmark, as in an app server.
if __name__ == "__main__":
    import django

    django.setup()

    from django.conf import settings
    from django.db import connection, transaction
    from django.db.models import Max, Min
    from django.utils import timezone

    from bench.machine import machine
    from screening import replay, replay_eval, replay_jobs
    from screening.models import ReplayJob, Screening

VERSION = os.environ.get("BENCH_VERSION", "2027.01")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
GOAL_S = 30.0


def fingerprint() -> tuple:
    """A cheap summary of the stored recommendations, to show replay changed none of them."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), sum(hashtext(recommended_level || rules_version || recommendation::text)),"
            " max(updated_at) FROM screening_screening"
        )
        return cur.fetchone()


def read_only(queryset) -> int:
    return sum(len(page) for page in replay.pages(queryset.completed_or_signed(), replay.PAGE_SIZE))


def job(since, until, processes: int) -> tuple[dict, int]:
    """One replay job from claim to done, as a server's thread runs it; its result and its progress writes."""
    settings.REPLAY_PROCESSES = processes
    row = ReplayJob.objects.create(since=since, until=until, version=VERSION)
    beats = 0
    real_beat = replay_jobs._beat

    def counting_beat(pk, done, **more):
        nonlocal beats
        beats += 1
        return real_beat(pk, done, **more)

    replay_jobs._beat = counting_beat
    try:
        assert replay_jobs.claim(row) is not None, "another replay job is running on this database"
        replay_jobs.run_job(row.pk)
    finally:
        replay_jobs._beat = real_beat
    row.refresh_from_db()
    assert row.status == ReplayJob.Status.DONE, (row.status, row.error)
    return row.result, beats


class _Rollback(Exception):
    pass


@contextlib.contextmanager
def job_table():
    """The ReplayJob table: the migrated one, or one made for this run in a transaction rolled back at the end."""
    if ReplayJob._meta.db_table in connection.introspection.table_names():
        yield "migrated"
        return
    try:
        with transaction.atomic():
            with connection.schema_editor() as editor:
                editor.create_model(ReplayJob)
            yield "made for this run, in one transaction rolled back at the end"
            raise _Rollback
    except _Rollback:
        pass


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the ended worker processes and commands, waited for
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU seconds of a process on this machine (the database backend of this connection), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command(since, until, workers: int) -> dict:
    """`manage.py replay_rules --json` as an admin runs it on the server: its own process, timed from its start."""
    args = ["--since", since.isoformat(), "--until", until.isoformat(), "--version", VERSION]
    cmd = [sys.executable, "manage.py", "replay_rules", *args, "--json", "--workers", str(workers)]
    return json.loads(subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True, text=True).stdout)


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL (see the docstring).")
    with job_table() as table:
        run(table)


def run(table: str) -> None:
    span = Screening.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    since = timezone.localtime(span["first"]).date()
    until = timezone.localtime(span["last"]).date()
    queryset = replay.in_range(None, None)
    configured = settings.REPLAY_PROCESSES or 2
    load = os.getloadavg()[0]
    before = fingerprint()
    started_ids = set(ReplayJob.objects.values_list("pk", flat=True))

    backend = connection.cursor().connection.get_backend_pid()

    def timed(method, *args):
        """Wall seconds and the result; CPU seconds of this process, of its worker processes (and of the command's
        process and its workers), and of this connection's database backend go to `cpu`."""
        before = (time.process_time(), _children_cpu(), _process_cpu(backend))
        t0 = time.perf_counter()
        out = method(*args)
        seconds = time.perf_counter() - t0
        after = (time.process_time(), _children_cpu(), _process_cpu(backend))
        cpu.append(tuple(b - a for a, b in zip(before, after, strict=True)))
        return seconds, out

    def evaluate_only():
        # Every page read first (not timed), evaluated from memory, then let go: a heap this size would make the
        # garbage collector's full passes slower for the methods timed after it.
        held = [[(level, text) for _, _, level, text in page] for page in replay.pages(queryset, replay.PAGE_SIZE)]
        return timed(lambda: sum(replay_eval.evaluate_page(page, VERSION).total for page in held))

    times: dict[str, list[float]] = {}
    cpus: dict[str, list[tuple]] = {}
    cpu: list[tuple] = []
    results: dict[str, object] = {}
    methods = {
        "read (reference)": lambda: timed(read_only, queryset),
        "evaluate in memory, 1 core (reference)": evaluate_only,
        f"job, {configured} processes": lambda: timed(job, since, until, configured),
        f"command, --workers {configured}": lambda: timed(command, since, until, configured),
    }
    for r in range(ROUNDS):
        order = list(methods.items())
        order = order[r % len(order) :] + order[: r % len(order)]  # rotate, so noise falls on each alike
        for name, method in order:
            seconds, out = method()
            times.setdefault(name, []).append(seconds)
            cpus.setdefault(name, []).append(cpu.pop())
            results[name] = out
    # A narrow range of the large table: the last 30 days, as a job.
    slice_since = until - dt.timedelta(days=29)
    slice_times = []
    for _ in range(ROUNDS):
        seconds, (slice_result, _) = timed(job, slice_since, until, configured)
        slice_times.append(seconds)
        cpu.pop()
    after = fingerprint()
    assert before == after, "replay changed stored rows"
    ReplayJob.objects.exclude(pk__in=started_ids).delete()

    many, beats = results[f"job, {configured} processes"]
    by_command = results[f"command, --workers {configured}"]
    same = ("total", "changed", "unreadable", "matrix")
    assert all(many[k] == by_command[k] for k in same), "the job and the command disagree"
    assert many["changed_screenings"][:100] == by_command["changed_screenings"], "the job and the command disagree"
    total = many["total"]
    assert results["read (reference)"] == total == results["evaluate in memory, 1 core (reference)"]

    print(f"machine: {machine()}")
    print(f"ReplayJob table: {table}")
    print(f"load average (1 min) at the start: {load:.2f}, at the end: {os.getloadavg()[0]:.2f}")
    print(
        f"database: PostgreSQL, {Screening.objects.count():,} screenings, {total:,} completed or signed "
        f"from {since} to {until}; version {VERSION}; {ROUNDS} rounds, rotating order"
    )
    print(f"{'':<42} {'wall':>17} {'':>14}   CPU seconds, best round: this process + workers + database")
    print(f"{'method':<42} {'best':>8} {'median':>8} {'rows/s (best)':>14}   {'app':>6} {'workers':>8} {'db':>6}")
    for name, ts in times.items():
        best = min(ts)
        app, workers, db = cpus[name][ts.index(best)]
        db_cell = "   n/a" if name.startswith("command") else f"{db:>6.1f}"  # its own connection
        print(
            f"{name:<42} {best:>7.1f}s {statistics.median(ts):>7.1f}s {total / best:>14,.0f}   "
            f"{app:>6.1f} {workers:>8.1f} {db_cell}"
        )
    print(
        f"{'job, last 30 days, ' + str(configured) + ' processes':<42} {min(slice_times):>7.1f}s "
        f"{statistics.median(slice_times):>7.1f}s {slice_result['total'] / min(slice_times):>14,.0f}"
        f"   ({slice_result['total']:,} screenings from {slice_since})"
    )
    best_job = min(times[f"job, {configured} processes"])
    print(
        f"job result: {many['changed']:,} would change, {many['unreadable']} unreadable; {beats} progress writes "
        f"(one per page of {replay.PAGE_SIZE:,}, and the count)"
    )
    print("matrix (stored → replayed): " + str(many["matrix"]))
    print("stored rows unchanged: yes (count, hash of level+version+recommendation, max updated_at)")
    verdict = "met" if best_job < GOAL_S else "NOT met"
    print(f"goal: {total:,} screenings in under {GOAL_S:.0f} s as a job with {configured} processes — {verdict}")


if __name__ == "__main__":
    main()
