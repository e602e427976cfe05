"""Browser test of the admin journey: filter the history → open a screening → dashboard → replay."""

import datetime as dt
import re

import pytest
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
    expect(page.get_by_role("status")).to_contain_text("2 of 10 recommendations would change")
    assert_accessible(page)
    screenshot(page, "admin-replay")
    assert Screening.objects.filter(recommended_level="inpatient").count() == 3  # nothing stored changed
