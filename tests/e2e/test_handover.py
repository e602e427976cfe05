"""The patient hand-over in Chromium (issue 14, item 7): the clinician hands the device over from a draft, the person
answers PHQ-9 and GAD-7 on a page that shows nothing else of the record (keyboard and touch, axe-clean at 1280 and
390 px), Back never reaches the record, and only the clinician's password returns to the questionnaire, where a
PHQ-9 item 9 answer is announced."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from screening import selfreport
from screening.models import AuditEvent, Screening
from tests.e2e.conftest import assert_accessible, screenshot, sign_in_on
from tests.factories import PASSWORD, ClientFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

RESPONSE = dict(selfreport.RESPONSES)


def no_sideways_scrolling(page):
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_the_whole_hand_over(page, sign_in):
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory(given_name="Ottilie", family_name="Vanderpump", record_number="MRN-77031")
    sign_in("clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()
    page.get_by_label("Opioids").check()  # something of the clinician's own, saved as the device is handed over

    page.get_by_role("button", name="Hand to the patient for PHQ-9 and GAD-7").click()

    expect(page).to_have_url(re.compile(r"/handover/$"))
    expect(page.get_by_role("heading", name="Questions for you", level=1)).to_be_visible()
    body = page.locator("body").inner_text()
    for private in ("Ottilie", "Vanderpump", "MRN-77031", "clinician (", "Clients", "Sign out", "Opioids"):
        assert private not in body
    assert page.locator("a").count() == 0  # no way out
    assert_accessible(page)
    screenshot(page, "handover-questions")

    # The keyboard: Tab reaches the first question, the arrow keys choose along its answers.
    first = page.locator('input[name="phq9_1"]').first
    first.focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    expect(page.locator('input[name="phq9_1"][value="1"]')).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.locator('input[name="phq9_2"]').first).to_be_focused()
    expect(page.get_by_role("status")).to_have_text("Your answers are saved.")  # saved as given

    # Back: the browser goes to the questionnaire's address, and lands on the hand-over again.
    page.go_back()
    page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/handover/$"))
    assert "Vanderpump" not in page.locator("body").inner_text()
    expect(page.locator('input[name="phq9_1"][value="1"]')).to_be_checked()  # their own answer, kept
    page.go_back()  # and further back, the client's page: the hand-over again
    page.wait_for_load_state()
    expect(page).to_have_url(re.compile(r"/handover/$"))
    assert "Vanderpump" not in page.locator("body").inner_text()

    # Finished too soon: what is left is pointed out at each question, the summary first.
    page.get_by_role("button", name="I have finished").click()
    expect(page.get_by_role("heading", name="15 questions not answered yet")).to_be_visible()
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#id_phq9_2")).to_have_attribute("aria-describedby", "id_phq9_2_error")
    assert_accessible(page)
    screenshot(page, "handover-unanswered")

    # Touch (clicks on the large answers); item 9 "Several days".
    for item in selfreport.ITEMS[1:]:
        value = 1 if item.name == "phq9_9" else 0
        page.locator(f'label[for="id_{item.name}_{value}"]').click()
    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scrolling(page)
    assert_accessible(page)
    screenshot(page, "handover-questions-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="I have finished").click()

    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    try:
        page.go_back()
    except PlaywrightError as exc:  # Back to the page a post answered (the unanswered questions): not sent again
        assert "ERR_CACHE_MISS" in str(exc)
    page.wait_for_load_state()
    assert "Vanderpump" not in page.locator("body").inner_text()
    page.go_back()  # Back again: the answers page, now locked
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    page.goto(reverse("client_detail", args=[client.public_id]))  # the address bar too
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    assert "Vanderpump" not in page.locator("body").inner_text()
    assert_accessible(page)

    page.get_by_label("Clinician: your password").fill("not my password")
    page.get_by_role("button", name="Unlock and return to the screening").click()
    expect(page.get_by_text("That password is not correct.")).to_be_visible()
    expect(page.get_by_label("Clinician: your password")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scrolling(page)
    screenshot(page, "handover-locked")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Clinician: your password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock and return to the screening").click()

    expect(page.get_by_role("heading", name="Intake screening")).to_be_visible()
    alert = page.locator("#self-report-alert")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text(f"{RESPONSE[1]} (1)")
    expect(alert).to_be_focused()  # the page opens at it
    expect(page.get_by_text("PHQ-9 and GAD-7 answered by the person on this device.")).to_be_visible()
    expect(page.get_by_label("Opioids")).to_be_checked()
    assert_accessible(page)
    screenshot(page, "handover-returned")

    screening = Screening.objects.get(client=client)
    assert screening.phq9_self_reported and screening.gad7_self_reported
    assert (screening.phq9_1, screening.phq9_9, screening.phq9_total, screening.gad7_total) == (1, 1, 2, 0)
    steps = [
        e.details["handover"]
        for e in AuditEvent.objects.filter(object_id=str(screening.public_id), details__has_key="handover")
    ]
    assert steps[0] == "handed_over" and steps[-2:] == ["answered", "returned"]
    assert AuditEvent.objects.filter(action="sign_in_failed", details__during="hand-over return").count() == 1


def test_the_hand_over_without_javascript(page_without_javascript):
    page = page_without_javascript
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in_on(page, "clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()
    page.get_by_role("button", name="Hand to the patient for PHQ-9 and GAD-7").click()

    for item in selfreport.ITEMS[:-1]:  # the last one left
        page.locator(f'label[for="id_{item.name}_2"]').click()
    page.get_by_role("button", name="I have finished").click()
    expect(page.get_by_role("heading", name="1 question not answered yet")).to_be_visible()
    expect(page.locator("#id_gad7_7")).to_have_attribute("aria-describedby", "id_gad7_7_error")
    page.get_by_role("button", name="Finish, and leave the rest to my clinician").click()
    page.get_by_label("Clinician: your password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock and return to the screening").click()

    expect(page.locator("#self-report-alert")).to_contain_text(RESPONSE[2])
    screening = Screening.objects.get(client=client)
    assert screening.phq9_self_reported and not screening.gad7_self_reported


HANDOVER_IDLE = 6  # seconds (tests/e2e/test_nothing_lost.py): the clinician's session ends while the person answers


def test_the_hand_over_without_javascript_keeps_answers_sent_after_the_session_ended(
    page_without_javascript, browser, live_server, settings
):
    # The finding: without a script nothing is saved until "I have finished"; posted after the clinician's session
    # ended, the person's answers were lost. They are kept for the clinician, offered back after sign-in here.
    settings.SESSION_IDLE_TIMEOUT_SECONDS = HANDOVER_IDLE
    page = page_without_javascript
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in_on(page, "clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()
    page.get_by_label("Alcohol", exact=True).check()  # the clinician's own answer, saved with the hand-over
    page.get_by_role("button", name="Hand to the patient for PHQ-9 and GAD-7").click()
    for n, item in enumerate(selfreport.ITEMS):
        page.locator(f'label[for="id_{item.name}_{n % 4}"]').click()
    page.wait_for_timeout((HANDOVER_IDLE + 2) * 1000)

    page.get_by_role("button", name="I have finished").click()

    expect(page.get_by_text("Your answers were kept")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()  # the sign-in page: nothing of the record
    draft = Screening.objects.get(client=client)
    assert draft.phq9_1 is None and draft.substance_alcohol  # kept, not saved
    page.get_by_label("Username").fill("clinician")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    kept = page.locator("#kept-answers")
    expect(kept).to_contain_text("the person's answers from the hand-over")
    for n, item in enumerate(selfreport.ITEMS):
        expect(page.locator(f'input[name="{item.name}"][value="{n % 4}"]')).to_be_checked()
    expect(page.get_by_label("Alcohol", exact=True)).to_be_checked()
    # axe runs as a script: the same page, offered again, in a browser with scripts and this one's cookies.
    seen = browser.new_context(base_url=live_server.url, storage_state=page.context.storage_state())
    same = seen.new_page()
    same.goto(page.url)
    expect(same.locator("#kept-answers")).to_contain_text("the person's answers from the hand-over")
    assert_accessible(same)
    screenshot(same, "handover-kept-1280")
    same.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scrolling(same)
    assert_accessible(same)
    screenshot(same, "handover-kept-390")
    seen.close()
    page.get_by_role("button", name="Save draft").first.click()

    expect(page.get_by_text("Draft saved.")).to_be_visible()
    expect(page.locator("#kept-answers")).to_have_count(0)
    draft.refresh_from_db()
    assert [getattr(draft, i.name) for i in selfreport.ITEMS] == [n % 4 for n in range(len(selfreport.ITEMS))]
    assert draft.phq9_self_reported and draft.gad7_self_reported and draft.substance_alcohol
