import pytest

from screening import questionnaire, rules, services
from screening.models import AuditEvent, Screening
from tests.factories import PASSWORD, ClientFactory, UserFactory, make_screening

pytestmark = pytest.mark.django_db


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
        services.screening_sign(screening=s, password=PASSWORD, actor=clinician)


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


def test_complete_stores_the_six_domain_summary(clinician):
    s = make_screening(status="draft", clinician=clinician, lives_with_substance_users=True)

    done = services.screening_complete(screening=s, actor=clinician)

    stored = done.recommendation["domains"]
    assert stored["environment"]["rating"] == 2 and "HOME_SUBSTANCE_USE" in stored["environment"]["evidence"]
    assert done.domains == stored
    assert list(done.domains) == ["withdrawal", "physical", "mental", "readiness", "continued_use", "environment"]


def test_domains_of_a_recommendation_stored_before_the_summary_are_computed_not_written(clinician):
    s = make_screening(clinician=clinician, lives_with_substance_users=True)
    old = {k: v for k, v in s.recommendation.items() if k != "domains"}
    Screening.objects.filter(pk=s.pk).update(recommendation=old)  # as stored before issue 9
    s.refresh_from_db()

    domains = s.domains

    assert domains["environment"]["rating"] == 2
    assert domains == rules.evaluate(questionnaire.parse(s.answers_snapshot), s.rules_version).to_dict()["domains"]
    assert "domains" not in Screening.objects.get(pk=s.pk).recommendation
