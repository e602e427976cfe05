"""Nothing lost to the idle timeout (DESIGN.md §11, issue 14), in Chromium with an idle limit of seconds.

The finding: fill the questionnaire, stay idle past the limit, press Complete → the sign-in page; after signing
in the draft was blank."""

import re
import time

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from screening import services
from screening.models import KeptAnswers, Screening
from tests.e2e.conftest import assert_accessible, screenshot, sign_in_on
from tests.e2e.test_clinician_journey import choose, chosen, fill_iop_answers
from tests.factories import PASSWORD, ClientFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

IDLE = 6  # seconds: the warning shows 3 s before the limit (half the limit, when that is under two minutes)


@pytest.fixture
def short_idle(settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = IDLE


@pytest.fixture
def draft_page(page, sign_in, short_idle):
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in("clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()
    expect(page.get_by_role("heading", name="Intake screening")).to_be_visible()
    return page


def sign_in_here(page):
    """Sign in on the sign-in page the browser was sent to (it carries where to go next)."""
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Username").fill("clinician")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_idle_past_the_limit_then_complete_keeps_every_answer_without_javascript(page_without_javascript, short_idle):
    # No script: no autosave and no warning; the server alone must keep what was posted.
    page = page_without_javascript
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in_on(page, "clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()
    fill_iop_answers(page)
    draft = Screening.objects.get(client=client)
    assert draft.version == 1 and draft.ciwa_tremor is None  # nothing saved yet

    time.sleep(IDLE + 2)
    page.get_by_role("button", name="Complete and see recommendation").click()

    expect(page.get_by_text("Your answers were kept")).to_be_visible()
    sign_in_here(page)
    expect(page.locator("#kept-answers")).to_be_visible()
    expect(chosen(page, "ciwa_tremor", 1)).to_be_checked()
    expect(chosen(page, "home_safe", "yes")).to_be_checked()
    page.get_by_role("button", name="Complete and see recommendation").click()
    expect(page.locator("#recommended-level")).to_have_text("IOP (intensive outpatient)")
    assert not KeptAnswers.objects.exists()


def test_idle_past_the_limit_then_complete_keeps_every_answer(draft_page):
    page = draft_page
    fill_iop_answers(page)
    expect(page.locator("#autosave-status")).to_contain_text("Draft saved at")

    expect(page.locator("#idle-warning")).to_be_visible(timeout=(IDLE + 2) * 1000)
    assert_accessible(page)
    screenshot(page, "idle-warning")
    expect(page.locator("#idle-warning")).to_contain_text("Your session has ended", timeout=(IDLE + 2) * 1000)
    time.sleep(1)
    page.get_by_role("button", name="Complete and see recommendation").click()

    sign_in_here(page)
    expect(page.locator("#kept-answers")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "kept-answers")
    expect(chosen(page, "ciwa_tremor", 1)).to_be_checked()
    page.get_by_role("button", name="Complete and see recommendation").click()
    expect(page.locator("#recommended-level")).to_have_text("IOP (intensive outpatient)")


def test_an_answer_changed_after_the_limit_is_kept_and_the_page_says_so(draft_page):
    page = draft_page
    time.sleep(IDLE + 2)  # the warning came and went unanswered

    page.get_by_label("Opioids", exact=True).check()

    expect(page.locator("#autosave-status")).to_contain_text("Your session has ended")
    expect(page.locator("#autosave-status")).to_contain_text("kept for you")
    page.get_by_role("link", name="Sign in again to go on.").click()
    sign_in_here(page)
    expect(page.locator("#kept-answers")).to_be_visible()
    expect(page.get_by_label("Opioids", exact=True)).to_be_checked()


def test_stay_signed_in_keeps_the_session(draft_page):
    page = draft_page
    warning = page.locator("#idle-warning")
    expect(warning).to_be_visible(timeout=(IDLE + 2) * 1000)
    expect(page.get_by_role("button", name="Stay signed in")).to_be_focused()

    page.get_by_role("button", name="Stay signed in").click()

    expect(warning).to_be_hidden()
    time.sleep(IDLE - 2)  # past the old limit, within the new one
    page.get_by_label("Cannabis", exact=True).check()
    expect(page.locator("#autosave-status")).to_contain_text("Draft saved at")


def test_autosave_saves_each_change_and_a_reload_shows_it(draft_page):
    page = draft_page

    page.get_by_label("Opioids", exact=True).check()
    choose(page, "cows_pulse", 2)

    expect(page.locator("#autosave-status")).to_contain_text("Draft saved at")
    page.reload()
    expect(page.get_by_label("Opioids", exact=True)).to_be_checked()
    expect(chosen(page, "cows_pulse", 2)).to_be_checked()


def test_autosave_reports_a_change_saved_elsewhere_and_overwrites_nothing(draft_page):
    page = draft_page
    draft = Screening.objects.get()
    other = UserFactory(username="colleague", role="clinician")
    services.screening_save_draft(
        screening=draft, data={"substance_cannabis": True}, expected_version=draft.version, actor=other
    )

    page.get_by_label("Stimulants", exact=True).check()

    expect(page.locator("#autosave-status")).to_contain_text("saved elsewhere")
    draft.refresh_from_db()
    assert draft.substance_cannabis and not draft.substance_stimulants
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#conflict")).to_contain_text("Stimulants")
