"""Browser test of the what-if replay: started as a background job, followed on its page by the static script until
the result shows, with the reasons removed and added and the level finally decided; axe-checked at 1280 and 390 px."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from screening import replay_jobs
from screening.models import ReplayJob
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import UserFactory, make_screening

pytestmark = pytest.mark.django_db(transaction=True)


def days_ago(n: int, hour: int = 10) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=n)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def test_replay_job_runs_and_explains_each_change(page, sign_in, monkeypatch):
    if connection.vendor == "sqlite":
        # SQLite's shared in-memory test database fails a write that meets a read at once (table locks, no busy
        # wait): the job runs in the request's own thread there. On PostgreSQL (CI) it runs in a thread of its own.
        monkeypatch.setattr(replay_jobs, "launch", lambda job: replay_jobs.work(job.pk))
    UserFactory(username="director", role="admin")
    make_screening(ciwa_ar=12, pawss=1, created_at=days_ago(3), final_level="residential")
    make_screening(ciwa_ar=20, pawss=1, created_at=days_ago(4))
    make_screening(created_at=days_ago(5))
    sign_in("director")

    page.get_by_role("link", name="What-if replay").first.click()
    expect(page.get_by_text("Proposal for January 2027")).to_be_visible()
    assert_accessible(page)
    page.set_viewport_size({"width": 390, "height": 844})
    assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("Rule set version").select_option("2027.01")
    page.get_by_role("button", name="Replay").click()

    expect(page).to_have_url(re.compile(r"/review/replay/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("status")).to_contain_text("1 of 3 recommendations would change", timeout=60_000)
    row = page.get_by_role("row").filter(has_text="Review")
    expect(row).to_contain_text("CIWA-Ar")  # the reason that no longer holds, as the clinician saw it
    expect(row).to_contain_text("No need for medically supervised detox.")  # a reason that would hold
    expect(row.get_by_role("cell", name="Residential", exact=True)).to_be_visible()  # finally decided
    assert_accessible(page)
    screenshot(page, "admin-replay-result")
    page.set_viewport_size({"width": 390, "height": 844})
    assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Back to What-if replay").click()
    expect(page.get_by_role("table", name=re.compile("replays, newest first"))).to_contain_text("Done")
    screenshot(page, "admin-replay-form")


def test_replay_job_page_follows_a_running_job_until_done(page, sign_in):
    admin = UserFactory(username="director", role="admin")
    day = timezone.localdate()
    job = ReplayJob.objects.create(
        requested_by=admin,
        since=day,
        until=day,
        version="2027.01",
        status=ReplayJob.Status.RUNNING,
        done=400,
        total=1000,
    )
    ReplayJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    sign_in("director")

    page.goto(f"/review/replay/{job.public_id}/")
    expect(page.get_by_text("400 of 1,000 screenings (40%)")).to_be_visible()
    assert_accessible(page)
    ReplayJob.objects.filter(pk=job.pk).update(done=700, heartbeat_at=timezone.now())
    expect(page.get_by_text("700 of 1,000 screenings (70%)")).to_be_visible()  # updated by the script, no reload
    screenshot(page, "admin-replay-progress")
    result = {"version": "2027.01", "total": 1000, "changed": 0, "unchanged": 1000, "unreadable": 0}
    matrix = {a: {b: 0 for b in ("iop", "residential", "inpatient")} for a in ("iop", "residential", "inpatient")}
    ReplayJob.objects.filter(pk=job.pk).update(
        status=ReplayJob.Status.DONE, done=1000, result={**result, "matrix": matrix, "changed_screenings": []}
    )

    expect(page.get_by_role("status")).to_contain_text("0 of 1,000 recommendations would change")
    page.set_viewport_size({"width": 390, "height": 844})
    assert_accessible(page)
