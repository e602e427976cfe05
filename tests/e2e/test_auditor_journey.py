import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from screening.models import AuditEvent
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import ClientFactory, UserFactory, make_screening

pytestmark = pytest.mark.django_db(transaction=True)


def _download(page, fmt_label: str) -> bytes:
    page.get_by_label(fmt_label, exact=True).check()
    page.get_by_label("De-identified (HIPAA Safe Harbor)").check()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download export").click()
    return Path(info.value.path()).read_bytes()


def test_auditor_exports_last_month_deidentified_and_verifies_trail(page, sign_in):
    UserFactory(username="auditor", role="auditor")
    person = ClientFactory(given_name="Journey", family_name="Person", record_number="J-0001")
    now = timezone.now()
    for days in (2, 9, 20):
        make_screening(client=person, created_at=now - dt.timedelta(days=days))
    make_screening(created_at=now - dt.timedelta(days=60))  # outside the last month

    sign_in("auditor")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", name="Export screening records")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "auditor-export")

    csv_bytes = _download(page, "CSV")
    jsonl_bytes = _download(page, "JSON Lines")
    fhir_bytes = _download(page, "FHIR R4 Bundle (JSON)")

    lines = csv_bytes.decode("utf-8-sig").splitlines()
    assert lines[0].startswith('"NOTICE (42 CFR Part 2)')
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))
    assert len(rows) == 3 and len({r["person"] for r in rows}) == 1
    assert b"Journey" not in csv_bytes + jsonl_bytes + fhir_bytes
    assert len(jsonl_bytes.splitlines()) == 1 + 3
    fhir_types = [e["resource"]["resourceType"] for e in json.loads(fhir_bytes)["entry"]]
    assert fhir_types.count("QuestionnaireResponse") == 3 and "Observation" in fhir_types
    exports_logged = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT)
    assert exports_logged.filter(details__phase="started").count() == 3  # each before its first byte
    assert exports_logged.filter(details__phase="completed").count() == 3

    page.reload()
    expect(page.get_by_role("table", name=re.compile("The last 3 exports"))).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit trail").click()
    page.get_by_role("button", name="Verify now").click()
    expect(page.get_by_text(re.compile(r"The audit trail is intact: \d+ events checked"))).to_be_visible()
    expect(page.get_by_test_id("last-verification")).to_contain_text("intact")
    assert_accessible(page)
    screenshot(page, "auditor-audit-trail")

    page.get_by_label("Action").select_option("export")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("table", name="6 events, newest first")).to_be_visible()  # started and completed, each

    page.get_by_role("link", name="Accounting of disclosures").click()
    page.get_by_label("Client record number").fill("J-0002")
    page.get_by_role("button", name="Show disclosures").click()
    expect(page.get_by_text("No client has this record number.").first).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Client record number").fill("J-0001")
    page.get_by_role("button", name="Show disclosures").click()

    expect(page).to_have_url(re.compile(str(person.public_id)))
    assert "J-0001" not in page.url
    table = page.get_by_role("table", name="3 exports containing this client's records")
    expect(table).to_be_visible()
    assert_accessible(page)
    screenshot(page, "auditor-disclosures")


def test_clinician_cannot_open_auditor_pages(page, sign_in):
    UserFactory(username="clinician", role="clinician")

    sign_in("clinician")

    expect(page.get_by_role("link", name="Exports")).to_have_count(0)
    response = page.goto(reverse("audit_log"))
    assert response.status == 403


def test_auditor_reads_the_data_dictionary_from_the_export_page(page, sign_in):
    UserFactory(username="auditor", role="auditor")
    sign_in("auditor")
    page.goto(reverse("export"))

    page.get_by_role("link", name="data dictionary").click()

    table = page.get_by_role("table", name=re.compile(r"\d+ columns"))
    expect(table).to_be_visible()
    expect(table.get_by_role("rowheader", name="phq9_total")).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("CSV")).click()
    assert Path(info.value.path()).read_text().startswith("variable_field_name,")
    assert_accessible(page)
    screenshot(page, "auditor-data-dictionary")


def test_auditor_exports_the_audit_trail_and_checks_it_with_the_public_key(page, sign_in, tmp_path):
    import subprocess
    import sys

    from screening import anchors

    UserFactory(username="auditor", role="auditor")
    make_screening()
    sign_in("auditor")
    page.goto(reverse("audit_log"))
    page.get_by_role("link", name="Export the trail").click()
    expect(page.get_by_role("heading", name="Export the audit trail")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "auditor-audit-export")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download audit trail").click()
    path = tmp_path / "trail.jsonl"
    path.write_bytes(Path(info.value.path()).read_bytes())

    # What a third party does with the file and the public key shown on the page.
    tool = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
    checked = subprocess.run(
        [sys.executable, str(tool), str(path), "--public-key", anchors.public_key_b64()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert anchors.public_key_b64() in page.content()


AUDITOR_PAGES = ["export", "audit_log", "audit_export", "data_dictionary", "audit_disclosures", "client_disclosures"]


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_auditor_pages_pass_axe_at_desktop_and_phone_widths(page, sign_in, width):
    UserFactory(username="auditor", role="auditor")
    person = ClientFactory(given_name="Axe", family_name="Checked", record_number="SYN-0000003")
    make_screening(client=person, created_at=timezone.now() - dt.timedelta(days=3))
    page.set_viewport_size({"width": width, "height": 900})
    sign_in("auditor")
    page.goto(reverse("export"))
    _download(page, "CSV")  # so the accounting of disclosures has a row to show

    # The lookup ignores case: what an auditor types from a letter.
    page.goto(reverse("audit_disclosures"))
    page.get_by_label("Client record number").fill("syn-0000003")
    page.get_by_role("button", name="Show disclosures").click()
    expect(page).to_have_url(re.compile(str(person.public_id)))
    expect(page.get_by_role("table", name="1 export containing this client's records")).to_be_visible()
    urls = {name: reverse(name) for name in AUDITOR_PAGES[:-1]}
    urls["client_disclosures"] = page.url

    for name in AUDITOR_PAGES:
        page.goto(urls[name])
        try:
            assert_accessible(page)
        except AssertionError as error:
            raise AssertionError(f"{name} at {width} px: {error}") from None
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), name
        screenshot(page, f"auditor-{name}-{width}")
