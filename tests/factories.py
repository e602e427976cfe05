"""factory-boy factories: synthetic users, clients and screenings (never real people)."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from screening import questionnaire, rules
from screening.models import Client, RiskSummary, Screening
from screening.permissions import ensure_roles
from tests.answers import baseline

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            if not Group.objects.filter(name=extracted).exists():
                ensure_roles(Group, Permission)  # a transactional test flushed the migration's groups
            self.groups.add(Group.objects.get(name=extracted))
            if extracted == "admin":
                self.is_staff = True
        self.save()


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    record_number = factory.Sequence(lambda n: f"T-{n:06d}")
    given_name = factory.Sequence(lambda n: f"Given{n}")
    family_name = factory.Sequence(lambda n: f"Family{n}")
    date_of_birth = dt.date(1985, 6, 15)
    created_by = factory.SubFactory(UserFactory, role="clinician")


def make_screening(
    *,
    client: Client | None = None,
    clinician=None,
    answers: dict | None = None,
    status: str = Screening.Status.SIGNED,
    final_level: str | None = None,
    override_reason: str = "other",
    created_at: dt.datetime | None = None,
    version: str = rules.RULES_VERSION,
    **answer_changes,
) -> Screening:
    """A screening with its recommendation computed by the real rules, saved directly (no audit)."""
    clinician = clinician or UserFactory(role="clinician")
    client = client or ClientFactory(created_by=clinician)
    raw = answers if answers is not None else baseline(**answer_changes)
    created = created_at or timezone.now()
    s = Screening(client=client, clinician=clinician, created_at=created)
    s.assign_answers(raw)
    s.compute_totals()
    s.phq9_total, s.gad7_total = raw["phq9_total"], raw["gad7_total"]  # no item answers in these fixtures
    s.ciwa_ar, s.cows = raw["ciwa_ar"], raw["cows"]
    if status != Screening.Status.DRAFT:
        parsed = questionnaire.parse(raw)
        result = rules.evaluate(parsed, version)
        s.assign_recommendation(result, questionnaire.to_json(parsed))
        s.status = Screening.Status.COMPLETED
        s.completed_at = created + dt.timedelta(minutes=20)
        if status == Screening.Status.SIGNED or final_level:
            final = final_level or result.level.value
            s.final_level = final
            s.decided_by = clinician
            s.decided_at = created + dt.timedelta(minutes=30)
            if final == result.level.value:
                s.decision = Screening.Decision.ACCEPTED
            else:
                s.decision = Screening.Decision.OVERRIDDEN
                s.override_reason = override_reason
                s.override_text = "Synthetic test override."
        if status == Screening.Status.SIGNED:
            s.status = Screening.Status.SIGNED
            s.signed_by = clinician
            s.signed_at = created + dt.timedelta(minutes=45)
    s.save()
    if status != Screening.Status.DRAFT:
        RiskSummary.of(s, result).save(force_insert=True)
    return s
