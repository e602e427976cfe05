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

    first = services.screening_amend(screening=s, actor=other)
    second = services.screening_amend(screening=s, actor=other)

    assert first.pk == second.pk and first.amends == s and first.pregnant is True
    assert Screening.objects.get(pk=s.pk).status == "signed"


def test_amend_refuses_unsigned(clinician):
    s = make_screening(status="completed", clinician=clinician)

    with pytest.raises(services.ServiceError):
        services.screening_amend(screening=s, actor=clinician)


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
