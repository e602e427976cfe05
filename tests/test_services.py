import importlib

import pytest
from django.apps import apps as django_apps

from screening import questionnaire, services
from screening.models import AuditEvent, RiskSummary, Screening
from tests.factories import ClientFactory, UserFactory, make_screening

pytestmark = pytest.mark.django_db
summarize_earlier = importlib.import_module(
    "screening.migrations.0010_risk_summary_of_earlier_recommendations"
).summarize_earlier


def test_save_draft_conflict_names_changed_fields(clinician):
    s = services.screening_start(client=ClientFactory(), clinician=clinician)
    services.screening_save_draft(screening=s, data={"pregnant": True}, expected_version=1, actor=clinician)

    with pytest.raises(services.ScreeningConflict) as exc:
        services.screening_save_draft(screening=s, data={"pregnant": False}, expected_version=1, actor=clinician)

    assert exc.value.changed == ["pregnant"]
    assert Screening.objects.get(pk=s.pk).pregnant is True


def test_complete_refuses_incomplete_answers_and_stays_draft(clinician):
    s = services.screening_start(client=ClientFactory(), clinician=clinician)

    with pytest.raises(questionnaire.QuestionnaireError) as exc:
        services.screening_complete(screening=s, actor=clinician)

    assert "home_safe" in exc.value.errors
    assert Screening.objects.get(pk=s.pk).status == "draft"
    assert not AuditEvent.objects.filter(action="complete").exists()


def test_complete_computes_with_current_rules(clinician):
    s = make_screening(status="draft", clinician=clinician, lives_with_substance_users=True)

    done = services.screening_complete(screening=s, actor=clinician)

    assert done.status == "completed" and done.recommended_level == "residential"
    assert done.recommendation["reasons"][0]["code"] == "HOME_SUBSTANCE_USE"


@pytest.mark.parametrize("changes", [{"ciwa_ar": 12}, {"homicidal_ideation": True}], ids=["detox", "emergency"])
def test_decide_refuses_lower_level_under_safety_flags(clinician, changes):
    s = make_screening(status="completed", clinician=clinician, **changes)

    with pytest.raises(services.ServiceError) as exc:
        services.screening_decide(screening=s, final_level="iop", reason="waitlist", reason_text="x", actor=clinician)

    assert exc.value.field == "final_level"


def test_decide_allows_lower_level_without_safety_flags(clinician):
    s = make_screening(status="completed", clinician=clinician, home_safe=False)

    done = services.screening_decide(
        screening=s,
        final_level="iop",
        reason="patient_preference",
        reason_text="Moving in with a sibling.",
        actor=clinician,
    )

    assert done.decision == "overridden" and done.final_level == "iop"


def test_sign_requires_decision(clinician):
    s = make_screening(status="completed", clinician=clinician)

    with pytest.raises(services.ServiceError):
        services.screening_sign(screening=s, actor=clinician)


def test_amend_copies_answers_and_reuses_open_amendment(clinician):
    s = make_screening(clinician=clinician, pregnant=True, substances=["cannabis"], ciwa_ar=None, pawss=None)
    other = UserFactory(role="clinician")

    first = services.screening_amend(screening=s, reason="Pregnancy test was negative.", actor=other)
    second = services.screening_amend(screening=s, reason="Another reason.", actor=other)

    assert first.pk == second.pk and first.amends == s and first.pregnant is True
    assert second.amendment_reason == "Pregnancy test was negative."  # the open amendment, as it was started
    assert Screening.objects.get(pk=s.pk).status == "signed"


def test_amend_refuses_unsigned(clinician):
    s = make_screening(status="completed", clinician=clinician)

    with pytest.raises(services.ServiceError):
        services.screening_amend(screening=s, reason="A correction.", actor=clinician)


def test_complete_stores_the_six_domain_summary_beside_the_screening(clinician):
    s = make_screening(status="draft", clinician=clinician, lives_with_substance_users=True)

    done = services.screening_complete(screening=s, actor=clinician)

    summary = RiskSummary.objects.get(screening=done)
    assert summary.environment == 2 and "HOME_SUBSTANCE_USE" in summary.evidence["environment"]
    assert done.domains == done.result().to_dict()["domains"]
    assert list(done.domains) == ["withdrawal", "physical", "mental", "readiness", "continued_use", "environment"]
    assert "domains" not in done.recommendation  # one place: the summary row


def test_reopen_drops_the_summary_with_the_recommendation_and_completion_makes_it_again(clinician):
    s = make_screening(status="completed", clinician=clinician, lives_with_substance_users=True)

    services.screening_reopen(screening=s, actor=clinician)

    assert not RiskSummary.objects.filter(screening=s).exists()
    services.screening_complete(screening=s, actor=clinician)
    assert RiskSummary.objects.get(screening=s).environment == 2


def test_migration_summarizes_earlier_recommendations_once_without_touching_them(clinician):
    earlier = make_screening(clinician=clinician, pregnant=True, substances=["alcohol"])
    RiskSummary.objects.filter(screening=earlier).delete()  # as stored before the summary existed
    row = Screening.objects.filter(pk=earlier.pk).values().get()
    already = make_screening(clinician=clinician)
    kept = RiskSummary.objects.get(screening=already).evidence

    summarize_earlier(django_apps, None)

    assert Screening.objects.get(pk=earlier.pk).domains == earlier.result().to_dict()["domains"]
    assert Screening.objects.get(pk=earlier.pk).domains["physical"]["rating"] == 3
    assert Screening.objects.filter(pk=earlier.pk).values().get() == row
    assert RiskSummary.objects.get(screening=already).evidence == kept
    assert RiskSummary.objects.count() == 2


# --- Safety flags acknowledged with the signature (DESIGN.md §5), and an amendment's reason (issue 14).


def decided(clinician, **changes) -> Screening:
    s = make_screening(status="completed", clinician=clinician, **changes)
    return services.screening_decide(screening=s, final_level=s.recommended_level, actor=clinician)


EMERGENCY = {"homicidal_ideation": True}
SAFETY_REVIEW = {"phq9_item9": 1, "phq9_total": 7}


@pytest.mark.parametrize(
    ("action", "text", "field"),
    [("", "Called the crisis line.", "emergency_action"), ("crisis_team", "  ", "emergency_action_text")],
    ids=["no-action", "no-text"],
)
def test_sign_refuses_an_emergency_referral_without_the_action_taken(clinician, action, text, field):
    s = decided(clinician, **EMERGENCY)

    with pytest.raises(services.ServiceError) as exc:
        services.screening_sign(screening=s, actor=clinician, emergency_action=action, emergency_action_text=text)

    assert exc.value.field == field
    assert Screening.objects.get(pk=s.pk).status == "completed"
    assert not AuditEvent.objects.filter(action="sign").exists()


def test_sign_stores_and_audits_the_emergency_action(clinician):
    s = decided(clinician, **EMERGENCY)

    done = services.screening_sign(
        screening=s,
        actor=clinician,
        emergency_action="emergency_department",
        emergency_action_text=" Escorted to St. Synthetic ED by the on-call nurse. ",
    )

    assert done.status == "signed" and done.emergency_action == "emergency_department"
    assert done.emergency_action_text == "Escorted to St. Synthetic ED by the on-call nurse."
    event = AuditEvent.objects.get(action="sign")
    assert event.details == {"final_level": "inpatient", "emergency_action": "emergency_department"}


def test_sign_refuses_a_safety_review_not_confirmed(clinician):
    s = decided(clinician, **SAFETY_REVIEW)

    with pytest.raises(services.ServiceError) as exc:
        services.screening_sign(screening=s, actor=clinician)

    assert exc.value.field == "safety_review_confirmed"
    assert Screening.objects.get(pk=s.pk).status == "completed"


def test_sign_stores_and_audits_the_safety_review_confirmation(clinician):
    s = decided(clinician, **SAFETY_REVIEW)

    done = services.screening_sign(screening=s, actor=clinician, safety_review_confirmed=True)

    assert done.safety_review_confirmed is True and done.emergency_action == ""
    assert AuditEvent.objects.get(action="sign").details == {"final_level": "iop", "safety_review_confirmed": True}


def test_sign_without_safety_flags_keeps_no_acknowledgement(clinician):
    s = decided(clinician)

    done = services.screening_sign(
        screening=s,
        actor=clinician,
        emergency_action="other",
        emergency_action_text="Nothing to act on.",
        safety_review_confirmed=True,
    )

    assert (done.emergency_action, done.emergency_action_text, done.safety_review_confirmed) == ("", "", False)
    assert AuditEvent.objects.get(action="sign").details == {"final_level": "iop"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"emergency_action": "crisis_team"}, "emergency_action_whole"),  # no text
        ({"emergency_action": "crisis_team", "emergency_action_text": "x"}, "emergency_action_whole"),  # no flag
        ({"safety_review_confirmed": True}, "safety_review_confirmed_flag"),  # no flag
        ({"amendment_reason": "x"}, "amendment_reason_amends"),  # amends nothing
    ],
    ids=["action-without-text", "action-without-flag", "confirmed-without-flag", "reason-without-amends"],
)
def test_acknowledgement_and_reason_constraints_hold_in_the_database(clinician, changes, message):
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    s = make_screening(clinician=clinician)
    for name, value in changes.items():
        setattr(s, name, value)

    with pytest.raises(ValidationError) as invalid:
        s.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        s.save()

    assert message in str(invalid.value) or invalid.value.message_dict


def test_amend_refuses_without_a_reason(clinician):
    s = make_screening(clinician=clinician)

    with pytest.raises(services.ServiceError) as exc:
        services.screening_amend(screening=s, reason="   ", actor=clinician)

    assert exc.value.field == "reason"
    assert not Screening.objects.filter(amends=s).exists()


def test_amend_stores_the_reason_and_audits_that_one_was_given(clinician):
    s = make_screening(clinician=clinician)

    amendment = services.screening_amend(screening=s, reason=" CIWA-Ar item entered wrongly. ", actor=clinician)

    assert amendment.amendment_reason == "CIWA-Ar item entered wrongly."
    event = AuditEvent.objects.get(action="amend")
    assert event.details == {"amends": str(s.public_id), "reason_given": True}
