"""What-if replay: a hand-built set whose answer is known, the page, the command; nothing stored changes."""

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from screening import replay
from screening.models import AuditEvent, Screening
from tests.factories import make_screening

DAY = dt.date(2026, 10, 14)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def known(db):
    """Under 2026.11 → under 2027.01 (CIWA-Ar detox line 10 → 19):
    ciwa 12 inpatient → iop (changes); ciwa 12 + unsafe home inpatient → residential (changes);
    ciwa 20 inpatient → inpatient; baseline iop → iop; unsafe home residential → residential;
    ciwa 12 with PAWSS 5 stays inpatient (DETOX_PAWSS still holds)."""
    return {
        "to_iop": make_screening(ciwa_ar=12, pawss=1, created_at=at(DAY)),
        "to_residential": make_screening(ciwa_ar=12, pawss=1, home_safe=False, created_at=at(DAY, 11)),
        "severe": make_screening(ciwa_ar=20, pawss=1, created_at=at(DAY, 12)),
        "iop": make_screening(created_at=at(DAY, 13)),
        "residential": make_screening(home_safe=False, created_at=at(DAY, 14)),
        "pawss": make_screening(ciwa_ar=12, pawss=5, created_at=at(DAY, 15)),
        "draft": make_screening(ciwa_ar=12, status=Screening.Status.DRAFT, created_at=at(DAY)),
        "outside": make_screening(ciwa_ar=12, pawss=1, created_at=at(DAY + dt.timedelta(days=1))),
    }


def stored(rows):
    return [
        (s.pk, s.recommended_level, s.rules_version, s.recommendation, s.answers_snapshot, s.updated_at)
        for s in Screening.objects.order_by("pk")
    ]


def test_replay_under_new_version_finds_known_changes(known):
    before = stored(known)

    result = replay.replay(replay.in_range(at(DAY, 0), at(DAY + dt.timedelta(days=1), 0)), "2027.01")

    assert result.total == 6
    assert result.changed == 2
    assert result.matrix == {
        "iop": {"iop": 1, "residential": 0, "inpatient": 0},
        "residential": {"iop": 0, "residential": 1, "inpatient": 0},
        "inpatient": {"iop": 1, "residential": 1, "inpatient": 2},
    }
    assert {c.public_id for c in result.changes} == {
        str(known["to_iop"].public_id),
        str(known["to_residential"].public_id),
    }
    assert stored(known) == before


def test_replay_under_current_version_changes_nothing(known):
    result = replay.replay(replay.in_range(at(DAY, 0), at(DAY + dt.timedelta(days=1), 0)), "2026.11")

    assert (result.total, result.changed) == (6, 0)


def test_replay_keeps_only_first_changes_but_counts_all(known):
    result = replay.replay(replay.in_range(at(DAY, 0), at(DAY + dt.timedelta(days=1), 0)), "2027.01", keep=1)

    assert result.changed == 2 and len(result.changes) == 1


def test_replay_rows_counts_unreadable_snapshot():
    rows = [(1, "iop", {"substances": ["alcohol"]}), (2, "iop", "{not json")]

    result, kept = replay.replay_rows(rows, "2026.11")

    assert (result.total, result.unreadable, result.changed, kept) == (2, 2, 0, [])


def test_replay_rows_unknown_version_raises():
    with pytest.raises(ValueError, match="unknown rule set version"):
        replay.replay_rows([], "1999.01")


def test_replay_command_json(known, capsys):
    call_command(
        "replay_rules",
        "--since",
        DAY.isoformat(),
        "--until",
        DAY.isoformat(),
        "--version",
        "2027.01",
        "--json",
        "--workers",
        "1",
    )

    out = json.loads(capsys.readouterr().out)
    assert (out["total"], out["changed"]) == (6, 2)
    assert out["matrix"]["inpatient"] == {"iop": 1, "residential": 1, "inpatient": 2}
    assert len(out["changed_screenings"]) == 2


def test_replay_command_text_includes_next_day(known, capsys):
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


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "2026-10-40", "--until", "2026-10-14"],
        ["--since", "2026-10-14", "--until", "2026-10-01"],
        ["--since", "2026-10-14", "--until", "2026-10-14", "--version", "9.9"],
    ],
    ids=["bad-date", "until-before-since", "unknown-version"],
)
def test_replay_command_bad_input_exits_2(db, args):
    with pytest.raises(CommandError) as err:
        call_command("replay_rules", *args)

    assert err.value.returncode == 2


def test_replay_page_shows_counts_matrix_and_changed(admin_client_, known):
    response = admin_client_.get(
        reverse("replay"), {"start": DAY.isoformat(), "end": DAY.isoformat(), "version": "2027.01"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["result"].changed == 2
    assert "<strong>2</strong> of 6 recommendations would change" in html
    assert reverse("review_screening", args=[known["to_iop"].public_id]) in html
    assert AuditEvent.objects.filter(object_type="replay", action="view").count() == 1


def test_replay_page_unbound_runs_nothing(admin_client_, known):
    response = admin_client_.get(reverse("replay"))

    assert response.status_code == 200
    assert response.context["result"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-10-14", "end": "2026-10-14", "version": "1999.01"},
        {"start": "14/10/2026", "end": "2026-10-14", "version": "2027.01"},
    ],
    ids=["unknown-version", "bad-date"],
)
def test_replay_page_bad_input_shows_field_error(admin_client_, db, params):
    response = admin_client_.get(reverse("replay"), params)

    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["result"] is None


def test_replay_page_refuses_too_large_range(admin_client_, known, monkeypatch):
    monkeypatch.setattr("screening.views.review.WEB_REPLAY_LIMIT", 3)

    response = admin_client_.get(
        reverse("replay"), {"start": DAY.isoformat(), "end": DAY.isoformat(), "version": "2027.01"}
    )

    assert response.context["too_many"] == 6
    assert response.context["result"] is None


@pytest.mark.parametrize("who", ["clinician_client", "auditor_client"])
def test_replay_page_other_roles_forbidden(request, who):
    response = request.getfixturevalue(who).get(reverse("replay"))

    assert response.status_code == 403


def test_merge_adds_counts_and_matrices():
    one = replay.ReplayResult("2027.01", total=3, changed=2)
    one.matrix["inpatient"]["iop"] = 2
    one.matrix["iop"]["iop"] = 1
    two = replay.ReplayResult("2027.01", total=2, changed=1, unreadable=1)
    two.matrix["inpatient"]["residential"] = 1

    merged = replay.merge([one, two], "2027.01")

    assert (merged.total, merged.changed, merged.unreadable) == (5, 3, 1)
    assert merged.matrix["inpatient"] == {"iop": 2, "residential": 1, "inpatient": 0}
    assert merged.matrix["iop"]["iop"] == 1


def test_newest_changes_across_batches(known):
    ids = [known["to_iop"].pk, known["to_residential"].pk]

    changes = replay.newest_changes(ids, "2027.01", keep=1, batch=1)

    assert [(c.public_id, c.from_level, c.to_level) for c in changes] == [
        (str(known["to_residential"].public_id), "inpatient", "residential")  # started an hour later
    ]


@pytest.mark.django_db(transaction=True)
def test_replay_range_in_worker_processes_matches_one_process():
    for i in range(12):
        make_screening(ciwa_ar=12 if i % 2 else 4, pawss=1, home_safe=i % 3 != 0, created_at=at(DAY, i + 1))
    since, until = at(DAY, 0), at(DAY + dt.timedelta(days=1), 0)

    single = replay.replay_range(since, until, "2027.01", workers=1)
    parallel = replay.replay_range(since, until, "2027.01", workers=2)  # processes on PostgreSQL only

    assert (parallel.total, parallel.changed, parallel.matrix) == (single.total, single.changed, single.matrix)
    assert parallel.changes == single.changes
    # odd i has CIWA-Ar 12: inpatient → iop with a safe home (1, 5, 7, 11), → residential without (3, 9)
    assert single.changed == 6
    assert single.matrix["inpatient"] == {"iop": 4, "residential": 2, "inpatient": 0}
