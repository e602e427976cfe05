"""The payer's side of a screening (issue 14, items 8 and 9): the level crosswalk, frozen with the signature, and
the level-of-care determination summary sent to a payer as a PDF, recorded as a disclosure. The browser's side is
tests/e2e/test_payer.py."""

import hashlib
import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.urls import reverse
from pypdf import PdfReader

from screening import payer, rules, services
from screening.models import AuditEvent, ExportDisclosure, ExportRun, LevelCrosswalk, Screening
from screening.notices import REDISCLOSURE_NOTICE
from tests.factories import UserFactory, make_screening

pytestmark = pytest.mark.django_db


def pdf_text(content: bytes) -> str:
    """The PDF's text as a reader gets it, runs of white space as one space."""
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def squeeze(text: str) -> str:
    return " ".join(text.split())


def set_codes(admin, **codes):
    return payer.crosswalk_update(codes=codes, actor=admin)


def disclose(client, screening, **data):
    return client.post(reverse("payer_summary", args=[screening.public_id]), data)


# --- The crosswalk.


def test_crosswalk_is_empty_by_default():
    assert LevelCrosswalk.objects.count() == 0
    assert payer.crosswalk() == {}


@pytest.mark.parametrize("who", ["anonymous", "clinician", "auditor"])
def test_crosswalk_page_refuses_everyone_but_admins(client, who):
    if who != "anonymous":
        client.force_login(UserFactory(role=who))

    response = client.get(reverse("crosswalk"))

    if who == "anonymous":
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    else:
        assert response.status_code == 403


def test_admin_sets_codes_audited_with_old_and_new(admin_client_, admin_user):
    response = admin_client_.post(reverse("crosswalk"), {"iop": "2.1", "residential": " 3.5 ", "inpatient": ""})

    assert response.status_code == 302
    assert payer.crosswalk() == {"iop": "2.1", "residential": "3.5"}
    event = AuditEvent.objects.filter(object_type="crosswalk").get()
    assert event.actor == admin_user and event.action == AuditEvent.Action.CHANGE
    assert event.details == {"changes": {"iop": {"old": "", "new": "2.1"}, "residential": {"old": "", "new": "3.5"}}}


def test_changing_one_code_audits_that_change_alone(admin_client_, admin_user):
    set_codes(admin_user, iop="2.1", residential="3.5")

    admin_client_.post(reverse("crosswalk"), {"iop": "2.1", "residential": "", "inpatient": "3.7"})

    assert payer.crosswalk() == {"iop": "2.1", "inpatient": "3.7"}
    latest = AuditEvent.objects.filter(object_type="crosswalk").latest("id")
    assert latest.details == {
        "changes": {"residential": {"old": "3.5", "new": ""}, "inpatient": {"old": "", "new": "3.7"}}
    }


def test_saving_unchanged_codes_records_nothing(admin_client_, admin_user):
    set_codes(admin_user, iop="2.1")

    admin_client_.post(reverse("crosswalk"), {"iop": "2.1", "residential": "", "inpatient": ""})

    assert AuditEvent.objects.filter(object_type="crosswalk").count() == 1


@pytest.mark.parametrize(
    "code, message",
    [("=HYPERLINK(1)", payer.CODE_PROBLEM), ("3.5<b>", payer.CODE_PROBLEM), ("x" * 21, "at most 20 characters")],
    ids=["formula", "markup", "too-long"],
)
def test_a_bad_code_is_refused_at_its_field(admin_client_, code, message):
    response = admin_client_.post(reverse("crosswalk"), {"iop": "2.1", "residential": code, "inpatient": ""})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-describedby="id_residential_helptext id_residential_error"' in html
    assert message.lower() in html.lower()
    assert LevelCrosswalk.objects.count() == 0  # nothing saved, the good code neither


def test_crosswalk_page_shows_the_codes_in_force(admin_client_, admin_user):
    set_codes(admin_user, inpatient="H0011")

    html = squeeze(admin_client_.get(reverse("crosswalk")).content.decode())

    assert re.search(r"Inpatient</th><td>H0011</td>", html)
    assert re.search(r"Residential</th><td>none</td>", html)


@pytest.mark.parametrize("role, linked", [("admin", True), ("clinician", False), ("auditor", False)])
def test_only_admins_navigation_links_the_crosswalk(client, role, linked):
    client.force_login(UserFactory(role=role))

    html = client.get(reverse("home")).content.decode()

    assert (f'href="{reverse("crosswalk")}"' in html) is linked


def test_a_crosswalk_row_needs_a_code(admin_user):
    with pytest.raises(ValidationError):
        LevelCrosswalk(level="iop", code="").full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        LevelCrosswalk.objects.create(level="iop", code="")


# --- Frozen with the signature.


def decided(clinician, **answers) -> Screening:
    s = make_screening(status="completed", clinician=clinician, **answers)
    return services.screening_decide(screening=s, final_level=s.recommended_level, actor=clinician)


def test_signing_freezes_the_code_of_the_final_level(clinician, admin_user):
    set_codes(admin_user, iop="2.1", residential="3.5")
    s = decided(clinician)
    assert s.final_level == "iop"

    signed = services.screening_sign(screening=s, actor=clinician)
    set_codes(admin_user, iop="IOP-9", residential="3.5")

    signed.refresh_from_db()
    assert signed.payer_level_code == "2.1"


def test_signing_without_a_code_for_the_level_freezes_none(clinician, admin_user):
    set_codes(admin_user, residential="3.5")

    signed = services.screening_sign(screening=decided(clinician), actor=clinician)

    assert signed.payer_level_code == ""


def test_record_shows_the_frozen_code_not_the_current_one(clinician_client, clinician, admin_user):
    set_codes(admin_user, iop="2.1")
    signed = services.screening_sign(screening=decided(clinician), actor=clinician)
    set_codes(admin_user, iop="IOP-9")

    html = squeeze(clinician_client.get(reverse("screening_detail", args=[signed.public_id])).content.decode())

    assert "Payer level code for IOP (intensive outpatient): <strong>2.1</strong>" in html
    assert "IOP-9" not in html


def test_only_a_signed_screening_carries_a_code(clinician):
    s = make_screening(status="completed", clinician=clinician)
    s.payer_level_code = "2.1"

    with pytest.raises(ValidationError):
        s.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        s.save()


# --- The summary for a payer.


@pytest.fixture
def signed(clinician, admin_user):
    """A signed residential screening (lives with someone who uses), with a payer code frozen at signing."""
    set_codes(admin_user, residential="3.5")
    s = decided(clinician, lives_with_substance_users=True, phq9_total=7)
    return services.screening_sign(screening=s, actor=clinician)


@pytest.mark.parametrize("who", ["anonymous", "admin", "auditor"])
def test_payer_summary_refuses_everyone_but_clinicians(client, signed, who):
    if who != "anonymous":
        client.force_login(UserFactory(role=who))

    responses = [client.get(reverse("payer_summary", args=[signed.public_id])), disclose(client, signed)]

    for response in responses:
        if who == "anonymous":
            assert response.status_code == 302 and response.url.startswith(reverse("login"))
        else:
            assert response.status_code == 403
    assert not ExportRun.objects.exists()


def test_payer_summary_form_asks_for_the_recipient_and_consent(clinician_client, signed):
    response = clinician_client.get(reverse("payer_summary", args=[signed.public_id]))

    html = squeeze(response.content.decode())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"].split(", ")
    assert re.search(r'<label for="id_recipient" class="form-label requiredField"> Recipient \(the payer\)', html)
    assert re.search(r'<label for="id_consent" class="form-check-label requiredField"> The person has consented', html)
    assert 'autocomplete="off"' in html
    assert AuditEvent.objects.filter(action="view", object_id=str(signed.public_id)).exists()


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"consent": "on"}, "recipient", payer.RECIPIENT_NEEDED),
        ({"recipient": "   ", "consent": "on"}, "recipient", payer.RECIPIENT_NEEDED),
        ({"recipient": "Acme Health Plan"}, "consent", payer.CONSENT_NEEDED),
    ],
    ids=["no-recipient", "blank-recipient", "no-consent"],
)
def test_a_missing_recipient_or_consent_is_refused_at_the_field(clinician_client, signed, data, field, message):
    response = disclose(clinician_client, signed, **data)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f'aria-describedby="id_{field}' in html and f'id="id_{field}_error"' in html
    assert message.replace("'", "&#x27;") in html
    assert not ExportRun.objects.exists() and not ExportDisclosure.objects.exists()
    assert not AuditEvent.objects.filter(action="export").exists()


def test_an_unsigned_screening_cannot_be_sent(clinician_client, clinician):
    s = decided(clinician)

    page = clinician_client.get(reverse("payer_summary", args=[s.public_id]))
    posted = disclose(clinician_client, s, recipient="Acme Health Plan", consent="on")

    assert page.status_code == posted.status_code == 409
    assert payer.NOT_SIGNED in posted.content.decode() and 'name="recipient"' not in posted.content.decode()
    assert not ExportRun.objects.exists()


def test_a_superseded_version_cannot_be_sent(clinician_client, clinician, signed):
    amendment = services.screening_amend(screening=signed, reason="Corrected the PHQ-9.", actor=clinician)
    services.screening_complete(screening=amendment, actor=clinician)
    amendment.refresh_from_db()
    services.screening_sign(
        screening=services.screening_decide(
            screening=amendment, final_level=amendment.recommended_level, actor=clinician
        ),
        actor=clinician,
    )

    posted = disclose(clinician_client, signed, recipient="Acme Health Plan", consent="on")

    assert posted.status_code == 409 and payer.SUPERSEDED in posted.content.decode()
    assert not ExportRun.objects.exists()


def test_the_pdf_holds_the_level_the_six_domains_the_signer_and_the_notice(clinician_client, clinician, signed):
    response = disclose(clinician_client, signed, recipient="Acme Health Plan", consent="on")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"].split(", ")
    assert re.fullmatch(
        r'attachment; filename="level-of-care-summary-\d{8}-[0-9a-f]{8}\.pdf"', response["Content-Disposition"]
    )
    text = pdf_text(response.content)
    assert "Level-of-care determination summary" in text
    assert "recommended by the rules decided (final) residential residential" in text.lower()
    assert "Payer level code: 3.5" in text
    for domain in rules.DOMAINS:
        assert domain.title in text
    assert "Recovery environment 2 moderate" in text  # the residential rule's domain, with its rating
    assert f"Signed by {clinician.get_username()}" in text
    assert "Sent to Acme Health Plan" in text
    assert squeeze(REDISCLOSURE_NOTICE) in text
    assert signed.client.record_number in text


def test_the_pdf_shows_an_override_with_its_reason(clinician_client, clinician):
    s = make_screening(status="completed", clinician=clinician, lives_with_substance_users=True)
    s = services.screening_decide(
        screening=s,
        final_level="iop",
        reason="patient_preference",
        reason_text="Prefers to stay home.",
        actor=clinician,
    )
    s = services.screening_sign(screening=s, actor=clinician)

    text = pdf_text(disclose(clinician_client, s, recipient="Acme", consent="on").content)

    assert "(final) residential iop (intensive outpatient)" in text.lower()
    assert "patient preference: “Prefers to stay home.”" in text
    assert "Payer level code" not in text  # no crosswalk: no code


def test_the_download_is_recorded_as_a_disclosure_before_it_leaves(clinician_client, clinician, signed):
    response = disclose(clinician_client, signed, recipient="  Acme   Health Plan ", consent="on")

    run = ExportRun.objects.get()
    assert (run.format, run.deidentified, run.actor) == ("pdf", False, clinician)
    assert list(ExportDisclosure.objects.values_list("export_id", "client_id")) == [(run.pk, signed.client_id)]
    started, ended = AuditEvent.objects.filter(action="export").order_by("id")
    assert (run.started_event, run.event) == (started, ended)
    for event in (started, ended):
        assert event.actor == clinician and event.object_id == str(run.public_id)
        assert event.details["recipient"] == "Acme Health Plan"
        assert event.details["consent"] is True
        assert event.details["screening"] == str(signed.public_id)
        assert event.details["payer_level_code"] == "3.5"
    assert started.details["phase"] == "started"
    assert ended.details["outcome"] == "completed" and ended.details["rows"] == 1
    assert ended.details["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert ended.details["bytes"] == len(response.content)


def test_no_phi_in_the_address_or_file_name(clinician_client, signed):
    url = reverse("payer_summary", args=[signed.public_id])

    response = disclose(clinician_client, signed, recipient="Acme Health Plan", consent="on")

    client = signed.client
    for phi in (client.record_number, client.family_name, client.given_name, "Acme"):
        assert phi not in url and phi not in response["Content-Disposition"]


def test_the_accounting_of_disclosures_lists_the_pdf_with_its_recipient(clinician_client, auditor, signed):
    disclose(clinician_client, signed, recipient="Acme Health Plan", consent="on")
    clinician_client.force_login(auditor)

    url = reverse("audit_client_disclosures", args=[signed.client.public_id])
    html = squeeze(clinician_client.get(url).content.decode())

    assert "1 export containing this client" in html
    assert "<td>pdf<span" in html
    assert "summary for a payer, to <strong>Acme Health Plan</strong>, the person's consent recorded" in html


def test_no_pdf_leaves_when_the_disclosure_cannot_be_recorded(clinician_client, signed, monkeypatch):
    def broken(**kwargs):
        raise DatabaseError("the audit table is not writable")

    monkeypatch.setattr(payer.audit, "record", broken)

    response = disclose(clinician_client, signed, recipient="Acme Health Plan", consent="on")

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "could not be recorded, so no summary was made" in response.content.decode()
    assert not ExportRun.objects.exists() and not ExportDisclosure.objects.exists()


def test_the_audit_trail_shows_the_disclosure_with_its_recipient(clinician_client, auditor, signed):
    disclose(clinician_client, signed, recipient="Acme Health Plan", consent="on")
    clinician_client.force_login(auditor)

    response = clinician_client.get(reverse("audit_log"))

    html = squeeze(response.content.decode())
    assert response.status_code == 200
    assert (
        "pdf (summary for a payer) to Acme Health Plan with the person's consent, identified, 1 rows, completed" in html
    )
