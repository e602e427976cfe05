"""Browser test of the admin journey: filter the history → open a screening → dashboard → replay."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from screening.models import AuditEvent, Screening
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import ClientFactory, UserFactory, make_screening

pytestmark = pytest.mark.django_db(transaction=True)


def days_ago(n: int, hour: int = 10) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=n)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def seed():
    alice = UserFactory(username="alice", role="clinician")
    bob = UserFactory(username="bob", role="clinician")
    for i in range(6):
        make_screening(clinician=alice if i % 2 else bob, created_at=days_ago(i * 3))
    make_screening(home_safe=False, clinician=alice, created_at=days_ago(4))
    make_screening(ciwa_ar=20, pawss=1, clinician=bob, created_at=days_ago(9))
    target = make_screening(
        ciwa_ar=12,
        pawss=1,
        clinician=bob,
        created_at=days_ago(5),
        final_level="residential",
        override_reason="waitlist",
        client=ClientFactory(given_name="Wren", family_name="Testperson", record_number="E2E-0001"),
    )
    make_screening(
        ciwa_ar=14,
        pawss=1,
        clinician=alice,
        created_at=days_ago(12),
        final_level="residential",
        override_reason="patient_preference",
    )
    return target


def test_admin_journey_history_screening_dashboard_replay(page, sign_in):
    UserFactory(username="director", role="admin")
    target = seed()
    sign_in("director")

    # History, filtered to overridden screenings recommended inpatient.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="Recommendation history")).to_be_visible()
    page.get_by_label("Recommended level").select_option("inpatient")
    page.get_by_label("Overridden").select_option("yes")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"recommended=inpatient.*overridden=yes"))
    expect(page.get_by_role("status")).to_contain_text("2 screenings match")
    assert_accessible(page)
    screenshot(page, "admin-history")

    # Search by record number: the result shows, and the address never carries it.
    page.get_by_label("Client name or record number").fill("E2E-0001")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text("1 screening match")
    assert "E2E" not in page.url and "Testperson" not in page.url

    # Open the screening: answers, reasons, decision, audit events.
    page.get_by_role("link", name="Testperson, Wren").click()
    expect(page).to_have_url(re.compile(str(target.public_id)))
    expect(page.get_by_role("heading", name="Answers by section")).to_be_visible()
    expect(page.get_by_text("DETOX_ALCOHOL")).to_be_visible()
    expect(page.get_by_text("Synthetic test override.")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "admin-screening-review")
    assert AuditEvent.objects.filter(object_id=str(target.public_id), action="view", actor_username="director").exists()

    # Dashboard for last month's range and then the last 90 days.
    page.get_by_role("link", name="Dashboard").first.click()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Screenings per recommended level per week"))).to_be_visible()
    expect(page.get_by_role("table", name="Overrides by reason code")).to_contain_text("Waitlist")
    assert_accessible(page)
    screenshot(page, "admin-dashboard")

    # What-if replay under the proposed rule set.
    page.get_by_role("link", name="What-if replay").first.click()
    page.get_by_label("Rule set version").select_option("2027.01")
    page.get_by_role("button", name="Replay").click()
    # The job starts worker processes; on a loaded machine that alone can take seconds.
    expect(page.get_by_role("status")).to_contain_text("2 of 10 recommendations would change", timeout=60_000)
    assert_accessible(page)
    screenshot(page, "admin-replay")
    assert Screening.objects.filter(recommended_level="inpatient").count() == 3  # nothing stored changed


def last_month(day: int, hour: int = 10) -> dt.datetime:
    first_of_this = timezone.localdate().replace(day=1)
    when = (first_of_this - dt.timedelta(days=1)).replace(day=day)
    return timezone.make_aware(dt.datetime.combine(when, dt.time(hour)))


def _override(note: str, created_at, clinician, reason: str):
    s = make_screening(
        home_safe=False, clinician=clinician, created_at=created_at, final_level="iop", override_reason=reason
    )
    Screening.objects.filter(pk=s.pk).update(override_text=note)
    return s


def test_admin_reads_last_months_override_notes_from_the_dashboard_in_two_page_loads(page, sign_in):
    UserFactory(username="director", role="admin")
    alice = UserFactory(username="alice", role="clinician")
    bob = UserFactory(username="bob", role="clinician")
    _override("No residential bed until the 20th.", last_month(3), alice, "waitlist")
    _override("Wants to keep her night shifts.", last_month(12), bob, "patient_preference")
    _override("A note from this month.", days_ago(0, hour=0) + dt.timedelta(minutes=5), bob, "waitlist")
    for day in (2, 9, 16):
        make_screening(clinician=alice, created_at=last_month(day))  # accepted: no note
    sign_in("director")
    page.goto(reverse("dashboard"))
    loads = []
    page.on("load", lambda: loads.append(page.url))

    page.get_by_role("link", name="Last month").click()
    notes = page.get_by_role("region", name="Recent override notes")
    expect(notes).to_contain_text("No residential bed until the 20th.")
    expect(notes).to_contain_text("Wants to keep her night shifts.")
    expect(notes).not_to_contain_text("A note from this month.")
    expect(notes).to_contain_text("2 overrides in this range match")
    notes.get_by_label("Override reason").select_option("waitlist")
    notes.get_by_role("button", name="Filter notes").click()
    expect(notes).to_contain_text("1 override in this range matches")

    expect(notes).to_contain_text("No residential bed until the 20th.")
    expect(notes).not_to_contain_text("Wants to keep her night shifts.")
    assert len(loads) <= 2, loads
    expect(page.get_by_text("each episode counted once")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "admin-dashboard-notes")


def test_history_fits_1366_pixels_without_sideways_scrolling(page, sign_in):
    UserFactory(username="director", role="admin")
    clinician = UserFactory(username="a-clinician-with-a-long-username", role="clinician")
    long_name = ClientFactory(given_name="Maximiliana-Josephine", family_name="Featherstonehaugh-Bartholomew")
    for i, changes in enumerate(
        [
            {"ciwa_ar": 20, "pawss": 6, "withdrawal_seizure_or_dt_history": True, "home_safe": False},
            {"phq9_item9": 1, "phq9_total": 12, "can_attend_9h_week": False, "supportive_network": False},
            {"home_safe": False, "work_or_school_commitments": True},
        ]
    ):
        make_screening(client=long_name, clinician=clinician, created_at=days_ago(i), **changes)
    original = make_screening(client=long_name, clinician=clinician, created_at=days_ago(5), final_level="residential",
                              override_reason="transportation_or_access")  # fmt: skip
    amendment = make_screening(client=long_name, clinician=clinician, created_at=days_ago(4))
    Screening.objects.filter(pk=amendment.pk).update(amends=original)
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in("director")

    page.goto(reverse("history"))

    region = page.get_by_role("region", name="History results, scrollable table")
    widths = region.evaluate("r => [r.scrollWidth, r.clientWidth]")
    assert widths[0] <= widths[1], f"the table scrolls sideways: {widths}"
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    heading = page.get_by_role("columnheader", name=re.compile("Status and date signed")).bounding_box()
    box = region.bounding_box()
    assert heading["x"] + heading["width"] <= box["x"] + box["width"] + 0.5
    page.locator("summary", has_text="Transportation or access").click()  # the override's row opens to its note
    expect(page.get_by_text("Synthetic test override.")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "admin-history-1366")
