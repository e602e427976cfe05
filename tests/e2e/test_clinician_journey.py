"""The clinician's main job, in the browser: client → screening → recommendation → decision → signature."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from screening.models import AuditEvent, Client, Screening
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import PASSWORD, ClientFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NO_BOOLS = [
    "withdrawal_seizure_or_dt_history",
    "complicated_withdrawal_now",
    "unstable_medical_condition",
    "pregnant",
    "psychotic_symptoms",
    "cssrs_wish_dead",
    "cssrs_suicidal_thoughts",
    "homicidal_ideation",
    "relapse_after_outpatient_12mo",
    "recent_higher_level_care",
    "lives_with_substance_users",
]
YES_BOOLS = ["home_safe", "stable_housing", "supportive_network", "work_or_school_commitments", "can_attend_9h_week"]


def answer(page, name: str, yes: bool):
    page.locator(f"#id_{name}_{0 if yes else 1}").check()


def choose(page, name: str, value: int | str):
    """One click on a scale's numbered button (a radio drawn as a button: its label takes the click)."""
    page.locator(f'input[name="{name}"][value="{value}"] + label').click()


def chosen(page, name: str, value: int | str):
    return page.locator(f'input[name="{name}"][value="{value}"]')


CIWA = [
    "ciwa_nausea",
    "ciwa_tremor",
    "ciwa_sweats",
    "ciwa_anxiety",
    "ciwa_agitation",
    "ciwa_tactile",
    "ciwa_auditory",
    "ciwa_visual",
    "ciwa_headache",
    "ciwa_orientation",
]


def fill_iop_answers(page, ciwa: int = 1):
    page.get_by_label("Alcohol", exact=True).check()
    for key in CIWA:
        choose(page, key, ciwa if key != "ciwa_orientation" else 0)
    for name in NO_BOOLS:
        answer(page, name, False)
    for name in YES_BOOLS:
        answer(page, name, True)
    answer(page, "family_commitments", False)
    for label in [
        "Craving or strong urges to use",
        "Wanted or tried to cut down without success",
        "Used in larger amounts or for longer than intended",
        "Tolerance",
    ]:
        page.get_by_label(label).check()
    for n in range(1, 10):
        choose(page, f"phq9_{n}", 1 if n <= 5 else 0)
    for n in range(1, 8):
        choose(page, f"gad7_{n}", 1)
    page.get_by_label("None", exact=True).check()  # mental-health condition
    page.get_by_label("Never", exact=True).check()  # C-SSRS behaviour
    page.get_by_label("Preparation", exact=True).check()  # stage of change


def test_clinician_screens_a_client_to_iop_and_signs(page, sign_in):
    UserFactory(username="clinician", role="clinician")
    sign_in("clinician")

    page.get_by_role("link", name="New client").first.click()
    page.get_by_label("Program record number").fill("p-55501")
    page.get_by_label("Given name").fill("Robin")
    page.get_by_label("Family name").fill("Synthetic")
    page.get_by_label("Date of birth").fill("1990-04-12")
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_role("heading", name="Robin Synthetic")).to_be_visible()
    assert "55501" not in page.url and "Robin" not in page.url  # no PHI in URLs
    assert_accessible(page)

    page.get_by_role("button", name="Start a new screening").click()
    expect(page.get_by_role("heading", name="Intake screening")).to_be_visible()
    assert_accessible(page)
    fill_iop_answers(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    expect(chosen(page, "ciwa_tremor", 1)).to_be_checked()  # the draft keeps the answers
    screenshot(page, "screening-form")

    page.get_by_role("button", name="Complete and see recommendation").click()
    expect(page.locator("#recommended-level")).to_have_text("IOP (intensive outpatient)")
    expect(page.get_by_text("Family or friends support recovery.")).to_be_visible()
    expect(page.locator("#emergency-banner")).to_have_count(0)
    assert_accessible(page)

    page.get_by_label("Equine therapy").check()
    page.get_by_label("Library").check()
    screenshot(page, "recommendation-iop")

    page.get_by_role("button", name="Record decision").click()
    expect(page.locator("#decision-summary")).to_contain_text("accepted the recommendation")
    expect(page.locator("#groups-noted")).to_contain_text("Equine therapy, Library")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign screening").click()
    expect(page.locator("#signature")).to_contain_text("Signed by clinician")
    expect(page.get_by_role("button", name="Sign screening")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "recommendation-signed")

    s = Screening.objects.get(client__record_number="P-55501")
    assert s.status == "signed" and s.final_level == "iop" and s.decision == "accepted"
    assert sorted(s.specialty_interests.values_list("group", flat=True)) == ["equine_therapy", "library"]
    actions = set(AuditEvent.objects.filter(object_id=str(s.public_id)).values_list("action", flat=True))
    assert {"create", "change", "complete", "decide", "sign", "view"} <= actions


def test_detox_first_refuses_a_lower_override(page, sign_in):
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in("clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()

    fill_iop_answers(page, ciwa=2)  # CIWA-Ar 18: moderate withdrawal
    page.get_by_role("button", name="Complete and see recommendation").click()

    expect(page.locator("#recommended-level")).to_have_text("Inpatient")
    expect(page.locator('[data-flag="detox_first"]')).to_be_visible()
    expect(page.get_by_role("list", name="Steps of care, in order")).to_contain_text("Medically supervised detox")
    page.get_by_label("IOP (intensive outpatient)").check()
    page.get_by_label("Reason for choosing another level").select_option("patient_preference")
    page.get_by_label("Explain the reason").fill("Prefers to stay at home.")
    page.get_by_role("button", name="Record decision").click()

    expect(page.get_by_text(re.compile("cannot be chosen while detox first is indicated")).first).to_be_visible()
    expect(page.get_by_label("Explain the reason")).to_have_value("Prefers to stay at home.")
    assert_accessible(page)
    screenshot(page, "override-refused")
    assert Screening.objects.get(client=client).final_level == ""


def test_withdrawal_scales_appear_only_for_their_substances(page, sign_in):
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in("clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()

    ciwa, cows = page.locator("#alcohol-section"), page.locator("#opioids-section")
    expect(ciwa).to_be_hidden()
    expect(cows).to_be_hidden()
    page.get_by_label("Alcohol", exact=True).check()
    expect(ciwa).to_be_visible()
    expect(cows).to_be_hidden()
    page.get_by_label("Opioids", exact=True).check()
    expect(cows).to_be_visible()
    page.get_by_label("Alcohol", exact=True).uncheck()
    expect(ciwa).to_be_hidden()
    followup = page.locator("#cssrs-suicidal-thoughts-followup")
    expect(followup).to_be_hidden()
    answer(page, "cssrs_suicidal_thoughts", True)
    expect(followup).to_be_visible()


def test_incomplete_screening_shows_errors_at_fields_and_keeps_answers(page, sign_in):
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in("clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()

    page.get_by_label("Opioids", exact=True).check()
    choose(page, "cows_pulse", 3)
    page.get_by_role("button", name="Complete and see recommendation").click()

    expect(page.locator("#error-summary")).to_be_visible()
    expect(chosen(page, "cows_pulse", 3)).to_be_checked()
    page.reload()  # what was entered was saved as a draft, not only kept on screen
    expect(chosen(page, "cows_pulse", 3)).to_be_checked()
    page.get_by_role("button", name="Complete and see recommendation").click()
    expect(page.locator("#id_cows_sweating")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    screenshot(page, "screening-errors")


def test_a_refused_answer_in_a_closed_section_stays_in_view(page, sign_in):
    # Daily sedative use answered yes, then sedatives unticked: completion refuses the yes, and the
    # section holding it must stay shown so the clinician can see the error and correct it.
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in("clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()
    fill_iop_answers(page)
    answer(page, "cssrs_wish_dead", False)
    answer(page, "cssrs_suicidal_thoughts", False)
    page.get_by_label("Sedatives (benzodiazepines, barbiturates)").check()
    answer(page, "daily_sedative_use", True)
    page.get_by_label("Sedatives (benzodiazepines, barbiturates)").uncheck()

    page.get_by_role("button", name="Complete and see recommendation").click()

    field = page.locator("#id_daily_sedative_use_0")
    expect(field).to_be_visible()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_daily_sedative_use_error")).to_contain_text("only when sedatives are listed")
    answer(page, "daily_sedative_use", False)
    page.get_by_role("button", name="Complete and see recommendation").click()
    expect(page.get_by_role("heading", name=re.compile("Recommended level", re.I))).to_be_visible()


def test_auditor_cannot_open_new_screening_page(page, sign_in):
    UserFactory(username="auditor", role="auditor")
    client = ClientFactory()
    draft = Screening.objects.create(client=client, clinician=client.created_by)
    sign_in("auditor")

    response = page.goto(reverse("screening_edit", args=[draft.public_id]))

    assert response.status == 403
    assert Client.objects.count() == 1


def open_new_screening(page, sign_in):
    UserFactory(username="clinician", role="clinician")
    client = ClientFactory()
    sign_in("clinician")
    page.goto(reverse("client_detail", args=[client.public_id]))
    page.get_by_role("button", name="Start a new screening").click()
    expect(page.get_by_role("heading", name="Intake screening")).to_be_visible()
    return client


def test_errors_on_yes_no_questions_are_visible_and_linked(page, sign_in):
    open_new_screening(page, sign_in)
    page.get_by_label("Cannabis", exact=True).check()

    page.get_by_role("button", name="Complete and see recommendation").click()

    for name in ("pregnant", "home_safe"):
        message = page.locator(f"#id_{name}_error")
        expect(message).to_be_visible()
        expect(message).to_have_text("Answer this to complete the screening.")
        expect(page.locator(f"#id_{name}")).to_have_attribute("aria-describedby", f"id_{name}_error")
        box = message.bounding_box()
        assert box["height"] > 5 and box["width"] > 50  # drawn, not merely in the page
    page.locator("#error-summary").get_by_role("link", name=re.compile("Currently pregnant")).click()
    expect(page.locator("#id_pregnant_0")).to_be_focused()  # the first option of the group
    assert_accessible(page)


def test_running_totals_and_bands_as_items_are_chosen(page, sign_in):
    open_new_screening(page, sign_in)
    total = page.locator("#phq9-total-items .instrument-total")

    for n in range(1, 5):
        choose(page, f"phq9_{n}", 3)
    expect(total).to_have_text("PHQ-9 so far: 12 (5 items to answer)")
    for n in range(5, 10):
        choose(page, f"phq9_{n}", 0)
    expect(total).to_have_text("PHQ-9 total 12 of 27: moderate")
    choose(page, "phq9_5", 3)
    expect(total).to_have_text("PHQ-9 total 15 of 27: moderately severe")

    page.get_by_label("Alcohol", exact=True).check()
    for key in CIWA:
        choose(page, key, 1)
    expect(page.locator("#ciwa-ar-items .instrument-total")).to_have_text("CIWA-Ar total 10 of 67: moderate")
    choose(page, "pawss", 4)
    expect(page.locator("#pawss-items .instrument-total")).to_have_text("PAWSS total 4 of 10: high")


def test_scales_are_keyboard_friendly_radio_groups(page, sign_in):
    open_new_screening(page, sign_in)
    first = page.locator("#id_gad7_1_0")

    first.focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")

    expect(chosen(page, "gad7_1", 2)).to_be_checked()
    page.keyboard.press("Tab")  # one tab stop per item: on to the next item
    expect(page.locator("#id_gad7_2_0")).to_be_focused()


def test_none_of_these_and_a_criterion_exclude_each_other(page, sign_in):
    open_new_screening(page, sign_in)
    craving = page.get_by_label("Craving or strong urges to use")
    none = page.locator("#id_dsm5_criteria_none")

    craving.check()
    none.check()
    expect(craving).not_to_be_checked()
    craving.check()
    expect(none).not_to_be_checked()


def test_unticked_substance_gets_its_scale_back_when_ticked_again(page, sign_in):
    open_new_screening(page, sign_in)
    alcohol = page.get_by_label("Alcohol", exact=True)
    alcohol.check()
    choose(page, "ciwa_tremor", 5)

    alcohol.uncheck()
    expect(page.locator("#autosave-status")).to_contain_text("Draft saved at")
    page.reload()
    page.get_by_label("Alcohol", exact=True).check()

    expect(chosen(page, "ciwa_tremor", 5)).to_be_checked()


def test_questionnaire_fits_a_phone_and_stays_accessible(page, sign_in):
    open_new_screening(page, sign_in)
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_label("Alcohol", exact=True).check()
    page.get_by_label("Opioids", exact=True).check()

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)
    screenshot(page, "screening-form-390")
