"""The admin history page: access, each filter and combinations, search by POST, sorting, paging."""

import datetime as dt

import pytest
from django.db import connection
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from screening.models import AuditEvent, Screening
from tests.factories import ClientFactory, UserFactory, make_screening

URL = "history"


def ids(response) -> list:
    return [s.pk for s in response.context["rows"]]


def at(days_ago: int, hour: int = 12) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def three(db):
    """IOP accepted (today), inpatient overridden to residential (10 days ago), residential (40 days ago)."""
    alice = UserFactory(username="alice", role="clinician")
    bob = UserFactory(username="bob", role="clinician")
    iop = make_screening(clinician=alice, created_at=at(0))
    inpatient = make_screening(ciwa_ar=12, pawss=None, clinician=bob, created_at=at(10), final_level="inpatient")
    residential = make_screening(
        home_safe=False,
        clinician=alice,
        created_at=at(40),
        final_level="iop",
        override_reason="waitlist",
        client=ClientFactory(given_name="Quill", family_name="Zephyrine", record_number="R-4242"),
    )
    return iop, inpatient, residential


def test_history_anonymous_redirects_to_sign_in(client):
    response = client.get(reverse(URL))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["clinician_client", "auditor_client"])
def test_history_other_roles_forbidden(request, who):
    response = request.getfixturevalue(who).get(reverse(URL))

    assert response.status_code == 403


def test_history_lists_completed_and_signed_newest_first_without_drafts(admin_client_, three):
    iop, inpatient, residential = three
    make_screening(status=Screening.Status.DRAFT)
    completed = make_screening(status=Screening.Status.COMPLETED, created_at=at(5))

    response = admin_client_.get(reverse(URL))

    assert response.status_code == 200
    assert ids(response) == [iop.pk, completed.pk, inpatient.pk, residential.pk]
    assert response.context["count"] == 4


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"recommended": "inpatient"}, ["inpatient"]),
        ({"recommended": "residential"}, ["residential"]),
        ({"final": "iop"}, ["iop", "residential"]),
        ({"overridden": "yes"}, ["residential"]),
        ({"overridden": "no"}, ["iop", "inpatient"]),
        ({"reason": "waitlist"}, ["residential"]),
        ({"reason": "other"}, []),
        ({"flag": "detox_first"}, ["inpatient"]),
        ({"flag": "emergency_referral"}, []),
        ({"clinician": "alice"}, ["iop", "residential"]),
        ({"version": "2026.11"}, ["iop", "inpatient", "residential"]),
        ({"version": "2027.01"}, []),
        ({"date_from": "D15"}, ["iop", "inpatient"]),
        ({"date_to": "D10"}, ["inpatient", "residential"]),
        ({"date_from": "D10", "date_to": "D10"}, ["inpatient"]),
        ({"final": "iop", "clinician": "alice", "overridden": "yes"}, ["residential"]),
        ({"final": "iop", "clinician": "bob"}, []),
        ({"recommended": "inpatient", "date_from": "D5"}, []),
    ],
    ids=lambda v: "&".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None,
)
def test_history_filter_selects_expected_rows(admin_client_, three, params, expected):
    by_name = dict(zip(["iop", "inpatient", "residential"], three, strict=True))
    query = {
        k: (timezone.localdate() - dt.timedelta(days=int(v[1:]))).isoformat() if v.startswith("D") else v
        for k, v in params.items()
    }

    response = admin_client_.get(reverse(URL), query)

    assert response.status_code == 200
    assert ids(response) == [by_name[name].pk for name in expected]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "2026-13-45"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "2026-11-20", "date_to": "2026-11-01"}, "date_to"),
        ({"recommended": "detox"}, "recommended"),
        ({"flag": "nope"}, "flag"),
        ({"clinician": "nobody"}, "clinician"),
        ({"sort": "password"}, "sort"),
    ],
    ids=[
        "bad-date",
        "word-date",
        "end-before-start",
        "unknown-level",
        "unknown-flag",
        "unknown-clinician",
        "unknown-sort",
    ],
)
def test_history_bad_filter_shows_field_error_not_500(admin_client_, three, params, field):
    response = admin_client_.get(reverse(URL), params)

    assert response.status_code == 200
    assert response.context["filter"].form.errors[field]
    assert ids(response) == []
    assert b"Some filters are not valid" in response.content


def test_history_search_by_post_finds_name_and_record_number(admin_client_, three):
    residential = three[2]

    by_name = admin_client_.post(reverse(URL), {"q": "zephyr"})
    by_number = admin_client_.post(reverse(URL), {"q": "r-4242"})
    both_words = admin_client_.post(reverse(URL), {"q": "Quill Zephyrine"})

    assert ids(by_name) == ids(by_number) == ids(both_words) == [residential.pk]


def test_history_search_in_url_is_ignored(admin_client_, three):
    response = admin_client_.get(reverse(URL), {"q": "Zephyrine"})

    assert len(ids(response)) == 3


def test_history_search_keeps_url_filters(admin_client_, three):
    response = admin_client_.post(reverse(URL) + "?overridden=no", {"q": "Zephyrine"})

    assert ids(response) == []


@pytest.mark.parametrize("column", ["recommended", "final"])
def test_history_sorts_levels_by_intensity_of_care_not_the_alphabet(admin_client_, three, column):
    iop, inpatient, residential = three
    Screening.objects.filter(pk=residential.pk).update(
        final_level="residential", decision="accepted", override_reason="", override_text=""
    )

    ascending = admin_client_.get(reverse(URL), {"sort": column})
    descending = admin_client_.get(reverse(URL), {"sort": f"-{column}"})

    assert ids(ascending) == [iop.pk, residential.pk, inpatient.pk]
    assert ids(descending) == [inpatient.pk, residential.pk, iop.pk]


def test_history_sort_labels_name_the_order_of_care(admin_client_, three):
    response = admin_client_.get(reverse(URL), {"sort": "-recommended"})

    labels = dict(response.context["filter"].form.fields["sort"].choices)
    assert labels["recommended"] == "Recommended level (IOP → Residential → Inpatient)"
    assert labels["-final"] == "Final level (Inpatient → Residential → IOP)"
    html = response.content.decode()
    assert "A–Z" not in html and "Z–A" not in html
    assert "Inpatient first" in html  # beside the heading the page is sorted by


def test_history_shows_override_reason_and_note_in_an_expandable_row(admin_client_, three):
    iop, inpatient, residential = three
    Screening.objects.filter(pk=residential.pk).update(override_text="Bed offered next week; starts IOP meanwhile.")

    html = admin_client_.get(reverse(URL)).content.decode()

    assert html.count("<details") == 1  # only the overridden row has a note to open
    details = html[html.index("<details") : html.index("</details>")]
    assert "Waitlist" in details
    assert "Bed offered next week; starts IOP meanwhile." in details


def test_history_sort_links_toggle_and_mark_aria_sort(admin_client_, three):
    response = admin_client_.get(reverse(URL), {"sort": "-date", "final": "iop"})

    link = response.context["sorts"]["date"]
    assert QueryDict(link["query"]) == QueryDict("final=iop&sort=date")
    assert link["state"] == "descending"
    assert 'aria-sort="descending"' in response.content.decode()


def test_history_pages_are_stable_and_disjoint(admin_client_, db):
    clinician = UserFactory(role="clinician")
    made = [make_screening(clinician=clinician, created_at=at(0, hour=1)) for _ in range(30)]  # same timestamp

    first = admin_client_.get(reverse(URL), {"per_page": 25})
    second = admin_client_.get(reverse(URL), {"per_page": 25, "page": 2})

    assert len(ids(first)) == 25 and len(ids(second)) == 5
    assert sorted(ids(first) + ids(second)) == sorted(s.pk for s in made)
    assert second.context["last"] == 2


def test_history_page_out_of_range_shows_last_page(admin_client_, three):
    response = admin_client_.get(reverse(URL), {"page": "999"})

    assert response.context["number"] == 1
    assert len(ids(response)) == 3


def test_history_count_is_capped(admin_client_, three, monkeypatch):
    monkeypatch.setattr("screening.selectors.COUNT_CAP", 2)

    response = admin_client_.get(reverse(URL))

    assert response.context["capped"] is True
    assert b"More than 2 screenings match" in response.content


def test_history_view_is_an_audit_event_without_search_terms(admin_client_, three):
    admin_client_.post(reverse(URL) + "?final=iop", {"q": "Zephyrine"})

    event = AuditEvent.objects.get(object_type="history")
    assert event.action == AuditEvent.Action.VIEW
    assert event.details["filters"] == {"final": "iop"}
    assert event.details["search"] is True
    assert "Zephyrine" not in str(event.details)


def test_history_rows_link_to_review_by_uuid(admin_client_, three):
    response = admin_client_.get(reverse(URL))

    for s in three:
        assert reverse("review_screening", args=[s.public_id]) in response.content.decode()


def test_history_marks_amendments_and_the_screenings_they_supersede(admin_client_, three):
    original = three[1]
    amendment = make_screening(client=original.client, created_at=at(9))
    Screening.objects.filter(pk=amendment.pk).update(amends=original)

    response = admin_client_.get(reverse(URL))

    rows = {s.pk: s for s in response.context["rows"]}
    assert rows[original.pk].superseded and not rows[amendment.pk].superseded
    assert rows[amendment.pk].amends_id == original.pk and rows[original.pk].amends_id is None
    assert not rows[three[0].pk].superseded
    body = response.content.decode()
    assert body.count("Superseded by an amendment") == 1
    assert body.count(">Amendment</span>") == 1


@pytest.mark.parametrize("per_page", [25, 100])
def test_history_query_count_is_constant(admin_client_, django_assert_num_queries, per_page, db):
    clinician = UserFactory(role="clinician")
    for i in range(per_page + 5):
        make_screening(clinician=clinician, created_at=at(i % 30), final_level="residential")
    admin_client_.get(reverse(URL))  # warm the session and permission caches of the first request

    # session, user, permissions (2), roles, clinician choices, capped count, page ids, rows, audit (4)
    with django_assert_num_queries(QUERIES + (connection.vendor == "postgresql")):  # + the audit advisory lock
        response = admin_client_.get(reverse(URL), {"per_page": per_page, "overridden": "yes"})

    assert len(ids(response)) == per_page


QUERIES = 13


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"], ids=["far-future", "far-past"])
def test_history_far_off_date_is_a_field_error_not_a_500(admin_client_, day):
    response = admin_client_.get(reverse("history"), {"date_to": day})

    assert response.status_code == 200
    assert "Enter a date between" in response.content.decode()


def test_dashboard_far_off_date_is_a_field_error(admin_client_):
    response = admin_client_.get(reverse("dashboard"), {"start": "2026-01-01", "end": "9999-12-31"})

    assert response.status_code == 200
    assert "Enter a date between" in response.content.decode()


@pytest.mark.parametrize("term", ["Zephyrine, Quill", "zephyrine, qu", "QUILL ZEPHYRINE", "zéphyr", "r-42"])
def test_history_search_finds_what_the_client_search_finds(admin_client_, three, term):
    residential = three[2]
    ClientFactory(given_name="Quillon", family_name="Other", record_number="R-9")  # a near miss, never screened

    history = admin_client_.post(reverse(URL), {"q": term})
    clients = admin_client_.post(reverse("client_list"), {"q": term})

    assert ids(history) == [residential.pk]
    assert [c.pk for c in clients.context["results"]] == [residential.client_id]


def test_history_reversed_range_says_so_at_the_end_date_like_every_date_filter(admin_client_, three):
    response = admin_client_.get(reverse(URL), {"date_from": "2026-11-20", "date_to": "2026-11-01"})

    assert response.context["filter"].form.errors["date_to"] == ["The end date must be on or after the start date."]
    assert ids(response) == []
