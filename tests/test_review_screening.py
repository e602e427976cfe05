"""The admin's review page of one screening: answers by section, recommendation, decision,
signature, amendment chain, audit events; access; every view is an audit event."""

import re
import uuid

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from screening import audit
from screening.models import AuditEvent, Screening
from tests.factories import make_screening


def url(s) -> str:
    return reverse("review_screening", args=[s.public_id])


def test_review_screening_anonymous_redirects_to_sign_in(client, db):
    s = make_screening()

    response = client.get(url(s))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["clinician_client", "auditor_client"])
def test_review_screening_other_roles_forbidden(request, who, db):
    s = make_screening()

    response = request.getfixturevalue(who).get(url(s))

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(object_type="screening", action="view").exists()


def test_review_screening_unknown_uuid_is_404(admin_client_):
    response = admin_client_.get(reverse("review_screening", args=[uuid.uuid4()]))

    assert response.status_code == 404


def test_review_screening_shows_sections_reasons_decision_signature(admin_client_, db):
    s = make_screening(ciwa_ar=12, final_level="residential", override_reason="waitlist")
    s.refresh_from_db()

    response = admin_client_.get(url(s))

    html = response.content.decode()
    assert response.status_code == 200
    for title in ("Substances and withdrawal", "Medical", "Mental health and safety", "Home and life"):
        assert title in html
    assert "CIWA-Ar total (alcohol withdrawal)" in html
    assert "DETOX_ALCOHOL" in html
    assert "Detox first" in html
    assert "Chose another level" in html and "Waitlist" in html and "Synthetic test override." in html
    assert f"by {s.signed_by.username}" in html
    assert "Medically supervised detox" in html


def test_review_screening_uses_the_clinician_pages_wording_for_pathway_and_reasons(admin_client_, db):
    s = make_screening()  # the baseline answers: IOP

    html = admin_client_.get(url(s)).content.decode()

    pathway = html[html.index('aria-label="Pathway of care"') :]
    pathway = pathway[: pathway.index("</ol>")]
    assert "<li>IOP</li>" in pathway and "Iop" not in html
    assert "No need for medically supervised detox." in html
    assert "<code>IOP_NO_DETOX</code>" not in html  # a code is a reference beside the sentence, not the headline
    assert 'border">iop</span>' not in html and ">iop<" not in html  # no lowercase level badges


def test_review_screening_says_which_level_each_reason_asks_for(admin_client_, db):
    s = make_screening(ciwa_ar=12, home_safe=False)

    html = admin_client_.get(url(s)).content.decode()

    assert "asks for Inpatient" in html and "asks for Residential" in html
    assert 'border">inpatient</span>' not in html


def test_review_screening_shows_the_six_domain_summary(admin_client_, db):
    s = make_screening(ciwa_ar=12, home_safe=False)

    response = admin_client_.get(url(s))

    html = response.content.decode()
    summary = html[html.index('id="h-domains"') :]
    summary = summary[: summary.index("</section>")]
    for title in (
        "Withdrawal and intoxication",
        "Physical health",
        "Mental health and safety",
        "Readiness for change",
        "Risk of continued use",
        "Recovery environment",
    ):
        assert title in summary
    rows = {d["title"]: d for d in response.context["domains"]}
    assert (rows["Withdrawal and intoxication"]["rating"], rows["Withdrawal and intoxication"]["label"]) == (3, "high")
    assert (rows["Recovery environment"]["rating"], rows["Recovery environment"]["label"]) == (2, "moderate")
    # A rule in the evidence reads as the sentence the reasons use.
    assert any("CIWA-Ar" in e for e in rows["Withdrawal and intoxication"]["evidence"])
    assert "DETOX_ALCOHOL" not in rows["Withdrawal and intoxication"]["evidence"]


def test_review_screening_view_is_audited_and_listed(admin_client_, admin_user, db):
    s = make_screening()
    audit.record(action=AuditEvent.Action.SIGN, actor=s.clinician, obj=s)

    response = admin_client_.get(url(s))

    event = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_id=str(s.public_id)).get()
    assert event.actor == admin_user
    assert [e.action for e in response.context["events"]] == ["sign", "view"]


def test_review_screening_shows_amendment_chain_from_any_version(admin_client_, db):
    original = make_screening()
    amendment = make_screening(client=original.client, clinician=original.clinician, home_safe=False)
    Screening.objects.filter(pk=amendment.pk).update(amends=original)
    second = make_screening(client=original.client, clinician=original.clinician)
    Screening.objects.filter(pk=second.pk).update(amends=amendment)

    from_original = admin_client_.get(url(original))
    from_last = admin_client_.get(url(second))

    expected = [original.pk, amendment.pk, second.pk]
    assert [v.pk for v in from_original.context["chain"]] == expected
    assert [v.pk for v in from_last.context["chain"]] == expected
    assert url(amendment) in from_last.content.decode()


def test_review_screening_query_count(admin_client_, django_assert_num_queries, db):
    original = make_screening()
    amendment = make_screening(client=original.client, clinician=original.clinician)
    Screening.objects.filter(pk=amendment.pk).update(amends=original)
    admin_client_.get(url(amendment))

    # session, user, perms (2), roles, screening, interests, audit (4), chain (1 up + 2 per level × 2), events
    with django_assert_num_queries(17 + (connection.vendor == "postgresql")):  # + the audit advisory lock
        admin_client_.get(url(amendment))


# --- What the clinician's record shows, shown here in its words (issue 14): the safety acknowledgements kept with the
# signature, an amendment's reason, the instruments the person answered themselves, the screening a reassessment
# carried its history from.


def page_text(response) -> str:
    html = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+([:;,.])", r"\1", re.sub(r"\s+", " ", html))


def test_review_screening_shows_the_emergency_action_taken(admin_client_, db):
    s = make_screening(homicidal_ideation=True)
    Screening.objects.filter(pk=s.pk).update(emergency_action="crisis_team", emergency_action_text="Crisis team came.")

    shown = page_text(admin_client_.get(url(s)))

    assert "Emergency referral — action taken: Crisis team contacted: Crisis team came." in shown


def test_review_screening_shows_the_safety_review_confirmation(admin_client_, db):
    s = make_screening(phq9_item9=2, phq9_total=8)
    Screening.objects.filter(pk=s.pk).update(safety_review_confirmed=True)

    shown = page_text(admin_client_.get(url(s)))

    assert "Safety review — the same-day risk assessment was confirmed at signing." in shown


def test_review_screening_shows_the_reason_for_an_amendment(admin_client_, db):
    original = make_screening()
    amendment = make_screening(client=original.client, clinician=original.clinician)
    Screening.objects.filter(pk=amendment.pk).update(amends=original, amendment_reason="Pregnancy was not asked.")

    shown = page_text(admin_client_.get(url(amendment)))

    assert "Reason for amendment: Pregnancy was not asked." in shown


def test_review_screening_marks_the_self_reported_instruments(admin_client_, db):
    s = make_screening()
    Screening.objects.filter(pk=s.pk).update(phq9_self_reported=True, gad7_self_reported=True)

    shown = page_text(admin_client_.get(url(s)))

    assert (
        "self-reported PHQ-9 and GAD-7: answered by the person themselves on the device (patient hand-over)." in shown
    )


def test_review_screening_of_a_reassessment_links_the_review_of_the_screening_carried_from(admin_client_, db):
    source = make_screening()
    later = make_screening(client=source.client, clinician=source.clinician)
    Screening.objects.filter(pk=later.pk).update(carried_from=source, carried_sections=["home"])
    day = f"{timezone.localtime(source.signed_at):%Y-%m-%d}"

    response = admin_client_.get(url(later))

    assert f"Reassessment — history carried over from the screening signed {day}" in page_text(response)
    html = response.content.decode()
    note = html[html.index('id="reassessment"') : html.index("</p>", html.index('id="reassessment"'))]
    assert f'href="{url(source)}"' in note


def test_review_screening_without_any_of_them_shows_none(admin_client_, db):
    shown = page_text(admin_client_.get(url(make_screening())))

    for words in ("Reassessment", "self-reported", "Reason for amendment", "action taken", "Safety review —"):
        assert words not in shown


def test_review_screening_of_an_acknowledged_reassessment_keeps_the_query_count(
    admin_client_, django_assert_num_queries, db
):
    original = make_screening()
    amendment = make_screening(client=original.client, clinician=original.clinician, homicidal_ideation=True)
    Screening.objects.filter(pk=amendment.pk).update(
        amends=original, carried_from=original, emergency_action="other", emergency_action_text="Stayed with them."
    )
    admin_client_.get(url(amendment))

    with django_assert_num_queries(17 + (connection.vendor == "postgresql")):  # as test_review_screening_query_count
        admin_client_.get(url(amendment))
