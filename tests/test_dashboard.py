"""Dashboard: numbers against hand-computed ones, the page's charts and tables, access, bad input."""

import datetime as dt

import pytest
from django.db import connection
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from screening import charts, dashboard
from screening.models import FLAG_FIELDS, AuditEvent, Screening
from screening.rollups import DashboardCell, DashboardDirtyDay
from tests.factories import UserFactory, make_screening

MONDAY = dt.date(2026, 11, 2)
LATER = dt.date(2027, 6, 1)  # a "today" after every range of these tests


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def row(week, rec, final, reason="", clinician=1, n=1):
    decision = "" if not final else ("accepted" if rec == final else "overridden")
    return {
        "week": week,
        "recommended_level": rec,
        "final_level": final,
        "decision": decision,
        "override_reason": reason,
        "clinician_id": clinician,
        "n": n,
    }


def test_summarize_counts_rates_matrix_by_hand():
    rows = [
        row(MONDAY, "iop", "iop", n=6),
        row(MONDAY, "inpatient", "residential", "waitlist", clinician=2, n=2),
        row(MONDAY + dt.timedelta(days=7), "residential", "iop", "waitlist", n=1),
        row(MONDAY + dt.timedelta(days=7), "residential", "iop", "patient_preference", clinician=2, n=1),
        row(MONDAY + dt.timedelta(days=7), "inpatient", "", n=3),  # completed, not decided
    ]

    d = dashboard.summarize(rows, {1: "alice", 2: "bob"}, MONDAY, MONDAY + dt.timedelta(days=13), today=LATER)

    assert d.total == 13
    assert d.weeks == [
        (MONDAY, {"iop": 6, "residential": 0, "inpatient": 2}),
        (MONDAY + dt.timedelta(days=7), {"iop": 0, "residential": 2, "inpatient": 3}),
    ]
    assert (d.overall.overridden, d.overall.decided) == (4, 10)
    assert d.overall.percent == 40.0
    assert [(r.label, r.overridden, r.decided) for r in d.by_clinician] == [("alice", 1, 7), ("bob", 3, 3)]
    assert d.by_reason == [("Waitlist", 3), ("Patient preference", 1)]
    assert d.matrix == {
        "iop": {"iop": 6, "residential": 0, "inpatient": 0},
        "residential": {"iop": 2, "residential": 0, "inpatient": 0},
        "inpatient": {"iop": 0, "residential": 2, "inpatient": 0},
    }


def test_summarize_shows_empty_weeks():
    d = dashboard.summarize(
        [row(MONDAY, "iop", "iop")], {}, MONDAY - dt.timedelta(days=10), MONDAY + dt.timedelta(days=8), today=LATER
    )

    assert [w for w, _ in d.weeks] == [
        MONDAY - dt.timedelta(days=14),
        MONDAY - dt.timedelta(days=7),
        MONDAY,
        MONDAY + dt.timedelta(days=7),
    ]
    assert d.weeks[0][1] == {"iop": 0, "residential": 0, "inpatient": 0}


@pytest.mark.parametrize(
    ("histogram", "expected"),
    [
        ({}, None),
        ({45: 1}, 45),
        ({45: 2, 65: 1}, 45),
        ({45: 2, 65: 2}, 55),
        ({10: 1, 20: 1, 30: 1, 40: 1}, 25),
        ({30: 1, 10: 3}, 10),
        ({5: 1, 7: 1}, 6),
    ],
    ids=["empty", "one", "odd", "even-split", "even-four", "unsorted-input", "two"],
)
def test_median_minutes_from_histogram(histogram, expected):
    assert dashboard.median_minutes(histogram) == expected


def test_rate_without_decisions_is_none():
    assert dashboard.Rate("x", 0, 0).percent is None


@pytest.fixture
def november(db):
    """Five screenings in November 2026 and one outside; hand-computed below."""
    alice = UserFactory(username="alice", role="clinician")
    bob = UserFactory(username="bob", role="clinician")
    made = [
        make_screening(clinician=alice, created_at=at(MONDAY)),  # iop accepted, signed after 45 min
        make_screening(
            clinician=alice, created_at=at(MONDAY), final_level="residential", override_reason="patient_preference"
        ),  # iop → residential
        make_screening(ciwa_ar=12, pawss=None, clinician=bob, created_at=at(MONDAY + dt.timedelta(days=8))),
        make_screening(
            home_safe=False,
            clinician=bob,
            created_at=at(MONDAY + dt.timedelta(days=9)),
            final_level="iop",
            override_reason="waitlist",
        ),
        make_screening(status=Screening.Status.COMPLETED, created_at=at(MONDAY + dt.timedelta(days=9))),
        make_screening(created_at=at(MONDAY + dt.timedelta(days=40))),  # outside the range
        make_screening(status=Screening.Status.DRAFT, created_at=at(MONDAY)),  # drafts never count
    ]
    # Factories sign 45 minutes after the start; one slower signature (3 h) keeps the median honest.
    Screening.objects.filter(pk=made[3].pk).update(signed_at=made[3].created_at + dt.timedelta(hours=3))
    return made


def test_build_from_database_matches_hand_counts(november):
    d = dashboard.build(MONDAY, dt.date(2026, 11, 30))

    assert d.total == 5
    assert d.weeks[0] == (MONDAY, {"iop": 2, "residential": 0, "inpatient": 0})
    assert d.weeks[1] == (MONDAY + dt.timedelta(days=7), {"iop": 1, "residential": 1, "inpatient": 1})
    assert (d.overall.overridden, d.overall.decided) == (2, 4)
    assert [(r.label, r.overridden, r.decided) for r in d.by_clinician] == [("alice", 1, 2), ("bob", 1, 2)]
    assert d.by_reason == [("Patient preference", 1), ("Waitlist", 1)]
    assert d.matrix["iop"] == {"iop": 1, "residential": 1, "inpatient": 0}
    assert d.matrix["residential"]["iop"] == 1
    assert d.matrix["inpatient"]["inpatient"] == 1
    assert dict(d.flags)["Detox first"] == 1
    assert d.signed == 4
    # 45, 45, 45 and 180 minutes: the middle two are 45 and 45.
    assert d.median_to_signature == dt.timedelta(minutes=45)


def test_build_median_of_even_count_averages_middle_two(november):
    Screening.objects.filter(pk=november[0].pk).update(signed_at=november[0].created_at + dt.timedelta(minutes=65))
    d = dashboard.build(MONDAY, dt.date(2026, 11, 30))

    # 45, 45, 65, 180 → (45 + 65) / 2 = 55 minutes
    assert d.median_to_signature == dt.timedelta(minutes=55)


def test_dashboard_page_renders_charts_with_tables(admin_client_, november):
    response = admin_client_.get(reverse("dashboard"), {"start": "2026-11-01", "end": "2026-11-30"})

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["d"].total == 5
    assert html.count('role="img"') == 4
    assert 'aria-labelledby="weekly-title weekly-desc"' in html
    assert "<caption>Overrides by reason code</caption>" in html
    assert "50.0%" in html  # override rate 2 of 4
    assert "45 min" in html


def test_dashboard_defaults_to_last_90_days(admin_client_, db):
    response = admin_client_.get(reverse("dashboard"))

    form = response.context["form"]
    assert form.is_valid()
    assert form.cleaned_data["end"] == timezone.localdate()
    assert (form.cleaned_data["end"] - form.cleaned_data["start"]).days == 89


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-02-30", "end": "2026-03-01"}, "start"),
        ({"start": "2026-03-01", "end": "x"}, "end"),
        ({"start": "2026-03-01", "end": "2026-02-01"}, "end"),
    ],
    ids=["impossible-date", "not-a-date", "end-before-start"],
)
def test_dashboard_bad_dates_show_field_error(admin_client_, db, params, field):
    response = admin_client_.get(reverse("dashboard"), params)

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert response.context["d"] is None
    assert 'aria-invalid="true"' in response.content.decode()


@pytest.mark.parametrize("who", ["clinician_client", "auditor_client"])
def test_dashboard_other_roles_forbidden(request, who):
    response = request.getfixturevalue(who).get(reverse("dashboard"))

    assert response.status_code == 403


def test_dashboard_query_count_does_not_grow_with_rows(admin_client_, november, django_assert_num_queries):
    params = {"start": "2026-11-01", "end": "2026-11-30"}
    admin_client_.get(reverse("dashboard"), params)
    # session, user, perms (2), roles, changed days, weeks, cells, usernames, minutes to signature, override
    # notes, and the audit of the notes shown (4, + the advisory lock on PostgreSQL)
    queries = 15 + (connection.vendor == "postgresql")

    with django_assert_num_queries(queries):
        admin_client_.get(reverse("dashboard"), params)
    make_screening(created_at=at(MONDAY), final_level="inpatient")
    for i in range(30):
        make_screening(created_at=at(MONDAY + dt.timedelta(days=i % 20)), final_level="residential")
    _amend(Screening.objects.filter(decision="overridden").first())
    admin_client_.get(reverse("dashboard"), params)  # remakes the days that changed
    with django_assert_num_queries(queries):
        admin_client_.get(reverse("dashboard"), params)


def test_dashboard_refresh_query_count_does_not_grow_with_changed_days(november, django_assert_num_queries):
    dashboard.build(MONDAY, dt.date(2026, 11, 30))
    make_screening(created_at=at(MONDAY))
    # changed days; savepoint, advisory lock (PostgreSQL), delete cells and minutes, insert both, delete marks,
    # release
    queries = 8 + (connection.vendor == "postgresql")

    with django_assert_num_queries(queries):
        dashboard.refresh(MONDAY, dt.date(2026, 11, 30))
    for i in range(20):
        make_screening(created_at=at(MONDAY + dt.timedelta(days=i)))
    with django_assert_num_queries(queries):
        dashboard.refresh(MONDAY, dt.date(2026, 11, 30))


# --- Issue 15: episodes counted once, partial weeks, recent override notes.


def test_summarize_marks_partial_weeks_at_both_ends():
    wednesday, tuesday = MONDAY + dt.timedelta(days=2), MONDAY + dt.timedelta(days=15)

    d = dashboard.summarize([row(MONDAY, "iop", "iop")], {}, wednesday, tuesday, today=LATER)

    assert [w for w, _ in d.weeks] == [MONDAY, MONDAY + dt.timedelta(days=7), MONDAY + dt.timedelta(days=14)]
    assert d.partial == {MONDAY: 5, MONDAY + dt.timedelta(days=14): 2}  # days of each week in the range


def test_summarize_whole_weeks_are_not_partial():
    d = dashboard.summarize([], {}, MONDAY, MONDAY + dt.timedelta(days=13), today=LATER)

    assert d.partial == {}


def test_summarize_the_week_of_today_is_partial_until_it_is_over():
    today = MONDAY + dt.timedelta(days=9)  # a Wednesday

    d = dashboard.summarize([], {}, MONDAY, MONDAY + dt.timedelta(days=13), today=today)

    # Monday to Tuesday are over; today is not.
    assert d.partial == {MONDAY + dt.timedelta(days=7): 2}


def test_stacked_bars_mark_partial_weeks():
    weeks = [(MONDAY, {"iop": 1, "residential": 0, "inpatient": 0}), (MONDAY + dt.timedelta(days=7), {"iop": 5})]
    weeks[1][1].update(residential=0, inpatient=0)

    chart = charts.stacked_bars(weeks, dashboard.LEVEL_LABELS, partial={MONDAY: 3})

    first, second = chart["bars"]
    assert first.partial and not second.partial
    assert first.label == "Week of Nov 2 (partial: 3 of 7 days): 1 IOP (intensive outpatient)"
    assert [(round(x), text) for x, _, text in chart["marks"]] == [(round(first.x + first.w / 2), "partial")]
    assert ("Partial week (fewer than 7 days counted)", "partial") in [(label, kind) for label, kind in chart["notes"]]


def _amend(original, **changes):
    amendment = make_screening(client=original.client, clinician=original.clinician, **changes)
    Screening.objects.filter(pk=amendment.pk).update(amends=original)
    return amendment


def test_build_counts_each_episode_once_as_its_latest_version(november):
    original = november[1]  # iop overridden to residential (patient preference)
    amendment = _amend(original, created_at=at(MONDAY + dt.timedelta(days=1)))  # accepted iop
    _amend(amendment, status=Screening.Status.DRAFT, created_at=at(MONDAY + dt.timedelta(days=2)))  # not yet a version
    d = dashboard.build(MONDAY, dt.date(2026, 11, 30), today=LATER)

    assert d.total == 5  # as before the amendment: one episode, counted as its amendment
    assert (d.overall.overridden, d.overall.decided) == (1, 4)
    assert d.by_reason == [("Waitlist", 1)]
    assert d.matrix["iop"] == {"iop": 2, "residential": 0, "inpatient": 0}


def test_dashboard_page_says_each_episode_is_counted_once(admin_client_, november):
    html = admin_client_.get(reverse("dashboard"), {"start": "2026-11-01", "end": "2026-11-30"}).content.decode()

    assert "each episode counted once" in html
    assert "an amended screening counts as its latest version" in html


def test_dashboard_page_marks_partial_weeks_in_chart_and_table(admin_client_, november):
    html = admin_client_.get(reverse("dashboard"), {"start": "2026-11-04", "end": "2026-11-30"}).content.decode()

    assert "2026-11-02 (partial: 5 of 7 days)" in html
    assert ">partial</text>" in html
    assert "2026-11-09 (partial" not in html


def _notes(response) -> list:
    return [s.pk for s in response.context["notes"]]


@pytest.fixture
def noted(november):
    """The two overrides of `november` with notes of their own."""
    Screening.objects.filter(pk=november[1].pk).update(override_text="Prefers to stay near her children.")
    Screening.objects.filter(pk=november[3].pk).update(override_text="No residential bed for six weeks.")
    return november[1], november[3]


def test_dashboard_lists_recent_override_notes_newest_first(admin_client_, noted):
    alice_note, bob_note = noted

    response = admin_client_.get(reverse("dashboard"), {"start": "2026-11-01", "end": "2026-11-30"})

    html = response.content.decode()
    assert _notes(response) == [bob_note.pk, alice_note.pk]
    assert "No residential bed for six weeks." in html and "Prefers to stay near her children." in html
    assert reverse("review_screening", args=[bob_note.public_id]) in html
    assert bob_note.client.family_name not in html  # the dashboard names no client


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"reason": "waitlist"}, ["bob"]),
        ({"reason": "patient_preference"}, ["alice"]),
        ({"clinician": "alice"}, ["alice"]),
        ({"clinician": "bob", "reason": "waitlist"}, ["bob"]),
        ({"clinician": "bob", "reason": "patient_preference"}, []),
        ({"reason": "other"}, []),
    ],
    ids=["by-reason", "other-reason", "by-clinician", "both", "none-match", "unused-reason"],
)
def test_dashboard_override_notes_filter_by_reason_and_clinician(admin_client_, noted, params, expected):
    by_clinician = {"alice": noted[0].pk, "bob": noted[1].pk}

    response = admin_client_.get(reverse("dashboard"), {"start": "2026-11-01", "end": "2026-11-30", **params})

    assert _notes(response) == [by_clinician[name] for name in expected]
    assert response.context["notes_matching"] == len(expected)
    assert response.context["d"].total == 5  # the filters narrow the notes, never the figures


@pytest.mark.parametrize("params", [{"reason": "nope"}, {"clinician": "mallory"}], ids=["reason", "clinician"])
def test_dashboard_override_notes_bad_filter_is_a_field_error(admin_client_, noted, params):
    response = admin_client_.get(reverse("dashboard"), {"start": "2026-11-01", "end": "2026-11-30", **params})

    field = next(iter(params))
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["notes_filter"].form.errors[field]
    assert _notes(response) == []
    assert f'aria-describedby="id_{field}_error"' in html


def test_dashboard_notes_are_audited_as_a_view_of_those_screenings(admin_client_, noted, admin_user):
    admin_client_.get(reverse("dashboard"), {"start": "2026-11-01", "end": "2026-11-30", "reason": "waitlist"})

    event = AuditEvent.objects.get(object_type="dashboard")
    assert event.action == AuditEvent.Action.VIEW and event.actor == admin_user
    assert event.details["screenings"] == [str(noted[1].public_id)]
    assert event.details["filters"] == {"reason": "waitlist"}


def test_dashboard_without_notes_records_no_view(admin_client_, db):
    admin_client_.get(reverse("dashboard"), {"start": "2026-11-01", "end": "2026-11-30"})

    assert not AuditEvent.objects.filter(object_type="dashboard").exists()


# --- The daily roll-up: the database marks changed days; a read remakes them.


def _marked() -> set:
    return set(DashboardDirtyDay.objects.values_list("day", flat=True))


def test_writes_of_completed_screenings_mark_their_day_and_drafts_do_not(db):
    DashboardDirtyDay.objects.all().delete()  # a flush after a transactional test deletes screenings: marks
    draft = make_screening(status=Screening.Status.DRAFT, created_at=at(MONDAY))
    Screening.objects.filter(pk=draft.pk).update(override_text="")  # a draft's save

    assert _marked() == set()
    make_screening(created_at=at(MONDAY + dt.timedelta(days=2)))

    assert _marked() == {MONDAY + dt.timedelta(days=2)}


def test_an_amendment_marks_the_day_of_the_screening_it_corrects(db):
    original = make_screening(created_at=at(MONDAY))
    amendment = make_screening(status=Screening.Status.COMPLETED, created_at=at(MONDAY + dt.timedelta(days=3)))
    DashboardDirtyDay.objects.all().delete()

    Screening.objects.filter(pk=amendment.pk).update(amends=original)

    assert _marked() == {MONDAY, MONDAY + dt.timedelta(days=3)}


def test_the_dashboard_follows_changes_made_after_it_was_read(november):
    first = dashboard.build(MONDAY, dt.date(2026, 11, 30), today=LATER)
    completed = november[4]

    # Written around the services (update() sets no updated_at): the trigger marks the day all the same.
    Screening.objects.filter(pk=completed.pk).update(
        decision="overridden", final_level="iop", override_reason="other", override_text="x",
        decided_by=completed.clinician, decided_at=completed.created_at,
    )  # fmt: skip
    _amend(november[0], home_safe=False, created_at=at(MONDAY + dt.timedelta(days=1)))
    second = dashboard.build(MONDAY, dt.date(2026, 11, 30), today=LATER)

    assert (first.overall.overridden, first.overall.decided) == (2, 4)
    assert (second.overall.overridden, second.overall.decided) == (3, 5)
    assert second.total == first.total == 5
    assert second.weeks[0][1] == {"iop": 1, "residential": 1, "inpatient": 0}  # the amendment recommends residential
    assert {day for day in _marked() if day.month == 11} == set()  # read, so remade


def test_a_mark_raised_again_during_a_refresh_is_kept(november, monkeypatch):
    remake = dashboard.remake

    def remake_then_write(days):
        remake(days)
        make_screening(created_at=at(MONDAY + dt.timedelta(days=1)))  # as if committed during the refresh

    monkeypatch.setattr(dashboard, "remake", remake_then_write)
    dashboard.refresh(MONDAY, dt.date(2026, 11, 30))

    assert MONDAY + dt.timedelta(days=1) in _marked()
    monkeypatch.setattr(dashboard, "remake", remake)
    assert dashboard.build(MONDAY, dt.date(2026, 11, 30), today=LATER).total == 6


def test_rollup_equals_counting_the_screenings_directly(november):
    dashboard.mark_all_dirty()
    DashboardCell.objects.all().delete()

    d = dashboard.build(MONDAY, dt.date(2026, 11, 30), today=LATER)

    direct = dashboard.latest_versions(Screening.objects.filter(created_at__gte=at(MONDAY, 0))).filter(
        created_at__lt=at(dt.date(2026, 12, 1), 0)
    )
    assert d.total == direct.count() == 5
    assert dict(d.flags)["Detox first"] == direct.filter(flag_detox_first=True).count()
    assert d.signed == direct.filter(signed_at__isnull=False).count()


def test_rollup_flag_columns_are_the_screening_flags():
    columns = {f.name for f in DashboardCell._meta.get_fields()}

    assert set(FLAG_FIELDS.values()) <= columns


def test_dashboard_notes_link_to_the_same_overrides_in_the_history(admin_client_, noted):
    params = {"start": "2026-11-01", "end": "2026-11-30", "reason": "waitlist", "clinician": "bob"}
    link = admin_client_.get(reverse("dashboard"), params).context["notes_history"]

    history = admin_client_.get(reverse("history") + "?" + link)

    assert QueryDict(link) == QueryDict(
        "overridden=yes&date_from=2026-11-01&date_to=2026-11-30&reason=waitlist&clinician=bob"
    )
    assert [s.pk for s in history.context["rows"]] == [noted[1].pk]
