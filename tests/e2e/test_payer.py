"""The payer's side of a screening in Chromium (issue 14, items 8 and 9): an admin sets the payer level codes;
the record shows the code frozen at signing (on screen and in print); the clinician records the recipient and the
person's consent and downloads the summary for a payer, whose text is read back. Axe-checked at 1280 and 390 px."""

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from screening import payer, services
from screening.models import ExportRun
from screening.notices import REDISCLOSURE_NOTICE
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import ClientFactory, UserFactory, make_screening
from tests.test_payer import pdf_text, squeeze

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"{page.url}: {width}px wide"


def test_an_admin_sets_the_payer_codes_with_errors_at_the_field(page, sign_in):
    UserFactory(username="admin", role="admin")
    sign_in("admin")

    page.get_by_role("link", name="Payer codes").click()
    expect(page.get_by_role("heading", name="Payer level codes")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Payer code for IOP (intensive outpatient)").fill("2.1")
    page.get_by_label("Payer code for Residential").fill("=3.5")
    page.get_by_role("button", name="Save codes").click()

    field = page.get_by_label("Payer code for Residential")
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby").split()
    expect(page.locator(f"#{described[-1]}")).to_contain_text("starting with a letter or a digit")
    expect(page.locator("#error-summary")).to_be_visible()
    assert_accessible(page)
    field.fill("3.5")
    page.get_by_role("button", name="Save codes").click()

    expect(page.get_by_text("2 codes changed.")).to_be_visible()
    expect(page.get_by_role("row", name="Residential 3.5")).to_be_visible()
    assert payer.crosswalk() == {"iop": "2.1", "residential": "3.5"}
    screenshot(page, "admin-payer-codes")
    page.set_viewport_size(PHONE)
    no_sideways_scroll(page)
    assert_accessible(page)


def test_the_clinician_records_the_disclosure_and_downloads_the_summary(page, sign_in):
    admin = UserFactory(username="admin", role="admin")
    clinician = UserFactory(username="clinician", role="clinician")
    payer.crosswalk_update(codes={"residential": "3.5"}, actor=admin)
    s = make_screening(
        status="completed", clinician=clinician, client=ClientFactory(created_by=clinician), home_safe=False
    )
    s = services.screening_decide(screening=s, final_level=s.recommended_level, actor=clinician)
    s = services.screening_sign(screening=s, actor=clinician)
    payer.crosswalk_update(codes={"residential": "RES-NEW"}, actor=admin)  # after signing: not this record's
    sign_in("clinician")

    page.goto(reverse("screening_detail", args=[s.public_id]))
    expect(page.locator("#payer-level-code")).to_have_text("Payer level code for Residential: 3.5 (as at signing)")
    screenshot(page, "record-payer-code")
    page.emulate_media(media="print")
    expect(page.locator("#payer-level-code")).to_be_visible()
    expect(page.locator("#payer-summary-link")).to_be_hidden()
    page.emulate_media(media="screen")
    page.get_by_role("link", name="Summary for a payer (PDF)").click()

    expect(page.get_by_role("heading", name="Level-of-care determination summary for a payer")).to_be_visible()
    page.get_by_role("button", name="Record the disclosure and download the PDF").click()
    recipient, consent = page.get_by_label("Recipient (the payer)"), page.get_by_label("The person has consented")
    for field, message in ((recipient, payer.RECIPIENT_NEEDED), (consent, payer.CONSENT_NEEDED)):
        expect(field).to_have_attribute("aria-invalid", "true")
        error_id = next(i for i in field.get_attribute("aria-describedby").split() if i.endswith("_error"))
        expect(page.locator(f"#{error_id}")).to_have_text(message)
    assert not ExportRun.objects.exists()
    assert_accessible(page)
    screenshot(page, "payer-summary-errors")
    recipient.fill("Acme Health Plan")
    consent.check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Record the disclosure and download the PDF").click()

    assert download.value.suggested_filename.startswith("level-of-care-summary-")
    text = pdf_text(Path(download.value.path()).read_bytes())
    assert "Payer level code: 3.5" in text and "RES-NEW" not in text
    assert "Recovery environment 2 moderate" in text
    assert "Signed by clinician" in text and "Sent to Acme Health Plan" in text
    assert squeeze(REDISCLOSURE_NOTICE) in text
    run = ExportRun.objects.get()
    assert run.format == "pdf" and run.started_event.details["recipient"] == "Acme Health Plan"
    page.set_viewport_size(PHONE)
    no_sideways_scroll(page)
    assert_accessible(page)


def test_the_auditor_finds_the_disclosure_with_its_recipient(page, sign_in):
    clinician = UserFactory(username="clinician", role="clinician")
    UserFactory(username="auditor", role="auditor")
    s = make_screening(status="completed", clinician=clinician, client=ClientFactory(created_by=clinician))
    s = services.screening_decide(screening=s, final_level=s.recommended_level, actor=clinician)
    s = services.screening_sign(screening=s, actor=clinician)
    payer.payer_summary_disclose(screening=s, recipient="Acme Health Plan", consent=True, actor=clinician)
    sign_in("auditor")

    page.goto(reverse("audit_disclosures"))
    page.get_by_label("Record number").fill(s.client.record_number)
    page.get_by_role("button", name="Show disclosures").click()

    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("summary for a payer, to Acme Health Plan")
    assert_accessible(page)
    screenshot(page, "auditor-payer-disclosure")
