"""What-if replay pages (issues 4, 13, 15): start a replay (a background job, `replay_jobs`), follow its progress,
read its result. Every page needs `screening.review_history` (the admin role). A job is addressed by its opaque
UUID; its page and its progress read the database only, so any app server answers them."""

from __future__ import annotations

import datetime as dt

from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from .. import replay_jobs, rules
from ..dashboard import LEVEL_LABELS
from ..forms import ReplayForm
from ..models import ReplayJob
from ..replay import ReplayResult
from . import record_view, requires

review_required = requires("screening.review_history")

RECENT_JOBS = 10
POLL_SECONDS = 2
Status = ReplayJob.Status


def _default_range(today: dt.date) -> dict[str, str]:
    return {"start": (today - dt.timedelta(days=89)).isoformat(), "end": today.isoformat()}


def _recent_jobs() -> list[ReplayJob]:
    jobs = list(ReplayJob.objects.select_related("requested_by").defer("result")[:RECENT_JOBS])
    now = timezone.now()
    for job in jobs:
        job.shown = replay_jobs.shown_status(job, now)
    return jobs


@review_required
@require_http_methods(["GET", "POST"])
def replay(request):
    """The form (a GET may prefill it from the address) and the recent replays; a valid POST starts a replay."""
    if request.method == "POST":
        form = ReplayForm(request.POST)
    else:
        prefill = {k: request.GET[k] for k in ("start", "end", "version") if k in request.GET}
        form = ReplayForm(initial={**_default_range(timezone.localdate()), "version": rules.RULES_VERSION, **prefill})
    busy = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job, _ = replay_jobs.start(
                actor=request.user,
                context=request.audit,
                since=data["start"],
                until=data["end"],
                version=data["version"],
            )
        except replay_jobs.Busy as exc:
            busy = str(exc)
        else:
            return redirect("replay_job", public_id=job.public_id)
    replay_jobs.kick()  # a queued replay whose slot was freed by a server that died starts here
    context = {
        "form": form,
        "busy": busy,
        "jobs": _recent_jobs(),
        "versions": [(v, rs.description) for v, rs in rules.RULE_SETS.items()],
        "status": Status,
    }
    return render(request, "screening/review_replay.html", context)


def _job_or_404(public_id) -> ReplayJob:
    job = get_object_or_404(ReplayJob.objects.select_related("requested_by"), public_id=public_id)
    if job.status == Status.QUEUED:
        replay_jobs.kick(job)
        job.refresh_from_db()
    return job


@review_required
@require_GET
def replay_job(request, public_id):
    """One replay: its progress while it waits or runs (the page follows it), then its result (audited)."""
    job = _job_or_404(public_id)
    shown = replay_jobs.shown_status(job)
    result = ReplayResult.from_json(job.result) if shown == Status.DONE and job.result else None
    if result is not None:
        details = {"job": str(job.public_id), "version": job.version, "since": str(job.since), "until": str(job.until)}
        record_view(
            request, object_type="replay", details={**details, "total": result.total, "changed": result.changed}
        )
    context = {
        "job": job,
        "shown": shown,
        "result": result,
        "levels": LEVEL_LABELS,
        "status": Status,
        "waiting": shown in (Status.QUEUED, Status.RUNNING),
        "poll_seconds": POLL_SECONDS,
        "description": rules.RULE_SETS[job.version].description if job.version in rules.RULE_SETS else "",
    }
    return render(request, "screening/review_replay_job.html", context)


@review_required
@require_GET
def replay_progress(request, public_id):
    """The job's status and progress as JSON, for the job page's script: counts only, never a screening."""
    job = _job_or_404(public_id)
    shown = replay_jobs.shown_status(job)
    return JsonResponse(
        {"status": shown, "label": Status(shown).label, "done": job.done, "total": job.total, "percent": job.percent},
        headers={"Cache-Control": "no-store"},
    )
