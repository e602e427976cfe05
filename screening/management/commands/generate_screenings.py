"""`manage.py generate_screenings N [--seed S]`: N signed screenings of synthetic clients, with answers from
`screening.synthetic` and recommendations by the real rules; bulk inserts write 100,000 in under a minute on SQLite."""

import random
import uuid
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from screening import audit, questionnaire, rules, synthetic
from screening.bulk import insert_rows, instance_stub
from screening.models import AuditEvent, Client, RiskSummary, Screening

GIVEN = ["Alex", "Sam", "Jordan", "Taylor", "Casey", "Riley", "Morgan", "Jamie", "Avery", "Quinn"]
GIVEN += ["Drew", "Robin", "Cameron", "Skyler", "Reese", "Dana", "Emerson", "Harper", "Rowan", "Sage"]
FAMILY = ["Synthetic", "Testperson", "Example", "Sample", "Placeholder", "Fictional"]
FAMILY += ["Madeup", "Demo", "Mock", "Pseudo", "Invented", "Dummy"]
OVERRIDE_TEXT = {
    "clinical_judgment": "Clinical picture differs from the screening scores.",
    "patient_preference": "Person prefers this level after discussion of the options.",
    "program_unavailable": "Recommended program has no capacity this month.",
    "insurance_or_funding": "Coverage approved only for this level.",
    "waitlist": "Waitlist for the recommended level is over four weeks.",
    "transportation_or_access": "Cannot reach the recommended site.",
    "other": "Other reason recorded at intake.",
}


def positive_int(value: str) -> int:
    n = int(value)
    if n < 0:
        raise ValueError
    return n


def _read_ids(model, unique_field: str, stubs: list) -> None:
    """Give freshly inserted stubs their database ids, found by a unique field."""
    values = [getattr(stub, unique_field) for stub in stubs]
    ids = dict(model.objects.filter(**{f"{unique_field}__in": values}).values_list(unique_field, "id"))
    for stub in stubs:
        stub.id = ids[getattr(stub, unique_field)]


class Command(BaseCommand):
    help = "Create N signed screenings for synthetic clients (realistic answers, real rules)."

    def add_arguments(self, parser):
        parser.add_argument("n", type=positive_int, help="number of screenings")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible data set")
        parser.add_argument("--days", type=positive_int, default=365, help="spread screenings over the last N days")
        parser.add_argument("--batch", type=positive_int, default=2000, help="rows per bulk insert")

    def handle(self, *args, n, seed, days, batch, **options):
        if days == 0 or batch == 0:
            raise CommandError("--days and --batch must be at least 1", returncode=2)
        rng = random.Random(seed)
        clinicians = self._clinicians()
        now = timezone.now()
        start_number = Client.objects.filter(record_number__startswith="SYN-").count()
        made = 0
        while made < n:
            size = min(batch, n - made)
            with transaction.atomic():
                clients = [
                    instance_stub(
                        Client,
                        public_id=uuid.uuid4(),
                        record_number=f"SYN-{start_number + made + i + 1:07d}",
                        given_name=rng.choice(GIVEN),
                        family_name=rng.choice(FAMILY),
                        date_of_birth=date(1940, 1, 1) + timedelta(days=rng.randrange(0, 66 * 365)),
                        created_by_id=clinicians[0].pk,
                        # Registered when first screened; every synthetic signature is in the past.
                        created_at=now - timedelta(days=rng.random() * days, hours=6),
                    )
                    for i in range(size)
                ]
                for c in clients:
                    c.fill_search_keys()  # bulk inserts go around Client.save()
                insert_rows(Client, clients)
                _read_ids(Client, "record_number", clients)
                made_now = [self._screening(rng, c, clinicians) for c in clients]
                insert_rows(Screening, [s for s, _ in made_now])
                # Each recommendation's six-domain summary beside it (the screenings' ids are known only now).
                _read_ids(Screening, "public_id", [s for s, _ in made_now])
                insert_rows(RiskSummary, [RiskSummary.of(s, result) for s, result in made_now])
            made += size
        audit.record(
            action=AuditEvent.Action.CREATE,
            object_type="synthetic_data",
            details={"screenings": n, "seed": seed, "command": "generate_screenings"},
        )
        self.stdout.write(f"Created {n} signed screenings for synthetic clients.")

    def _clinicians(self):
        user_model = get_user_model()
        group = Group.objects.get(name="clinician")
        users = []
        for i in range(1, 9):
            user, created = user_model.objects.get_or_create(username=f"synthetic-clinician-{i}")
            if created:
                user.set_unusable_password()
                user.save()
                user.groups.add(group)
            users.append(user)
        return users

    def _screening(self, rng, client, clinicians) -> tuple[Screening, rules.Recommendation]:
        raw = synthetic.answer_set(rng)
        items = raw.pop("_items")
        answers = questionnaire.parse(raw)
        result = rules.evaluate(answers)
        clinician = rng.choice(clinicians)
        created = client.created_at + timedelta(minutes=rng.uniform(1, 10))
        completed = created + timedelta(minutes=rng.uniform(15, 60))
        signed = completed + timedelta(minutes=rng.uniform(2, 240))
        s = instance_stub(
            Screening,
            public_id=uuid.uuid4(),
            client_id=client.pk,
            clinician_id=clinician.pk,
            status=Screening.Status.SIGNED,
            created_at=created,
            updated_at=signed,
            completed_at=completed,
            decided_by_id=clinician.pk,
            decided_at=signed,
            signed_by_id=clinician.pk,
            signed_at=signed,
        )
        s.assign_answers(raw, items)
        s.compute_totals()
        s.assign_recommendation(result, questionnaire.to_json(answers))
        final = result.level
        if rng.random() < 0.14:
            others = [lv for lv in rules.Level if lv != result.level]
            if choices := [lv for lv in others if not rules.override_blockers(result.level, lv, result.flags)]:
                final = rng.choice(choices)
        s.final_level = final.value
        if final == result.level:
            s.decision = Screening.Decision.ACCEPTED
        else:
            s.decision = Screening.Decision.OVERRIDDEN
            s.override_reason = rng.choice(Screening.OverrideReason.values)
            s.override_text = OVERRIDE_TEXT[s.override_reason]
        return s, result
