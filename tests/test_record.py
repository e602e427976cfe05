"""The screening record (issue 14): safety flags that lead and say what raised them, the six-domain panel, a
decision as prominent as the recommendation, acknowledgements before signing, amendments with a reason, the
superseded version marked, the emergency highlighted at home. Browser checks are in tests/e2e/test_record.py."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from screening import answers, services
from screening.models import AuditEvent, Screening
from tests.factories import PASSWORD, UserFactory, make_screening
from tests.test_views_clinician import audit_queries

pytestmark = pytest.mark.django_db


def page(client, screening) -> str:
    return client.get(reverse("screening_detail", args=[screening.public_id])).content.decode()


def text(html: str) -> str:
    """The page's text as read: tags as spaces, runs of white space as one, none before punctuation."""
    return re.sub(r"\s+([:;,.])", r"\1", re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def flags_shown(html: str) -> list[str]:
    return re.findall(r'data-flag="([a-z_]+)"', html)


def test_flags_lead_in_urgency_order_each_with_what_raised_it(clinician_client, clinician):
    s = make_screening(
        status="completed",
        clinician=clinician,
        ciwa_ar=12,
        phq9_item9=2,
        phq9_total=8,
        work_or_school_commitments=True,
    )

    html = page(clinician_client, s)

    assert flags_shown(html) == ["detox_first", "safety_review", "commitments_conflict"]
    assert html.index('id="flags"') < html.index('id="recommended-level"'), "flags come before the level"
    shown = text(html)
    assert "Raised by: PHQ-9 item 9 (thoughts of death or self-harm) = 2" in shown
    assert "Raised by: CIWA-Ar = 12 (10 or more)" in shown
    assert re.search(r'class="alert alert-danger flag-safety[^"]*" data-flag="detox_first"', html)
    assert re.search(r'class="alert alert-light border flag-planning[^"]*" data-flag="commitments_conflict"', html)


def test_emergency_banner_says_what_raised_it(clinician_client, clinician):
    s = make_screening(status="completed", clinician=clinician, cssrs__suicidal_thoughts=True, cssrs__plan=True)

    html = page(clinician_client, s)

    banner = html[html.index('id="emergency-banner"') : html.index("</section>", html.index('id="emergency-banner"'))]
    assert "C-SSRS Q5 (worked out a plan) = yes" in banner
    assert "emergency_referral" not in flags_shown(html)  # the banner is its place


def test_scores_table_shows_phq9_item_9(clinician_client, clinician):
    s = make_screening(clinician=clinician, phq9_item9=2, phq9_total=8)

    html = page(clinician_client, s)

    table = text(html[html.index('id="scores"') : html.index("</table>", html.index('id="scores"'))])
    assert "PHQ-9 item 9 (thoughts of death or self-harm) 2" in table


def test_six_domain_panel_beside_the_recommendation(clinician_client, clinician):
    s = make_screening(clinician=clinician, lives_with_substance_users=True, readiness="precontemplation")

    html = page(clinician_client, s)

    panel = html[html.index('id="domains"') : html.index("</section>", html.index('id="domains"'))]
    rows = re.findall(r'<tr data-domain-rating="(\d)"><th scope="row" class="fw-normal">([^<]+)</th>', panel)
    assert [title for _, title in rows] == [
        "Withdrawal and intoxication",
        "Physical health",
        "Mental health and safety",
        "Readiness for change",
        "Risk of continued use",
        "Recovery environment",
    ]
    ratings = {title: int(r) for r, title in rows}
    assert ratings["Recovery environment"] == s.domains["environment"]["rating"] == 2
    assert ratings["Readiness for change"] == 2
    assert "HOME_SUBSTANCE_USE" in panel and "Stage of change: precontemplation" in panel


def test_signed_override_shows_the_final_level_as_prominently_as_the_recommendation(clinician_client, clinician):
    s = make_screening(clinician=clinician, home_safe=False, final_level="iop", override_reason="patient_preference")

    html = page(clinician_client, s)

    def badge(name: str) -> str:
        start = html.index(f'<p class="level-badge mb-1" id="{name}">')
        return text(html[start : html.index("</p>", start)]).strip()

    assert badge("recommended-level") == "Residential"
    assert badge("final-level") == "IOP (intensive outpatient)"
    assert "Chose another level than recommended: patient preference · signed" in text(html)


def test_undecided_screening_shows_no_final_level(clinician_client, clinician):
    html = page(clinician_client, make_screening(status="completed", clinician=clinician))

    assert 'id="recommended-level"' in html and 'id="final-level"' not in html


def test_below_iop_threshold_is_written_iop(clinician_client, clinician):
    html = page(clinician_client, make_screening(clinician=clinician, dsm5_criteria=["craving"]))

    assert "Below IOP threshold" in html and "Below iop threshold" not in html


def test_answers_panel_shows_item_answers_and_not_asked(clinician_client, clinician):
    s = make_screening(clinician=clinician, cssrs__wish_dead=True)
    Screening.objects.filter(pk=s.pk).update(**{f"phq9_{n}": 1 if n <= 6 else 0 for n in range(1, 10)})

    shown = text(page(clinician_client, s))

    assert "PHQ-9 item 1: Little interest or pleasure in doing things 1" in shown
    assert "PHQ-9 item 9: Thoughts that you would be better off dead, or of hurting yourself 0" in shown
    assert f"{answers.INPUTS['cssrs_plan'].label} not asked" in shown
    assert f"{answers.INPUTS['cssrs_wish_dead'].label} Yes" in shown


def test_record_page_query_count_is_the_same_with_flags_and_domains(
    clinician_client, clinician, django_assert_num_queries
):
    plain = make_screening(clinician=clinician)
    flagged = make_screening(clinician=clinician, ciwa_ar=12, phq9_item9=1, phq9_total=7, home_safe=False)
    clinician_client.get(reverse("screening_detail", args=[plain.public_id]))

    # session, user, perms x2, roles, screening (with its summary), the audit event, specialty groups, amendments
    with django_assert_num_queries(8 + audit_queries()):
        clinician_client.get(reverse("screening_detail", args=[plain.public_id]))
    with django_assert_num_queries(8 + audit_queries()):
        clinician_client.get(reverse("screening_detail", args=[flagged.public_id]))


# --- Acknowledging the safety flags before signing (DESIGN.md §5)


def decided(clinician, **changes) -> Screening:
    s = make_screening(status="completed", clinician=clinician, **changes)
    return services.screening_decide(screening=s, final_level=s.recommended_level, actor=clinician)


def sign(client, s, **data):
    return client.post(reverse("screening_sign", args=[s.public_id]), {"password": PASSWORD, **data})


def test_sign_form_asks_only_for_the_acknowledgements_of_the_raised_flags(clinician_client, clinician):
    plain = page(clinician_client, decided(clinician))
    emergency = page(clinician_client, decided(clinician, homicidal_ideation=True))
    review = page(clinician_client, decided(clinician, phq9_item9=1, phq9_total=7))

    assert 'name="emergency_action"' not in plain and 'name="safety_review_confirmed"' not in plain
    assert 'name="emergency_action"' in emergency and 'name="emergency_action_text"' in emergency
    assert 'name="safety_review_confirmed"' not in emergency
    assert 'name="safety_review_confirmed"' in review and 'name="emergency_action"' not in review


def test_signing_an_emergency_without_the_action_is_refused_at_the_fields(clinician_client, clinician):
    s = decided(clinician, homicidal_ideation=True)

    response = sign(clinician_client, s)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose the action taken on the emergency referral." in html
    assert "Describe what was done about the emergency referral." in html
    assert 'href="#id_emergency_action_0"' in html and 'href="#id_emergency_action_text"' in html  # links to the fields
    assert Screening.objects.get(pk=s.pk).status == "completed"
    assert not AuditEvent.objects.filter(action="sign").exists()


def test_signing_an_emergency_stores_the_action_and_shows_it(clinician_client, clinician):
    s = decided(clinician, homicidal_ideation=True)

    response = sign(
        clinician_client,
        s,
        emergency_action="emergency_services",
        emergency_action_text="Called 911 at 10:05; police and EMS took the person to the county hospital.",
    )

    s.refresh_from_db()
    assert response.status_code == 302 and s.status == "signed"
    assert s.emergency_action == "emergency_services"
    assert AuditEvent.objects.get(action="sign").details["emergency_action"] == "emergency_services"
    shown = text(page(clinician_client, s))
    assert "Action taken: Emergency services called — Called 911 at 10:05" in shown
    assert "Emergency referral — action taken: Emergency services called: Called 911 at 10:05" in shown


def test_signing_a_safety_review_needs_the_confirmation(clinician_client, clinician):
    s = decided(clinician, phq9_item9=1, phq9_total=7)

    refused = sign(clinician_client, s)
    signed = sign(clinician_client, s, safety_review_confirmed="on")

    assert (
        refused.status_code == 200
        and "Confirm the same-day risk assessment before signing." in refused.content.decode()
    )
    s.refresh_from_db()
    assert signed.status_code == 302 and s.status == "signed" and s.safety_review_confirmed
    assert "the same-day risk assessment was confirmed at signing" in page(clinician_client, s)


def test_a_missing_acknowledgement_does_not_check_the_password(clinician_client, clinician):
    s = decided(clinician, homicidal_ideation=True)

    clinician_client.post(reverse("screening_sign", args=[s.public_id]), {"password": "wrong"})

    assert not AuditEvent.objects.filter(action="sign_in_failed").exists()
    assert Screening.objects.get(pk=s.pk).status == "completed"


# --- Amendments with a reason; the superseded version marked


def amend(client, s, **data):
    return client.post(reverse("screening_amend", args=[s.public_id]), data)


def test_amend_without_a_reason_is_refused_at_the_field(clinician_client, clinician):
    original = make_screening(clinician=clinician)

    response = amend(clinician_client, original, reason="  ")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Give the reason for the amendment: what it corrects." in html
    assert 'href="#id_reason"' in html
    assert not Screening.objects.filter(amends=original).exists()


def test_amend_keeps_the_reason_and_shows_it_on_the_amendment_and_the_timeline(clinician_client, clinician):
    original = make_screening(clinician=clinician)

    response = amend(clinician_client, original, reason="CIWA-Ar tremor was entered as 7; it was 1.")

    amendment = Screening.objects.get(amends=original)
    assert response.status_code == 302 and amendment.amendment_reason == "CIWA-Ar tremor was entered as 7; it was 1."
    assert AuditEvent.objects.get(action="amend").details["reason_given"] is True
    timeline = clinician_client.get(reverse("client_detail", args=[original.client.public_id])).content.decode()
    assert "Reason: CIWA-Ar tremor was entered as 7; it was 1." in timeline


def test_timeline_marks_the_version_a_signed_amendment_superseded(clinician_client, clinician):
    original = make_screening(clinician=clinician)
    draft = services.screening_amend(screening=original, reason="Wrong substance.", actor=clinician)
    url = reverse("client_detail", args=[original.client.public_id])

    before = clinician_client.get(url).content.decode()
    Screening.objects.filter(pk=draft.pk).delete()
    signed = make_screening(client=original.client, clinician=clinician)
    Screening.objects.filter(pk=signed.pk).update(amends=original, amendment_reason="Wrong substance.")
    after = clinician_client.get(url).content.decode()

    assert "data-superseded" not in before  # an open amendment supersedes nothing yet
    assert after.count("data-superseded") == 1
    row = after[after.index("data-superseded") : after.index("</tr>", after.index("data-superseded"))]
    assert reverse("screening_detail", args=[original.public_id]) in row and "Superseded" in row


def test_amendment_page_shows_its_reason(clinician_client, clinician):
    original = make_screening(clinician=clinician)
    draft = services.screening_amend(screening=original, reason="Pregnancy was not asked.", actor=clinician)
    admin = UserFactory(role="admin")
    clinician_client.force_login(admin)  # an admin sees the draft read-only on the record page

    html = page(clinician_client, draft)

    assert "Reason for amendment: Pregnancy was not asked." in text(html)


# --- Home: a completed emergency screening stands out among the unfinished ones


def test_home_highlights_a_completed_emergency_screening(clinician_client, clinician):
    emergency = make_screening(status="completed", clinician=clinician, homicidal_ideation=True)
    make_screening(status="completed", clinician=clinician)

    html = clinician_client.get(reverse("home")).content.decode()

    assert html.count("data-emergency") == 1
    row = html[html.index("data-emergency") : html.index("</tr>", html.index("data-emergency"))]
    assert emergency.client.family_name in row and "Emergency referral" in row


def test_favicon_ico_leads_to_the_apps_icon_for_anyone(client):
    from django.templatetags.static import static

    response = client.get(reverse("favicon"))

    assert reverse("favicon") == "/favicon.ico"  # where browsers look without a page's icon link
    assert response.status_code == 301 and response["Location"] == static("favicon.svg")


def test_flag_labels_everywhere_write_iop_in_capitals():
    from screening.models import FLAG_LABELS  # what the history filter and the dashboard show

    assert FLAG_LABELS["below_iop_threshold"] == "Below IOP threshold"
    assert all("iop" not in label for label in FLAG_LABELS.values())


def test_timeline_with_amendments_and_reasons_keeps_its_query_count(
    clinician_client, clinician, django_assert_num_queries
):
    original = make_screening(clinician=clinician)
    url = reverse("client_detail", args=[original.client.public_id])
    clinician_client.get(url)
    with django_assert_num_queries(7 + audit_queries()) as few:
        clinician_client.get(url)
    previous = original
    for n in range(4):  # a chain of signed amendments, each superseding the one before
        later = make_screening(client=original.client, clinician=clinician)
        Screening.objects.filter(pk=later.pk).update(amends=previous, amendment_reason=f"Correction {n}.")
        previous = later

    with django_assert_num_queries(len(few.captured_queries)):
        html = clinician_client.get(url).content.decode()

    assert html.count("data-superseded") == 4 and "Reason: Correction 3." in html


# --- A reassessment says so on its record (issue 14, item 6): the screening its history was carried over from


def reassessment_of(source, **changes) -> Screening:
    later = make_screening(client=source.client, clinician=source.clinician, **changes)
    Screening.objects.filter(pk=later.pk).update(carried_from=source, carried_sections=["home"])
    later.refresh_from_db()
    return later


def test_record_of_a_reassessment_names_and_links_the_screening_carried_from(clinician_client, clinician):
    source = make_screening(clinician=clinician)
    later = reassessment_of(source)
    day = f"{timezone.localtime(source.signed_at):%Y-%m-%d}"

    html = page(clinician_client, later)

    assert f"Reassessment — history carried over from the screening signed {day}" in text(html)
    note = html[html.index('id="reassessment"') : html.index("</p>", html.index('id="reassessment"'))]
    assert f'href="{reverse("screening_detail", args=[source.public_id])}"' in note


def test_record_of_a_first_screening_says_nothing_of_a_reassessment(clinician_client, clinician):
    html = page(clinician_client, make_screening(clinician=clinician))

    assert 'id="reassessment"' not in html and "Reassessment" not in html


def test_record_page_of_a_reassessment_keeps_the_query_count(clinician_client, clinician, django_assert_num_queries):
    later = reassessment_of(make_screening(clinician=clinician))
    clinician_client.get(reverse("screening_detail", args=[later.public_id]))

    with django_assert_num_queries(8 + audit_queries()):
        clinician_client.get(reverse("screening_detail", args=[later.public_id]))
