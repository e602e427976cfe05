"""The admin's review page of one screening in Chromium (issue 14): what the clinician's record shows beyond the
answers — the safety acknowledgements kept with the signature, an amendment's reason, the instruments the person
answered themselves, the screening a reassessment carried its history from — in the record's words; axe-checked at
1280 and 390 px."""

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from screening.models import Screening
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import UserFactory, make_screening

pytestmark = pytest.mark.django_db(transaction=True)


def test_review_page_shows_acknowledgements_amendment_reason_self_report_and_reassessment(page, sign_in):
    UserFactory(username="admin", role="admin")
    original = make_screening()
    amendment = make_screening(client=original.client, clinician=original.clinician, homicidal_ideation=True)
    Screening.objects.filter(pk=amendment.pk).update(
        amends=original,
        amendment_reason="Homicidal ideation was entered as no; the person said yes.",
        carried_from=original,
        carried_sections=["home"],
        emergency_action="emergency_department",
        emergency_action_text="Walked with the person to the emergency department.",
        phq9_self_reported=True,
    )
    day = f"{timezone.localtime(original.signed_at):%Y-%m-%d}"
    sign_in("admin")

    page.goto(reverse("review_screening", args=[amendment.public_id]))

    expect(page.locator("#acknowledgements")).to_have_text(
        "Emergency referral — action taken: Sent to an emergency department: "
        "Walked with the person to the emergency department."
    )
    expect(page.locator("#amendment-reason")).to_have_text(
        "Reason for amendment: Homicidal ideation was entered as no; the person said yes."
    )
    expect(page.locator(".self-reported-note")).to_contain_text("PHQ-9: answered by the person themselves")
    note = page.locator("#reassessment")
    expect(note).to_have_text(f"Reassessment — history carried over from the screening signed {day}.")
    assert_accessible(page)
    screenshot(page, "review-screening-record-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)
    screenshot(page, "review-screening-record-390")

    note.get_by_role("link").click()

    page.wait_for_url(f"**{reverse('review_screening', args=[original.public_id])}")
