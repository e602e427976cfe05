"""Database constraints: once through full_clean(), once as a raw save that raises IntegrityError."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from screening import models, rules
from screening.models import FLAG_FIELDS, Screening, SpecialtyInterest
from tests.factories import ClientFactory, make_screening

pytestmark = pytest.mark.django_db


def test_level_choices_match_rules_enum():
    assert set(models.Level.values) == {level.value for level in rules.Level}


def draft(**fields) -> Screening:
    client = ClientFactory()
    return Screening(client=client, clinician=client.created_by, **fields)


BROKEN = [
    ("phq9-item-range", {"phq9_1": 4}),
    ("cows-item-range", {"cows_restlessness": 6}),
    ("ciwa-total-range", {"ciwa_ar": 68}),
    ("pawss-range", {"pawss": 11}),
    ("status-choice", {"status": "lost"}),
    ("readiness-choice", {"readiness": "eager"}),
    ("mental-health-choice", {"mental_health_condition": "fine"}),
    ("cssrs-behavior-choice", {"cssrs_behavior": "often"}),
    ("final-level-choice", {"final_level": "outpatient"}),
    ("signature-paired", {"signed_at": timezone.now()}),
    ("recommendation-whole", {"recommended_level": "iop"}),
    ("completed-needs-recommendation", {"status": "completed", "completed_at": timezone.now()}),
    ("override-needs-reason", {"decision": "overridden"}),
]


@pytest.mark.parametrize(("name", "fields"), BROKEN, ids=[n for n, _ in BROKEN])
def test_constraint_enforced_by_full_clean(name, fields):
    with pytest.raises(ValidationError):
        draft(**fields).full_clean()


@pytest.mark.parametrize(("name", "fields"), BROKEN, ids=[n for n, _ in BROKEN])
def test_constraint_enforced_by_database(name, fields):
    s = draft(**fields)

    with pytest.raises(IntegrityError), transaction.atomic():
        s.save()


def test_valid_draft_and_signed_screening_pass_both_ways():
    d = draft(phq9_1=3, cows_restlessness=5, pawss=10)
    d.full_clean()
    d.save()

    signed = make_screening()
    signed.full_clean()


def test_override_with_reason_is_valid_and_acceptance_with_reason_is_not():
    s = make_screening(home_safe=False, final_level="inpatient")
    s.full_clean()
    s.decision = "accepted"

    with pytest.raises(IntegrityError), transaction.atomic():
        s.save()


def test_specialty_group_choice_and_uniqueness():
    s = make_screening(status="completed")
    SpecialtyInterest.objects.create(screening=s, group="library")

    with pytest.raises(IntegrityError), transaction.atomic():
        SpecialtyInterest.objects.create(screening=s, group="library")
    with pytest.raises(IntegrityError), transaction.atomic():
        SpecialtyInterest.objects.create(screening=s, group="skydiving")
    with pytest.raises(ValidationError):
        SpecialtyInterest(screening=s, group="skydiving").full_clean()


def test_clinical_records_are_protected_from_cascading_delete():
    s = make_screening()

    with pytest.raises(models.models.ProtectedError):
        s.client.delete()


def test_answers_round_trip_through_columns():
    s = make_screening(substances=["alcohol", "sedatives"], daily_sedative_use=True, cssrs__wish_dead=True)

    raw = s.answers_dict()

    assert raw["substances"] == ["alcohol", "sedatives"] and raw["daily_sedative_use"] is True
    assert raw["cssrs"]["wish_dead"] is True and raw["cssrs"]["behavior"] == "never"


def test_one_flag_column_per_rules_flag():
    columns = {f.name for f in Screening._meta.fields if f.name.startswith("flag_")}

    assert columns == set(FLAG_FIELDS.values())
    assert set(FLAG_FIELDS) == {f.value for f in rules.Flag}
