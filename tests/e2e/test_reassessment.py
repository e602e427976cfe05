"""Reassessment in Chromium (issue 14, item 6): a new screening of a client with a signed screening carries over
history and circumstances, each section to confirm or change; completion needs every one confirmed."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from screening import answers
from screening.models import Screening
from tests.e2e.conftest import assert_accessible, screenshot
from tests.e2e.test_clinician_journey import CIWA, answer, choose
from tests.factories import ClientFactory, UserFactory, make_screening

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reassessment(page, sign_in):
    clinician = UserFactory(username="clinician", role="clinician")
    client = ClientFactory(created_by=clinician)
    source = make_screening(client=client, clinician=clinician, created_at=timezone.now() - dt.timedelta(days=30))
    sign_in("clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()
    expect(page.get_by_role("heading", name="Intake screening")).to_be_visible()
    return page, source


def fill_fresh_answers(page):
    """The questions a reassessment asks afresh, answered as the baseline IOP case (alcohol)."""
    page.get_by_label("Alcohol", exact=True).check()
    for key in CIWA:
        choose(page, key, 1 if key == "ciwa_nausea" else 0)
    for name in ["complicated_withdrawal_now", "unstable_medical_condition", "pregnant", "psychotic_symptoms"]:
        answer(page, name, False)
    for name in ["cssrs_wish_dead", "cssrs_suicidal_thoughts", "homicidal_ideation"]:
        answer(page, name, False)
    for n in range(1, 10):
        choose(page, f"phq9_{n}", 1 if n <= 5 else 0)
    for n in range(1, 8):
        choose(page, f"gad7_{n}", 1)
    page.get_by_label("Never", exact=True).check()  # C-SSRS behaviour
    page.get_by_label("Preparation", exact=True).check()  # stage of change


def saved_with_all_confirmed(page, source):
    """Wait for the autosave that follows the last tick (debounced) to reach the draft."""
    for _ in range(50):
        draft = Screening.objects.get(carried_from=source)
        if draft.confirmed_sections == list(answers.CARRIED_SECTIONS) and draft.work_or_school_commitments:
            return
        page.wait_for_timeout(200)
    pytest.fail(f"not saved: {draft.confirmed_sections}")


def test_reassessment_confirms_each_carried_section_before_completing(reassessment):
    page, source = reassessment
    day = f"{timezone.localtime(source.signed_at):%Y-%m-%d}"
    notes = page.get_by_text(f"Carried over from {day} — confirm or change.")
    expect(notes).to_have_count(len(answers.CARRIED_SECTIONS))
    expect(page.locator("#id_home_safe_0")).to_be_checked()  # carried over
    expect(page.locator("#id_pregnant_0")).not_to_be_checked()  # asked afresh
    assert_accessible(page)
    screenshot(page, "reassessment-1280")

    fill_fresh_answers(page)
    page.get_by_role("button", name="Complete and see recommendation").click()

    # Not confirmed: an error at each section's box, visible and linked from the summary.
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    for key in answers.CARRIED_SECTIONS:
        expect(page.locator(f"#id_confirm_{key}_error")).to_be_visible()
        expect(page.locator(f"#id_confirm_{key}")).to_have_attribute(
            "aria-describedby", f"id_confirm_{key}_what id_confirm_{key}_error"
        )
    summary.get_by_role("link", name="Home and life: the carried-over answers still hold").click()
    expect(page.locator("#id_confirm_home")).to_be_focused()
    assert_accessible(page)

    # Changing a carried answer confirms its section; the others are confirmed by their boxes.
    answer(page, "work_or_school_commitments", True)
    expect(page.locator("#id_confirm_home")).to_be_checked()
    for key in ["substances", "severity", "mental_health", "readiness"]:
        page.locator(f"#id_confirm_{key}").check()
    saved_with_all_confirmed(page, source)
    page.goto(page.url)  # a fresh GET (reload would post the Complete again)
    for key in answers.CARRIED_SECTIONS:  # kept with the draft
        expect(page.locator(f"#id_confirm_{key}")).to_be_checked()

    page.get_by_role("button", name="Complete and see recommendation").click()

    expect(page.locator("#recommended-level")).to_be_visible()
    done = Screening.objects.get(carried_from=source)
    assert done.status == "completed" and done.work_or_school_commitments is True
    assert done.confirmed_sections == list(answers.CARRIED_SECTIONS)


def test_reassessment_fits_a_phone_and_stays_accessible(reassessment):
    page, _ = reassessment
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Complete and see recommendation").click()
    expect(page.locator("#id_confirm_home_error")).to_be_visible()

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)
    screenshot(page, "reassessment-390")


def test_the_signed_reassessments_record_and_print_say_where_its_history_came_from(page, sign_in):
    clinician = UserFactory(username="clinician", role="clinician")
    client = ClientFactory(created_by=clinician)
    source = make_screening(client=client, clinician=clinician, created_at=timezone.now() - dt.timedelta(days=30))
    later = make_screening(client=client, clinician=clinician)
    Screening.objects.filter(pk=later.pk).update(carried_from=source, carried_sections=list(answers.CARRIED_SECTIONS))
    day = f"{timezone.localtime(source.signed_at):%Y-%m-%d}"
    sign_in("clinician")

    page.goto(reverse("screening_detail", args=[later.public_id]))

    note = page.locator("#reassessment")
    expect(note).to_have_text(f"Reassessment — history carried over from the screening signed {day}.")
    assert_accessible(page)
    screenshot(page, "record-reassessment-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(note).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)
    page.emulate_media(media="print")
    expect(note).to_be_visible()
    page.emulate_media(media="screen")
    note.get_by_role("link", name=f"screening signed {day}").click()
    page.wait_for_url(f"**{reverse('screening_detail', args=[source.public_id])}")
    expect(page.locator("#reassessment")).to_have_count(0)
