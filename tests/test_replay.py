"""What-if replay: a hand-built set whose answer is known; the reasons and final level of each change; the command;
the background job (progress, the bound, interruption), its pages and who may see them; nothing stored changes."""

import datetime as dt
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from screening import replay, replay_eval, replay_jobs, rules
from screening.models import AuditEvent, ReplayJob, Screening
from tests.factories import UserFactory, make_screening

DAY = dt.date(2026, 10, 14)
Status = ReplayJob.Status


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def day_range(day: dt.date = DAY):
    return replay.in_range(at(day, 0), at(day + dt.timedelta(days=1), 0))


def rule_text(code: str, version: str = rules.RULES_VERSION) -> str:
    return next(text for rule, _, text in rules.rule_texts(version) if rule.code == code)


@pytest.fixture
def known(db):
    """Under 2026.11 → under 2027.01 (CIWA-Ar detox line 10 → 19):
    ciwa 12 inpatient → iop (changes; the clinician chose residential); ciwa 12 + unsafe home inpatient →
    residential (changes; completed, not decided yet); ciwa 20 inpatient → inpatient; baseline iop → iop; unsafe
    home residential → residential; ciwa 12 with PAWSS 5 stays inpatient (DETOX_PAWSS still holds)."""
    return {
        "to_iop": make_screening(ciwa_ar=12, pawss=1, created_at=at(DAY), final_level="residential"),
        "to_residential": make_screening(
            ciwa_ar=12, pawss=1, home_safe=False, created_at=at(DAY, 11), status=Screening.Status.COMPLETED
        ),
        "severe": make_screening(ciwa_ar=20, pawss=1, created_at=at(DAY, 12)),
        "iop": make_screening(created_at=at(DAY, 13)),
        "residential": make_screening(home_safe=False, created_at=at(DAY, 14)),
        "pawss": make_screening(ciwa_ar=12, pawss=5, created_at=at(DAY, 15)),
        "draft": make_screening(ciwa_ar=12, status=Screening.Status.DRAFT, created_at=at(DAY)),
        "outside": make_screening(ciwa_ar=12, pawss=1, created_at=at(DAY + dt.timedelta(days=1))),
    }


def stored():
    return [
        (s.pk, s.recommended_level, s.rules_version, s.recommendation, s.answers_snapshot, s.updated_at)
        for s in Screening.objects.order_by("pk")
    ]


@pytest.fixture
def inline_jobs(monkeypatch, settings):
    """Jobs run to the end in the caller's thread (and its test transaction) instead of a thread of their own."""
    settings.REPLAY_PROCESSES = 0
    monkeypatch.setattr(replay_jobs, "launch", lambda job: replay_jobs.work(job.pk))


# --- The replay itself.


def test_replay_under_new_version_finds_known_changes(known):
    before = stored()

    result = replay.replay(day_range(), "2027.01")

    assert result.total == 6
    assert result.changed == 2
    assert result.matrix == {
        "iop": {"iop": 1, "residential": 0, "inpatient": 0},
        "residential": {"iop": 0, "residential": 1, "inpatient": 0},
        "inpatient": {"iop": 1, "residential": 1, "inpatient": 2},
    }
    assert [c.public_id for c in result.changes] == [  # newest first
        str(known["to_residential"].public_id),
        str(known["to_iop"].public_id),
    ]
    assert stored() == before


def test_replay_change_names_reasons_removed_and_added_and_the_final_level(known):
    result = replay.replay(day_range(), "2027.01")

    to_residential, to_iop = result.changes
    assert (to_iop.from_level, to_iop.to_level, to_iop.final_level) == ("inpatient", "iop", "residential")
    assert [r.code for r in to_iop.removed] == ["DETOX_ALCOHOL"]
    assert [r.text for r in to_iop.removed] == [known["to_iop"].recommendation["reasons"][0]["text"]]
    assert [r.code for r in to_iop.added] == [
        "IOP_NO_DETOX",
        "IOP_SEVERITY_MANAGEABLE",
        "IOP_SAFE_HOME",
        "IOP_SUPPORTIVE_NETWORK",
    ]
    assert to_iop.added[0].text == "No need for medically supervised detox."
    assert (to_residential.to_level, to_residential.final_level) == ("residential", "")
    assert [r.code for r in to_residential.removed] == ["DETOX_ALCOHOL"]
    assert to_residential.added == ()  # HOME_UNSAFE held already; it now decides the level


def test_replay_removed_reason_keeps_the_text_the_clinician_saw(known):
    result = replay.replay(day_range(), "2027.01")

    assert result.changes[1].removed[0].text == rule_text("DETOX_ALCOHOL", "2026.11")
    assert "10" in result.changes[1].removed[0].text


def test_reason_changes_in_rule_table_order():
    stored_reasons = [
        {"code": "DETOX_ALCOHOL", "level": "inpatient", "text": "old"},
        {"code": "HOME_UNSAFE", "text": "h"},
    ]
    replayed = [rules.Reason("HOME_UNSAFE", rules.Level.RESIDENTIAL, "h"), rules.Reason("X", rules.Level.IOP, "x")]

    added, removed = replay_eval.reason_changes(stored_reasons, replayed)

    assert added == (replay_eval.ReasonChange("X", "x"),)
    assert removed == (replay_eval.ReasonChange("DETOX_ALCOHOL", "old"),)


def test_replay_under_current_version_changes_nothing(known):
    result = replay.replay(day_range(), "2026.11")

    assert (result.total, result.changed, result.changes) == (6, 0, [])


def test_replay_keeps_only_the_newest_changes_but_counts_all(known):
    result = replay.replay(day_range(), "2027.01", keep=1)

    assert result.changed == 2
    assert [c.public_id for c in result.changes] == [str(known["to_residential"].public_id)]


def test_replay_in_small_pages_reports_progress_after_each(known):
    seen = []

    result = replay.run(day_range(), "2027.01", page_size=4, progress=lambda done: seen.append(done))

    assert seen == [4, 6]
    assert (result.total, result.changed) == (6, 2)


def test_replay_stops_when_progress_says_so(known):
    with pytest.raises(replay.Stopped):
        replay.run(day_range(), "2027.01", page_size=2, progress=lambda done: done < 4)


def test_replay_in_worker_processes_matches_this_process(known):
    single = replay.run(day_range(), "2027.01", page_size=2)

    parallel = replay.run(day_range(), "2027.01", page_size=2, processes=2)

    assert parallel == single


def test_evaluate_page_counts_unreadable_snapshot():
    rows = [("iop", {"substances": ["alcohol"]}), ("iop", "{not json"), ("iop", None), ("nowhere", "{}")]

    page = replay_eval.evaluate_page(rows, "2026.11")

    assert (page.total, page.unreadable, page.changed, sum(page.matrix)) == (4, 4, [], 0)


def test_evaluate_page_gives_the_positions_of_changed_rows(known):
    rows = [(s.recommended_level, json.dumps(s.answers_snapshot)) for s in (known["iop"], known["to_iop"])]

    page = replay_eval.evaluate_page(rows, "2027.01")

    assert (page.total, page.changed) == (2, [1])


def test_evaluate_page_unknown_version_raises():
    with pytest.raises(ValueError, match="unknown rule set version"):
        replay_eval.evaluate_page([], "1999.01")


def test_result_survives_its_json(known):
    result = replay.replay(day_range(), "2027.01")

    again = replay.ReplayResult.from_json(json.loads(json.dumps(result.to_json())))

    assert again == result


def test_version_descriptions_are_plain_words():
    for version, rule_set in rules.RULE_SETS.items():
        assert "DESIGN" not in rule_set.description and "§" not in rule_set.description, version
    proposal = rules.RULE_SETS["2027.01"]
    assert f"CIWA-Ar {proposal.thresholds.ciwa_ar_detox} or more" in proposal.description
    current = rules.RULE_SETS["2026.11"].thresholds
    assert f"CIWA-Ar {current.ciwa_ar_detox} or more" in rules.RULE_SETS["2026.11"].description
    assert f"COWS {current.cows_detox} or more" in rules.RULE_SETS["2026.11"].description


# --- The command.


def test_replay_command_json(known, capsys):
    call_command(
        "replay_rules", "--since", DAY.isoformat(), "--until", DAY.isoformat(), "--version", "2027.01", "--json"
    )

    out = json.loads(capsys.readouterr().out)
    assert (out["total"], out["changed"]) == (6, 2)
    assert out["matrix"]["inpatient"] == {"iop": 1, "residential": 1, "inpatient": 2}
    first = out["changed_screenings"][1]
    assert (first["from"], first["to"], first["final"]) == ("inpatient", "iop", "residential")
    assert [r["code"] for r in first["removed"]] == ["DETOX_ALCOHOL"]


def test_replay_command_text_includes_next_day_and_reasons(known, capsys):
    call_command(
        "replay_rules",
        "--since",
        DAY.isoformat(),
        "--until",
        (DAY + dt.timedelta(days=1)).isoformat(),
        "--version",
        "2027.01",
        "--workers",
        "1",
    )

    out = capsys.readouterr().out
    assert "Replayed 7 screenings" in out and "3 would change" in out
    assert "− DETOX_ALCOHOL" in out and "+ IOP_NO_DETOX" in out and "not decided yet" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "2026-10-40", "--until", "2026-10-14"],
        ["--since", "2026-10-14", "--until", "2026-10-01"],
        ["--since", "2026-10-14", "--until", "2026-10-14", "--version", "9.9"],
        ["--since", "2026-10-14", "--until", "2026-10-14", "--workers", "0"],
    ],
    ids=["bad-date", "until-before-since", "unknown-version", "no-workers"],
)
def test_replay_command_bad_input_exits_2(db, args):
    with pytest.raises(CommandError) as err:
        call_command("replay_rules", *args)

    assert err.value.returncode == 2


# --- The background job and its pages.


def start_data(version: str = "2027.01", day: dt.date = DAY) -> dict:
    return {"start": day.isoformat(), "end": day.isoformat(), "version": version}


def test_replay_post_starts_a_job_that_runs_to_its_result(admin_client_, admin_user, known, inline_jobs):
    response = admin_client_.post(reverse("replay"), start_data())

    job = ReplayJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("replay_job", args=[job.public_id])
    assert (job.status, job.done, job.total, job.requested_by) == (Status.DONE, 6, 6, admin_user)
    assert (job.result["total"], job.result["changed"]) == (6, 2)
    started = AuditEvent.objects.get(action="create", object_type="replay")
    assert started.object_id == str(job.public_id)
    assert started.details == {"since": "2026-10-14", "until": "2026-10-14", "version": "2027.01"}


def test_replay_job_page_shows_result_and_is_audited(admin_client_, known, inline_jobs):
    admin_client_.post(reverse("replay"), start_data())
    job = ReplayJob.objects.get()

    response = admin_client_.get(reverse("replay_job", args=[job.public_id]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>2</strong> of 6 recommendations would change" in html
    assert reverse("review_screening", args=[known["to_iop"].public_id]) in html
    assert rule_text("DETOX_ALCOHOL", "2026.11") in html  # removed, in the clinician page's wording
    assert "No need for medically supervised detox." in html  # added
    assert "Not decided yet" in html and "Residential</td>" in html  # the final levels
    assert "replay_progress.js" not in html  # done: nothing left to follow
    viewed = AuditEvent.objects.get(action="view", object_type="replay")
    assert viewed.details["job"] == str(job.public_id) and viewed.details["changed"] == 2


def test_replay_job_writes_progress_after_every_page(known, admin_user, inline_jobs, monkeypatch):
    monkeypatch.setattr(replay, "PAGE_SIZE", 2)
    beats = []
    real_beat = replay_jobs._beat
    monkeypatch.setattr(
        replay_jobs, "_beat", lambda pk, done, **more: beats.append(done) or real_beat(pk, done, **more)
    )

    job, created = replay_jobs.start(actor=admin_user, context=None, since=DAY, until=DAY, version="2027.01")

    assert created
    assert beats == [0, 2, 4, 6]
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.percent) == (Status.DONE, 6, 6, 100)


def test_replay_progress_json_while_running(admin_client_, admin_user, db):
    job = ReplayJob.objects.create(
        requested_by=admin_user, since=DAY, until=DAY, version="2027.01", status=Status.RUNNING, done=250, total=1000
    )
    ReplayJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())

    response = admin_client_.get(reverse("replay_progress", args=[job.public_id]))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {"status": "running", "label": "Running", "done": 250, "total": 1000, "percent": 25}


def test_replay_job_page_while_running_follows_it(admin_client_, admin_user, db):
    job = ReplayJob.objects.create(
        requested_by=admin_user, since=DAY, until=DAY, version="2027.01", status=Status.RUNNING, done=3, total=4
    )
    ReplayJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())

    response = admin_client_.get(reverse("replay_job", args=[job.public_id]))

    html = response.content.decode()
    assert response.context["result"] is None
    assert 'data-replay-progress="' + reverse("replay_progress", args=[job.public_id]) + '"' in html
    assert "replay_progress.js" in html and '<progress id="replay-progress"' in html
    assert "3 of 4 screenings (75%)" in html
    assert not AuditEvent.objects.filter(object_type="replay").exists()  # no result shown yet


def test_stale_running_job_reads_as_interrupted_with_start_again(admin_client_, admin_user, db, settings):
    settings.REPLAY_STALE_SECONDS = 60
    job = ReplayJob.objects.create(
        requested_by=admin_user, since=DAY, until=DAY, version="2027.01", status=Status.RUNNING, done=5, total=9
    )
    ReplayJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=61))

    page = admin_client_.get(reverse("replay_job", args=[job.public_id]))
    progress = admin_client_.get(reverse("replay_progress", args=[job.public_id]))

    html = page.content.decode()
    assert page.context["shown"] == Status.INTERRUPTED
    assert "was interrupted after 5 of 9 screenings" in html
    assert "Start again" in html and 'name="start" value="2026-10-14"' in html
    assert progress.json()["status"] == "interrupted"


def test_heartbeat_just_inside_the_limit_is_still_running(admin_user, db, settings):
    settings.REPLAY_STALE_SECONDS = 60
    now = timezone.now()
    job = ReplayJob(status=Status.RUNNING, heartbeat_at=now - dt.timedelta(seconds=59))

    assert replay_jobs.shown_status(job, now) == Status.RUNNING


def test_claim_frees_the_slot_of_a_stale_job_and_its_thread_then_stops(admin_user, known, settings, monkeypatch):
    settings.REPLAY_MAX_RUNNING, settings.REPLAY_PROCESSES = 1, 0
    monkeypatch.setattr(replay, "PAGE_SIZE", 2)
    stale = ReplayJob.objects.create(requested_by=admin_user, since=DAY, until=DAY, version="2027.01")
    assert replay_jobs.claim(stale) is not None
    waiting = ReplayJob.objects.create(requested_by=admin_user, since=DAY, until=DAY, version="2026.11")
    assert replay_jobs.claim(waiting) is None  # the slot is taken
    ReplayJob.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=5))

    claimed = replay_jobs.claim(waiting)
    replay_jobs.run_job(stale.pk)  # its thread was only slow: its first write finds it no longer running

    assert claimed == waiting
    stale.refresh_from_db()
    assert (stale.status, stale.done, stale.result) == (Status.INTERRUPTED, 0, None)


def test_bound_keeps_later_jobs_queued_until_a_slot_frees(admin_user, known, settings, monkeypatch):
    settings.REPLAY_MAX_RUNNING = 1
    launched = []
    monkeypatch.setattr(replay_jobs, "launch", launched.append)

    first, _ = replay_jobs.start(actor=admin_user, context=None, since=DAY, until=DAY, version="2027.01")
    second, _ = replay_jobs.start(actor=admin_user, context=None, since=DAY, until=DAY, version="2026.11")

    assert (first.status, second.status) == (Status.RUNNING, Status.QUEUED)
    assert launched == [first]
    settings.REPLAY_PROCESSES = 0
    replay_jobs.work(first.pk)  # the thread that finishes a job takes the next one
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.DONE, Status.DONE)
    assert second.result["changed"] == 0


def test_same_replay_asked_again_while_it_runs_is_the_same_job(admin_user, known, settings, monkeypatch):
    monkeypatch.setattr(replay_jobs, "launch", lambda job: None)
    first, created_first = replay_jobs.start(actor=admin_user, context=None, since=DAY, until=DAY, version="2027.01")

    again, created_again = replay_jobs.start(actor=admin_user, context=None, since=DAY, until=DAY, version="2027.01")

    assert (created_first, created_again) == (True, False)
    assert again == first
    assert AuditEvent.objects.filter(action="create", object_type="replay").count() == 1


def test_too_many_waiting_is_refused_with_a_message(admin_client_, admin_user, known, settings, monkeypatch):
    monkeypatch.setattr(replay_jobs, "launch", lambda job: None)
    monkeypatch.setattr(replay_jobs, "MAX_QUEUED", 1)
    ReplayJob.objects.create(requested_by=admin_user, since=DAY, until=DAY, version="2026.11", status=Status.RUNNING)
    ReplayJob.objects.filter(status=Status.RUNNING).update(heartbeat_at=timezone.now())
    ReplayJob.objects.create(requested_by=admin_user, since=DAY, until=DAY, version="2026.11")

    response = admin_client_.post(reverse("replay"), start_data())

    assert response.status_code == 200
    assert "1 replays are already waiting to start" in response.content.decode()
    assert ReplayJob.objects.count() == 2


def test_failed_job_says_so_and_offers_start_again(admin_client_, admin_user, known, inline_jobs, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(replay, "run", broken)
    admin_client_.post(reverse("replay"), start_data())
    job = ReplayJob.objects.get()

    response = admin_client_.get(reverse("replay_job", args=[job.public_id]))

    assert (job.status, job.error) == (Status.FAILED, "RuntimeError")
    assert "This replay failed" in response.content.decode() and "Start again" in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [start_data(version="1999.01"), {**start_data(), "start": "14/10/2026"}, {**start_data(), "end": "2026-10-01"}],
    ids=["unknown-version", "bad-date", "reversed"],
)
def test_replay_bad_input_shows_field_error_and_starts_nothing(admin_client_, db, data):
    response = admin_client_.post(reverse("replay"), data)

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["form"].errors
    assert 'aria-invalid="true"' in html and "_error" in html
    assert not ReplayJob.objects.exists()


def test_replay_page_describes_each_version_in_plain_words(admin_client_, db):
    response = admin_client_.get(reverse("replay"))

    html = response.content.decode()
    assert response.status_code == 200
    for version, rule_set in rules.RULE_SETS.items():
        assert f"<dt>{version}</dt><dd>{rule_set.description}</dd>".replace("'", "&#x27;") in html
    assert "DESIGN.md" not in html
    assert 'aria-describedby="versions-help"' in html


def test_replay_page_get_prefills_from_the_address_and_runs_nothing(admin_client_, known):
    response = admin_client_.get(reverse("replay"), start_data())

    assert response.context["form"]["version"].value() == "2027.01"
    assert not ReplayJob.objects.exists()


def test_replay_page_lists_recent_jobs_in_constant_queries(admin_client_, db, django_assert_num_queries):
    def make_jobs(n):
        for _ in range(n):
            ReplayJob.objects.create(
                requested_by=UserFactory(role="admin"), since=DAY, until=DAY, version="2026.11", status=Status.DONE
            )

    make_jobs(2)
    admin_client_.get(reverse("replay"))  # warm the session and the permission cache
    with CaptureQueriesContext(connection) as few:
        admin_client_.get(reverse("replay"))
    make_jobs(12)

    with django_assert_num_queries(len(few.captured_queries)):
        response = admin_client_.get(reverse("replay"))

    assert len(response.context["jobs"]) == 10


@pytest.mark.parametrize("name", ["replay", "replay_job", "replay_progress"])
@pytest.mark.parametrize("who", ["clinician_client", "auditor_client"])
def test_replay_pages_other_roles_forbidden(request, admin_user, name, who):
    job = ReplayJob.objects.create(requested_by=admin_user, since=DAY, until=DAY, version="2026.11")
    args = [] if name == "replay" else [job.public_id]

    get = request.getfixturevalue(who).get(reverse(name, args=args))
    post = request.getfixturevalue(who).post(reverse("replay"), start_data())

    assert (get.status_code, post.status_code) == (403, 403)
    assert ReplayJob.objects.count() == 1


@pytest.mark.parametrize("name", ["replay", "replay_job", "replay_progress"])
def test_replay_pages_anonymous_go_to_sign_in(client, admin_user, name):
    job = ReplayJob.objects.create(requested_by=admin_user, since=DAY, until=DAY, version="2026.11")
    args = [] if name == "replay" else [job.public_id]

    response = client.get(reverse(name, args=args))

    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_unknown_job_is_404(admin_client_, db):
    response = admin_client_.get(reverse("replay_job", args=["00000000-0000-0000-0000-000000000000"]))

    assert response.status_code == 404


# --- In a real thread, and the bound under concurrency (PostgreSQL).


# PostgreSQL only: SQLite's shared in-memory test database answers "table is locked" when a thread left by an earlier
# test (a live server's, another job's) reads while this job writes — seen in full-suite runs, never alone. The job's
# work itself is tested on both databases by the tests above, which run it in the test's thread.
@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_replay_job_runs_in_a_thread_of_its_own(settings):
    settings.REPLAY_PROCESSES = 0
    admin = UserFactory(role="admin")
    for hour in range(3):
        make_screening(ciwa_ar=12, pawss=1, created_at=at(DAY, hour + 1))

    job, _ = replay_jobs.start(actor=admin, context=None, since=DAY, until=DAY, version="2027.01")
    # Joined, not polled: SQLite's shared in-memory test database fails a write that meets a read at once.
    (thread,) = [t for t in threading.enumerate() if t.name == f"replay-{job.public_id}"]
    thread.join(timeout=60)

    job.refresh_from_db()
    assert not thread.is_alive()
    assert (job.status, job.total, job.done) == (Status.DONE, 3, 3)
    assert job.result["changed"] == 3


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_bound_holds_when_servers_claim_at_once(settings):
    settings.REPLAY_MAX_RUNNING = 2
    admin = UserFactory(role="admin")
    jobs = [ReplayJob.objects.create(requested_by=admin, since=DAY, until=DAY, version="2026.11") for _ in range(8)]
    barrier = threading.Barrier(len(jobs))
    claimed = []

    def server(job):
        try:
            barrier.wait()
            if replay_jobs.claim(job) is not None:
                claimed.append(job.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=server, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(claimed) == 2
    assert ReplayJob.objects.filter(status=Status.RUNNING).count() == 2
    assert ReplayJob.objects.filter(status=Status.QUEUED).count() == 6


def test_worker_processes_run_at_a_lower_priority():
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=replay_eval.worker_init, initargs=(5, os.getpid())
    ) as pool:
        child = pool.submit(os.nice, 0).result()

    assert child == min(os.nice(0) + 5, 19)


def test_worker_process_ends_when_its_parent_is_gone(tmp_path):
    # A stand-in parent starts a worker process as a replay does, then dies without a word (SIGKILL).
    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing, os, signal, sys\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from screening import replay_eval\n"
        "if __name__ == '__main__':\n"
        "    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'),\n"
        "                               initializer=replay_eval.worker_init, initargs=(0, os.getpid()))\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, str(script)], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    worker = int(proc.stdout.split()[0])

    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_replay_thread_that_meets_an_error_logs_it_and_closes_its_connection(monkeypatch, caplog):
    closed = []
    monkeypatch.setattr(replay_jobs, "work", lambda pk: 1 / 0)
    monkeypatch.setattr(replay_jobs.connection, "close", lambda: closed.append(True))

    replay_jobs._thread_main(42)

    assert closed == [True]
    assert "replay thread for job 42 stopped" in caplog.text


def test_waiting_job_is_started_by_the_server_that_shows_its_page(admin_client_, admin_user, known, inline_jobs):
    job = ReplayJob.objects.create(requested_by=admin_user, since=DAY, until=DAY, version="2027.01")

    response = admin_client_.get(reverse("replay_job", args=[job.public_id]))

    job.refresh_from_db()
    assert job.status == Status.DONE
    assert response.context["result"].changed == 2


def test_waiting_job_while_the_slot_is_taken_says_so(admin_client_, admin_user, db, inline_jobs):
    running = ReplayJob.objects.create(
        requested_by=admin_user, since=DAY, until=DAY, version="2026.11", status=Status.RUNNING, total=10
    )
    ReplayJob.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now())
    waiting = ReplayJob.objects.create(requested_by=admin_user, since=DAY, until=DAY, version="2027.01")

    page = admin_client_.get(reverse("replay_job", args=[waiting.public_id]))
    progress = admin_client_.get(reverse("replay_progress", args=[waiting.public_id]))

    assert "It starts when the replay before it has finished." in page.content.decode()
    assert progress.json() == {"status": "queued", "label": "Waiting to start", "done": 0, "total": None, "percent": 0}
    waiting.refresh_from_db()
    assert waiting.status == Status.QUEUED
