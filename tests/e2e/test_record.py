"""The screening record as the clinician sees it (issue 14), in Chromium: safety flags that lead, the decision as
prominent as the recommendation, acknowledgements before signing, amendments with a reason, the print, the
phone width (390 px) and the favicon; axe-checked at 1280 and 390 px."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from screening import services
from screening.models import Screening
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import PASSWORD, ClientFactory, UserFactory, make_screening

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
PHQ9_ITEMS = {f"phq9_{n}": (1 if n <= 5 else 0) for n in range(1, 9)}


@pytest.fixture
def clinician(sign_in):
    user = UserFactory(username="clinician", role="clinician")
    sign_in("clinician")
    return user


def record_url(screening) -> str:
    return reverse("screening_detail", args=[screening.public_id])


def decided(user, **changes) -> Screening:
    s = make_screening(status="completed", clinician=user, client=ClientFactory(created_by=user), **changes)
    return services.screening_decide(screening=s, final_level=s.recommended_level, actor=user)


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url}: {width}px wide in a {viewport}px viewport"


def top(page, selector: str) -> float:
    return page.locator(selector).bounding_box()["y"]


def test_a_signed_override_shows_the_final_level_as_prominently_as_the_recommendation(page, clinician):
    s = make_screening(clinician=clinician, home_safe=False, final_level="iop", override_reason="patient_preference")

    page.goto(record_url(s))

    recommended, final = page.locator("#recommended-level"), page.locator("#final-level")
    expect(recommended).to_have_text("Residential")
    expect(final).to_have_text("IOP (intensive outpatient)")
    size = "el => getComputedStyle(el).fontSize"
    assert final.evaluate(size) == recommended.evaluate(size)
    assert abs(top(page, "#final-level") - top(page, "#recommended-level")) < 2, "side by side, on one line"
    expect(page.locator("#decision-headline")).to_contain_text(
        "Chose another level than recommended: patient preference"
    )
    assert_accessible(page)
    screenshot(page, "record-override-signed")


def test_safety_flags_lead_and_look_unlike_planning_flags(page, clinician):
    s = make_screening(
        status="completed", clinician=clinician, ciwa_ar=12, phq9_item9=2, phq9_total=8, work_or_school_commitments=True
    )

    page.goto(record_url(s))

    flags = page.locator("[data-flag]")
    expect(flags).to_have_count(3)
    assert [flags.nth(i).get_attribute("data-flag") for i in range(3)] == [
        "detox_first",
        "safety_review",
        "commitments_conflict",
    ]
    assert top(page, "#flags") < top(page, "#recommended-level")
    background = "el => getComputedStyle(el).backgroundColor"
    assert flags.nth(0).evaluate(background) == flags.nth(1).evaluate(background) != flags.nth(2).evaluate(background)
    expect(page.locator('[data-flag="safety_review"]')).to_contain_text(
        "Raised by: PHQ-9 item 9 (thoughts of death or self-harm) = 2"
    )
    expect(page.locator("#scores")).to_contain_text("PHQ-9 item 9 (thoughts of death or self-harm)")
    expect(page.locator("#domains tbody tr")).to_have_count(6)
    assert_accessible(page)
    screenshot(page, "record-safety-flags")


def test_signing_an_emergency_needs_the_action_taken_and_shows_it(page, clinician):
    s = decided(clinician, homicidal_ideation=True)
    page.goto(record_url(s))
    expect(page.locator("#emergency-banner")).to_contain_text("Thoughts of harming others with intent or a plan = yes")

    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign screening").click()

    expect(page.locator("#error-summary")).to_contain_text("Choose the action taken on the emergency referral.")
    text = page.get_by_label("What was done")
    expect(text).to_have_attribute("aria-invalid", "true")
    described = text.get_attribute("aria-describedby")
    assert "id_emergency_action_text_error" in described
    expect(page.locator("#id_emergency_action_text_error")).to_contain_text("Describe what was done")
    assert_accessible(page)
    screenshot(page, "record-emergency-acknowledgement")

    page.get_by_label("Sent to an emergency department").check()
    text.fill("Walked with the person to the synthetic ED; handed over to the triage nurse at 14:10.")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign screening").click()

    expect(page.locator("#signature")).to_be_visible()
    expect(page.locator("#emergency-action")).to_contain_text("Action taken: Sent to an emergency department")
    expect(page.locator("#acknowledgements")).to_contain_text("handed over to the triage nurse")
    assert Screening.objects.get(pk=s.pk).emergency_action == "emergency_department"


def test_a_safety_review_is_confirmed_before_signing(page, clinician):
    s = decided(clinician, cssrs__wish_dead=True)
    page.goto(record_url(s))

    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign screening").click()
    expect(page.locator("#error-summary")).to_contain_text("Confirm the same-day risk assessment before signing.")
    confirm = page.get_by_label("I confirm the same-day risk assessment was done")
    expect(confirm).to_have_attribute("aria-invalid", "true")
    assert "id_safety_review_confirmed_error" in confirm.get_attribute("aria-describedby")
    confirm.check()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign screening").click()

    expect(page.locator("#acknowledgements")).to_contain_text("the same-day risk assessment was confirmed")


def test_the_print_shows_item_answers_domains_acknowledgements_and_not_asked(page, clinician):
    s = decided(clinician, cssrs__wish_dead=True, phq9_total=5)
    Screening.objects.filter(pk=s.pk).update(**PHQ9_ITEMS, phq9_9=0)
    services.screening_sign(screening=s, actor=clinician, safety_review_confirmed=True)
    page.goto(record_url(s))

    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")  # what the Print button's print() fires
    page.emulate_media(media="print")

    expect(page.get_by_text("PHQ-9 item 1: Little interest or pleasure in doing things")).to_be_visible()
    q3 = page.locator("tr", has=page.get_by_text("Q3 Thought about how (method)", exact=True))
    expect(q3).to_contain_text("not asked")
    expect(page.locator("#domains")).to_be_visible()
    expect(page.locator("#acknowledgements")).to_be_visible()
    expect(page.locator(".redisclosure-notice")).to_be_visible()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    page.pdf(path=None)  # Chromium lays the page out for paper without error
    screenshot(page, "record-print")


def test_an_amendment_needs_a_reason_and_the_timeline_marks_what_it_superseded(page, clinician):
    original = make_screening(clinician=clinician, client=ClientFactory(created_by=clinician))
    page.goto(record_url(original))

    page.get_by_role("button", name="Amend (start a corrected version)").click()
    reason = page.get_by_label("Reason for amendment")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_reason_error")).to_contain_text("Give the reason for the amendment")
    assert_accessible(page)
    reason.fill("Pregnancy was entered for the wrong person.")
    page.get_by_role("button", name="Amend (start a corrected version)").click()
    page.wait_for_url(re.compile(r"/edit/$"))

    amendment = Screening.objects.get(amends=original)
    assert amendment.amendment_reason == "Pregnancy was entered for the wrong person."
    services.screening_complete(screening=amendment, actor=clinician)
    amendment = services.screening_decide(screening=amendment, final_level="iop", actor=clinician)
    services.screening_sign(screening=amendment, actor=clinician)
    page.goto(reverse("client_detail", args=[original.client.public_id]))

    superseded = page.locator("tr[data-superseded]")
    expect(superseded).to_have_count(1)
    expect(superseded).to_contain_text("Superseded")
    expect(superseded.get_by_role("link").first).to_have_attribute("href", record_url(original))
    expect(page.get_by_text("Reason: Pregnancy was entered for the wrong person.")).to_be_visible()
    assert_accessible(page)
    page.goto(record_url(amendment))
    expect(page.locator("#amendment-reason")).to_contain_text("Pregnancy was entered for the wrong person.")
    screenshot(page, "record-amendment")


def test_home_highlights_a_completed_emergency_screening(page, clinician):
    make_screening(status="completed", clinician=clinician, homicidal_ideation=True)
    make_screening(status="completed", clinician=clinician)

    page.goto(reverse("home"))

    emergency = page.locator("tr[data-emergency]")
    expect(emergency).to_have_count(1)
    expect(emergency).to_contain_text("Emergency referral")
    rows = page.locator("#h-unfinished ~ div tbody tr")
    background = "el => getComputedStyle(el.querySelector('th')).backgroundColor"
    assert len({rows.nth(i).evaluate(background) for i in range(rows.count())}) == 2, "the emergency row stands out"
    assert_accessible(page)


@pytest.mark.parametrize("width", [1280, 390])
def test_record_pages_are_accessible_at_both_widths(page, clinician, width):
    page.set_viewport_size({"width": width, "height": 900})
    s = decided(clinician, ciwa_ar=12, phq9_item9=1, phq9_total=7)
    signed = make_screening(clinician=clinician, home_safe=False, final_level="iop", override_reason="waitlist")

    for url in (
        record_url(s),
        record_url(signed),
        reverse("client_detail", args=[signed.client.public_id]),
        reverse("home"),
    ):
        page.goto(url)
        assert_accessible(page)
        no_sideways_scroll(page)
    page.goto(record_url(s))
    screenshot(page, f"record-{width}")


def test_phone_width_collapses_the_navigation_and_never_scrolls_sideways(page, clinician):
    page.set_viewport_size(PHONE)
    s = decided(clinician, homicidal_ideation=True)
    signed = make_screening(clinician=clinician)
    urls = [
        reverse("home"),
        reverse("client_list"),
        reverse("client_create"),
        reverse("client_detail", args=[signed.client.public_id]),
        record_url(s),
        record_url(signed),
        reverse("password_change"),
    ]

    for url in urls:
        page.goto(url)
        no_sideways_scroll(page)
        assert_accessible(page)

    sign_out = page.get_by_role("button", name="Sign out")
    expect(sign_out).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(sign_out).to_be_visible()
    box = sign_out.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    no_sideways_scroll(page)
    assert_accessible(page)
    screenshot(page, "phone-menu-open")


def test_phone_width_questionnaire_does_not_scroll_sideways(page, clinician):
    page.set_viewport_size(PHONE)
    draft = services.screening_start(client=ClientFactory(created_by=clinician), clinician=clinician)

    page.goto(reverse("screening_edit", args=[draft.public_id]))

    no_sideways_scroll(page)


def test_without_javascript_the_menu_stays_open(browser, live_server):
    UserFactory(username="nojs", role="clinician")
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("nojs")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    context.close()


def test_pages_load_a_favicon_and_nothing_404s(page, clinician):
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    s = make_screening(clinician=clinician)

    page.goto(record_url(s))
    page.wait_for_load_state("networkidle")
    icon = page.locator('link[rel="icon"]').get_attribute("href")

    assert page.request.get(icon).status == 200
    assert page.request.get(reverse("favicon")).status == 200  # redirected to the same icon
    assert missing == []


def test_below_iop_threshold_reads_iop_and_the_answers_panel_shows_items(page, clinician):
    s = make_screening(clinician=clinician, dsm5_criteria=["craving"], cssrs__wish_dead=True)
    Screening.objects.filter(pk=s.pk).update(**PHQ9_ITEMS, phq9_9=1)
    page.goto(record_url(s))

    expect(page.locator('[data-flag="below_iop_threshold"]')).to_contain_text("Below IOP threshold")
    expect(page.locator('[data-flag="below_iop_threshold"]')).to_contain_text("1 DSM-5 criterion met (fewer than 2)")
    page.get_by_text("Answers", exact=True).click()

    expect(
        page.get_by_text("PHQ-9 item 9: Thoughts that you would be better off dead, or of hurting yourself")
    ).to_be_visible()
    plan = page.locator("tr", has=page.get_by_text("Q5 Worked out details of a plan, with intent", exact=True))
    expect(plan).to_contain_text("not asked")
    assert_accessible(page)
