"""What-if replay as a bounded background job (issue 13, item 6): started by an admin, run in a thread of the app
server that took the request, its state, progress and result in the database (`ReplayJob`), so any app server
shows it and nothing depends on a database session outliving a transaction (PgBouncer in transaction mode).

- **Bounded**: at most `REPLAY_MAX_RUNNING` jobs run at once across every server. A job moves from queued to
  running only in `claim()`, one transaction that counts the running jobs under a transaction-scoped advisory lock
  (on SQLite every transaction already holds the write lock), so two servers cannot both take the last slot.
  The others wait, queued (at most `MAX_QUEUED`; beyond that starting one is refused with a message).
- **Queued jobs start** when a slot frees: the thread that finishes a job takes the oldest queued one, and any
  server that shows a queued job (its page, its progress) tries to claim it — so a queue never waits on a
  server that died.
- **Progress and heartbeat**: the running server writes `done` and `heartbeat_at` after every page (one short
  statement). A running job whose heartbeat is older than `REPLAY_STALE_SECONDS` lost its server: it reads as
  interrupted, the next `claim()` marks it so (freeing its slot), and if its thread was only slow, its next
  write finds it no longer running and it stops.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import audit, replay
from .audit import AuditContext
from .models import AuditEvent, ReplayJob
from .selectors import DateRange

logger = logging.getLogger(__name__)

MAX_QUEUED = 10
KEEP = 200  # changed screenings described in a job's result, newest first
# A job's worker processes run below the app server's priority: a replay takes the CPU the requests leave.
NICENESS = 10
_LOCK_KEY = 0x0E91A7  # the PostgreSQL advisory lock that serializes claims
Status = ReplayJob.Status


class Busy(Exception):
    """Too many replays are already waiting."""


def stale_before(now: dt.datetime | None = None) -> dt.datetime:
    """A running job whose heartbeat is older than this has lost its server."""
    return (now or timezone.now()) - dt.timedelta(seconds=settings.REPLAY_STALE_SECONDS)


def shown_status(job: ReplayJob, now: dt.datetime | None = None) -> str:
    """The job's status as it should be shown: a running job without a recent heartbeat is interrupted."""
    if job.status == Status.RUNNING and (job.heartbeat_at is None or job.heartbeat_at < stale_before(now)):
        return Status.INTERRUPTED
    return job.status


def start(
    *, actor, context: AuditContext | None, since: dt.date, until: dt.date, version: str
) -> tuple[ReplayJob, bool]:
    """Queue a replay of the screenings started from `since` to `until` (inclusive) under `version`, audited, and start
    it here if a slot is free. An identical replay still queued or running is returned instead: (job, created)."""
    with transaction.atomic():
        _lock()
        unfinished = ReplayJob.objects.filter(since=since, until=until, version=version)
        same = unfinished.filter(status=Status.QUEUED) | unfinished.filter(
            status=Status.RUNNING, heartbeat_at__gte=stale_before()
        )
        existing = same.order_by("created_at", "id").first()
        if existing is not None:
            return existing, False
        if ReplayJob.objects.filter(status=Status.QUEUED).count() >= MAX_QUEUED:
            raise Busy(f"{MAX_QUEUED} replays are already waiting to start. Try again when one of them has finished.")
        job = ReplayJob.objects.create(requested_by=actor, since=since, until=until, version=version)
        audit.record(
            action=AuditEvent.Action.CREATE,
            actor=actor,
            context=context,
            obj=job,
            object_type="replay",
            details={"since": str(since), "until": str(until), "version": version},
        )
    kick()
    job.refresh_from_db()
    return job, True


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def claim(job: ReplayJob | None = None) -> ReplayJob | None:
    """Move `job` (or the oldest queued job) from queued to running if fewer than REPLAY_MAX_RUNNING jobs are running;
    the job claimed, or None. Jobs whose server stopped beating are marked interrupted first."""
    with transaction.atomic():
        _lock()
        now = timezone.now()
        ReplayJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale_before(now)).update(
            status=Status.INTERRUPTED, finished_at=now
        )
        if ReplayJob.objects.filter(status=Status.RUNNING).count() >= settings.REPLAY_MAX_RUNNING:
            return None
        queued = ReplayJob.objects.filter(status=Status.QUEUED)
        candidate = queued.filter(pk=job.pk) if job is not None else queued.order_by("created_at", "id")[:1]
        pk = candidate.values_list("pk", flat=True).first()
        if pk is None or not ReplayJob.objects.filter(pk=pk, status=Status.QUEUED).update(
            status=Status.RUNNING, started_at=now, heartbeat_at=now
        ):
            return None
    return ReplayJob.objects.get(pk=pk)


def kick(job: ReplayJob | None = None) -> None:
    """Start `job` (or the queued jobs, oldest first) in threads of this process, as far as the bound allows."""
    if job is not None:
        if job.status == Status.QUEUED and (claimed := claim(job)) is not None:
            launch(claimed)
        return
    while (claimed := claim()) is not None:
        launch(claimed)


def launch(job: ReplayJob) -> None:
    """Run a claimed job in a thread of this process (tests replace this to run it in their own thread)."""
    threading.Thread(target=_thread_main, args=(job.pk,), name=f"replay-{job.public_id}", daemon=True).start()


def _thread_main(pk: int) -> None:
    try:
        work(pk)
    except Exception:  # e.g. the database went away: the job's heartbeat stops, so it will read as interrupted
        logger.exception("replay thread for job %s stopped", pk)
    finally:
        connection.close()  # this thread's own connection; no request will close it


def work(pk: int) -> None:
    """Run the claimed job `pk`, then each queued job that this slot can take, one after the other."""
    while pk is not None:
        run_job(pk)
        following = claim()
        pk = following.pk if following is not None else None


def _beat(pk: int, done: int, **more) -> bool:
    """Write progress and the heartbeat; False if the job is no longer running (marked interrupted elsewhere)."""
    return bool(
        ReplayJob.objects.filter(pk=pk, status=Status.RUNNING).update(done=done, heartbeat_at=timezone.now(), **more)
    )


def run_job(pk: int) -> None:
    """Replay one running job to its end: done with its result, failed, or stopped when no longer running."""
    job = ReplayJob.objects.get(pk=pk)
    try:
        dates = DateRange(job.since, job.until)
        queryset = replay.in_range(dates.since, dates.until)
        if not _beat(pk, 0, total=queryset.count()):
            return
        result = replay.run(
            queryset,
            job.version,
            keep=KEEP,
            processes=settings.REPLAY_PROCESSES,
            progress=lambda done: _beat(pk, done),
            niceness=NICENESS,
        )
    except replay.Stopped:
        logger.warning("replay %s stopped: it was marked interrupted while running", job.public_id)
        return
    except Exception as exc:
        logger.exception("replay %s failed", job.public_id)
        now = timezone.now()
        ReplayJob.objects.filter(pk=pk, status=Status.RUNNING).update(
            status=Status.FAILED, error=type(exc).__name__[:200], finished_at=now, heartbeat_at=now
        )
        return
    now = timezone.now()
    ReplayJob.objects.filter(pk=pk, status=Status.RUNNING).update(
        status=Status.DONE,
        done=result.total,
        total=result.total,
        result=result.to_json(),
        finished_at=now,
        heartbeat_at=now,
    )
