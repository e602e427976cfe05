"""Dashboard: numbers against hand-computed ones, the page's charts and tables, access, bad input."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from screening import dashboard
from screening.models import Screening
from tests.factories import UserFactory, make_screening

MONDAY = dt.date(2026, 11, 2)


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

    d = dashboard.summarize(rows, {1: "alice", 2: "bob"}, MONDAY, MONDAY + dt.timedelta(days=13))

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
        [row(MONDAY, "iop", "iop")], {}, MONDAY - dt.timedelta(days=10), MONDAY + dt.timedelta(days=8)
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
    qs = Screening.objects.filter(created_at__gte=at(MONDAY, 0), created_at__lt=at(dt.date(2026, 12, 1), 0))

    d = dashboard.build(qs, MONDAY, dt.date(2026, 11, 30))

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
    qs = Screening.objects.filter(created_at__gte=at(MONDAY, 0), created_at__lt=at(dt.date(2026, 12, 1), 0))

    d = dashboard.build(qs, MONDAY, dt.date(2026, 11, 30))

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

    # session, user, perms (2), roles, grouped rows, usernames, flags with minutes to signature
    with django_assert_num_queries(8):
        admin_client_.get(reverse("dashboard"), params)
    make_screening(created_at=at(MONDAY), final_level="inpatient")
    with django_assert_num_queries(8):
        admin_client_.get(reverse("dashboard"), params)
