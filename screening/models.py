"""Clients, screenings (answers, recommendation, decision, signature) and the audit log."""

from __future__ import annotations

import functools
import operator
import re
import unicodedata
import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import answers, questionnaire, rules, selfreport


def _check(rule: str, condition: Q, message: str | None = None) -> models.CheckConstraint:
    """A CheckConstraint named `<app>_<model>_<rule>`; `message` where a user can trigger it."""
    return models.CheckConstraint(
        condition=condition, name=f"%(app_label)s_%(class)s_{rule}", violation_error_message=message
    )


def _choice_check(field: str, choices: type[models.TextChoices], rule: str) -> models.CheckConstraint:
    return _check(rule, Q(**{f"{field}__in": choices.values}))


def _blank_or_choice_check(field: str, values: list[str]) -> models.CheckConstraint:
    return _check(f"{field}_valid", Q(**{field: ""}) | Q(**{f"{field}__in": values}))


def _range_check(field: str, maximum: int) -> models.CheckConstraint:
    condition = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0, f"{field}__lte": maximum})
    return _check(f"{field}_range", condition, f"{field} must be from 0 to {maximum}.")


def _paired_check(a: str, b: str, rule: str) -> models.CheckConstraint:
    condition = Q(**{f"{a}__isnull": True, f"{b}__isnull": True}) | Q(**{f"{a}__isnull": False, f"{b}__isnull": False})
    return _check(rule, condition, f"{a} and {b} must both be set or both be empty.")


def _whole_check(rule: str, texts: list[str], nullables: list[str], message: str | None = None):
    """Text and nullable fields all empty, or all set."""
    empty = Q(**{text: "" for text in texts}, **{f"{field}__isnull": True for field in nullables})
    full = functools.reduce(operator.and_, [~Q(**{text: ""}) for text in texts])
    full &= Q(**{f"{field}__isnull": False for field in nullables})
    return _check(rule, empty | full, message)


def score_field(maximum: int, verbose_name: str) -> models.PositiveSmallIntegerField:
    validators = [MinValueValidator(0), MaxValueValidator(maximum)]
    return models.PositiveSmallIntegerField(verbose_name or None, null=True, blank=True, validators=validators)


def _optional_user() -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )


class Level(models.TextChoices):
    IOP = rules.Level.IOP.value, "IOP (intensive outpatient)"
    RESIDENTIAL = rules.Level.RESIDENTIAL.value, "Residential"
    INPATIENT = rules.Level.INPATIENT.value, "Inpatient"


# Letters that Unicode does not split into a base letter and an accent, folded by hand.
_LETTERS = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ı": "i", "ŧ": "t", "þ": "th", "æ": "ae", "œ": "oe"}
)
_APOSTROPHES = dict.fromkeys(map(ord, "'’ʼ‘`´"), None)
_NOT_A_LETTER = re.compile(r"[\W_]+")


def name_key(text: str) -> str:
    """A name as the client search compares it: accents stripped, case folded, apostrophes dropped and any
    other run of punctuation or spaces made one space ("Müller-O'Brien" → "muller obrien")."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(w for w in _NOT_A_LETTER.split(bare.casefold().translate(_LETTERS)) if w)


def record_key(text: str) -> str:
    """A record number as the client search compares it: case folded, without spaces."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


# Each search key and the field it is made from (one field each, so a partial update stays consistent).
SEARCH_KEYS = {
    "search_family": ("family_name", name_key),
    "search_given": ("given_name", name_key),
    "search_record": ("record_number", record_key),
}


class SearchKeyField(models.CharField):
    """Normalized text compared byte by byte (COLLATE "C" on PostgreSQL; SQLite's BINARY already is), so one
    B-tree index serves both a prefix match (`__prefix`) and ORDER BY, whatever the database's collation."""

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params


def _after_prefix(prefix: str) -> str:
    """The least string above every string that starts with `prefix` (code point order)."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(0xE000 if 0xD800 <= last <= 0xDFFF else last)
        prefix = prefix[:-1]
    return "\U0010ffff"


@SearchKeyField.register_lookup
class Prefix(models.Lookup):
    """`search_key__prefix="mul"`: the key starts with the value, matched by an index range on both databases:
    LIKE 'mul%' on PostgreSQL ("C" collation); on SQLite, whose LIKE ignores ASCII case and so cannot use a
    BINARY index, the same range written out."""

    lookup_name = "prefix"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s", [*params, connection.ops.prep_for_like_query(self.rhs) + "%"]

    def as_sqlite(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"({lhs} >= %s AND {lhs} < %s)", [*params, self.rhs, *params, _after_prefix(self.rhs)]


class ClientQuerySet(models.QuerySet):
    def newest_first(self):
        return self.order_by("-created_at", "-id")

    def by_name(self):
        """In the order names are shown ("Family, Given"), accents and case aside."""
        return self.order_by("search_family", "search_given", "id")

    def update(self, **kwargs):
        # A name written by update() brings its search key along, as save() does.
        for key, (source, make) in SEARCH_KEYS.items():
            if isinstance(kwargs.get(source), str):
                kwargs.setdefault(key, make(kwargs[source]))
        return super().update(**kwargs)

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for obj in objs:
            obj.fill_search_keys()
        return super().bulk_create(objs, *args, **kwargs)

    def fill_search_keys(self, batch: int = 2000) -> int:
        """Remake the search keys of these clients, for rows written around save(): fixtures (loaddata saves
        raw) and bulk inserts (screening.bulk). Returns how many clients were updated."""
        done, last = 0, 0
        sources = [source for source, _ in SEARCH_KEYS.values()]
        while rows := list(self.filter(pk__gt=last).order_by("pk").only("pk", *sources)[:batch]):
            for client in rows:
                client.fill_search_keys()
            done += self.model._base_manager.bulk_update(rows, list(SEARCH_KEYS), batch_size=batch)
            last = rows[-1].pk
        return done


class ClientManager(models.Manager.from_queryset(ClientQuerySet)):
    def get_by_natural_key(self, record_number):
        return self.get(record_number=record_number)


class Client(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    record_number = models.CharField("program record number", max_length=32, unique=True)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Derived from the fields above for the client search (screening.selectors.client_search); never typed in.
    search_family = SearchKeyField(max_length=200, editable=False, default="")
    search_given = SearchKeyField(max_length=200, editable=False, default="")
    search_record = SearchKeyField(max_length=64, editable=False, default="")

    objects = ClientManager()

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        indexes = [
            models.Index(fields=["family_name", "given_name"], name="screening_client_name_idx"),
            # The client search: "Family, Given" and a family-name prefix in the order shown; a given-name
            # prefix ("Given Family"); a record-number prefix.
            models.Index(fields=["search_family", "search_given", "id"], name="screening_client_family_key"),
            models.Index(fields=["search_given", "search_family"], name="screening_client_given_key"),
            models.Index(fields=["search_record"], name="screening_client_record_key"),
            # The client list, newest first, read a page at a time from a cursor (selectors.client_page).
            models.Index(fields=["created_at", "id"], name="screening_client_newest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.record_number})"

    def save(self, *args, **kwargs):
        # Derived data only, like a slug: the search keys always follow the fields they are made from.
        self.fill_search_keys()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {
                *update_fields,
                *(k for k, (src, _) in SEARCH_KEYS.items() if src in update_fields),
            }
        super().save(*args, **kwargs)

    def fill_search_keys(self) -> None:
        for key, (source, make) in SEARCH_KEYS.items():
            setattr(self, key, make(getattr(self, source))[: self._meta.get_field(key).max_length])

    def natural_key(self) -> tuple[str]:
        return (self.record_number,)

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class ScreeningStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    COMPLETED = "completed", "Completed"
    SIGNED = "signed", "Signed"


class ScreeningDecision(models.TextChoices):
    ACCEPTED = "accepted", "Accepted the recommendation"
    OVERRIDDEN = "overridden", "Chose another level"


class ScreeningOverrideReason(models.TextChoices):
    CLINICAL_JUDGMENT = "clinical_judgment", "Clinical judgment"
    PATIENT_PREFERENCE = "patient_preference", "Patient preference"
    PROGRAM_UNAVAILABLE = "program_unavailable", "Program unavailable"
    INSURANCE_OR_FUNDING = "insurance_or_funding", "Insurance or funding"
    WAITLIST = "waitlist", "Waitlist"
    TRANSPORTATION_OR_ACCESS = "transportation_or_access", "Transportation or access"
    OTHER = "other", "Other"


class ScreeningEmergencyAction(models.TextChoices):
    """What was done about an emergency referral before signing (DESIGN.md §5)."""

    CRISIS_TEAM = "crisis_team", "Crisis team contacted"
    EMERGENCY_SERVICES = "emergency_services", "Emergency services called"
    EMERGENCY_DEPARTMENT = "emergency_department", "Sent to an emergency department"
    OTHER = "other", "Other"


class ScreeningQuerySet(models.QuerySet):
    def drafts(self):
        return self.filter(status=Screening.Status.DRAFT)

    def completed_or_signed(self):
        return self.exclude(status=Screening.Status.DRAFT)

    def signed(self):
        return self.filter(status=Screening.Status.SIGNED)

    def unfinished(self):
        """Drafts, and completed screenings still waiting for a decision or a signature."""
        # Named statuses rather than "not signed": the (status, created_at) index then finds the few unfinished
        # screenings directly, instead of every screening of a clinician with a long signed history.
        return self.filter(status__in=[Screening.Status.DRAFT, Screening.Status.COMPLETED])

    def created_in(self, dates):
        """Started within a `selectors.DateRange` (either end may be open)."""
        bounds = {"created_at__gte": dates.since, "created_at__lt": dates.until}
        return self.filter(**{lookup: value for lookup, value in bounds.items() if value is not None})


FLAG_FIELDS = {f.value: f"flag_{f.value}" for f in rules.Flag}
FLAG_LABELS = {code: rules.FLAG_LABELS[code] for code in FLAG_FIELDS}  # "Emergency referral", "Below IOP threshold"


def _answer_columns() -> tuple[dict[str, models.Field], list[models.CheckConstraint]]:
    """The column(s) of each input of the answer map, then the computed totals, with their checks. Every answer
    is nullable: a draft may be partial."""
    fields: dict[str, models.Field] = {}
    checks = []
    for inp in answers.INPUTS.values():
        if inp.kind is answers.Kind.MULTI:
            fields.update({inp.prefix + code: models.BooleanField(label, default=False) for code, label in inp.choices})
        elif inp.kind is answers.Kind.YES_NO:
            fields[inp.name] = models.BooleanField(inp.label, null=True, blank=True)
        elif inp.kind is answers.Kind.CHOICE:
            fields[inp.name] = models.CharField(inp.label, max_length=32, choices=inp.choices, blank=True, default="")
            checks.append(_blank_or_choice_check(inp.name, [code for code, _ in inp.choices]))
        else:
            fields[inp.name] = score_field(inp.maximum, inp.label)
            checks.append(_range_check(inp.name, inp.maximum))
    for total in (answers.ANSWERS[name] for name in answers.INSTRUMENTS):
        fields[total.column] = score_field(total.maximum, total.label)
        checks.append(_range_check(total.column, total.maximum))
    return fields, checks


_ANSWER_COLUMNS, _ANSWER_CHECKS = _answer_columns()
# The answer columns (DESIGN.md §2), made from the answer map: one per input, plus the computed totals.
ScreeningAnswers = type(
    "ScreeningAnswers",
    (models.Model,),
    {"__module__": __name__, "Meta": type("Meta", (), {"abstract": True}), **_ANSWER_COLUMNS},
)


class Screening(ScreeningAnswers):
    Status = ScreeningStatus
    Decision = ScreeningDecision
    OverrideReason = ScreeningOverrideReason
    EmergencyAction = ScreeningEmergencyAction

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="screenings")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="screenings")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1, help_text="Optimistic-locking counter, raised on every save.")
    amends = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="amendments",
        help_text="The signed screening this one corrects.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    # --- Answers (DESIGN.md §2): the columns of ScreeningAnswers, made from the answer map.

    # --- Recommendation (set when completed; never changed after).
    recommended_level = models.CharField(max_length=16, choices=Level.choices, blank=True, default="")
    rules_version = models.CharField(max_length=32, blank=True, default="")
    recommendation = models.JSONField(
        null=True, blank=True, help_text="The rules output: flags, pathway, reasons, bands."
    )
    answers_snapshot = models.JSONField(
        null=True, blank=True, help_text="The exact answers the recommendation came from."
    )
    flag_emergency_referral = models.BooleanField(default=False)
    flag_safety_review = models.BooleanField(default=False)
    flag_detox_first = models.BooleanField(default=False)
    flag_below_iop_threshold = models.BooleanField(default=False)
    flag_no_support_network = models.BooleanField(default=False)
    flag_commitments_conflict = models.BooleanField(default=False)
    flag_attendance_barrier = models.BooleanField(default=False)

    # --- The clinician's decision (§5).
    final_level = models.CharField(max_length=16, choices=Level.choices, blank=True, default="")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True, default="")
    override_reason = models.CharField(max_length=32, choices=OverrideReason.choices, blank=True, default="")
    override_text = models.TextField(blank=True, default="")
    decided_by = _optional_user()
    decided_at = models.DateTimeField(null=True, blank=True)

    # --- Signature, with the safety flags acknowledged (DESIGN.md §5): for an emergency referral, the action
    # taken; for a safety review, the same-day risk assessment confirmed.
    signed_by = _optional_user()
    signed_at = models.DateTimeField(null=True, blank=True)
    emergency_action = models.CharField(
        "action taken on the emergency referral", max_length=32, choices=EmergencyAction.choices, blank=True, default=""
    )
    emergency_action_text = models.TextField("what was done", blank=True, default="")
    safety_review_confirmed = models.BooleanField("same-day risk assessment confirmed", default=False)

    # --- An amendment's reason (the correction it makes), given when it is started.
    amendment_reason = models.TextField("reason for amendment", blank=True, default="")

    # --- The payer's code for the final level in force when it was signed (LevelCrosswalk, issue 14): frozen
    # with the signature, so later crosswalk edits leave signed records as they were.
    payer_level_code = models.CharField("payer level code at signing", max_length=20, blank=True, default="")

    # --- Answered by the person themselves on the device (issue 14, item 7; screening.selfreport): set for an
    # instrument when they gave every one of its items in a hand-over, cleared when the clinician changes one.
    phq9_self_reported = models.BooleanField("PHQ-9 self-reported", default=False)
    gad7_self_reported = models.BooleanField("GAD-7 self-reported", default=False)

    # --- A reassessment (issue 14, item 6): the signed screening its history and circumstances were carried over
    # from (answers.carry_over), the questionnaire sections carried, and those the clinician has confirmed or
    # changed so far; completion needs every one confirmed. Kept with the draft, so a reload shows the same state.
    carried_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="carried_into",
        help_text="The signed screening a reassessment carried answers over from.",
    )
    carried_sections = models.JSONField("sections carried over", default=list, blank=True)
    confirmed_sections = models.JSONField("carried-over sections confirmed", default=list, blank=True)
    # The checklists where "None of these" is ticked (none ticked alone reads as unanswered in a draft).
    none_ticked = models.JSONField("checklists answered none of these", default=list, blank=True)

    objects = ScreeningQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("sign_screening", "Can complete, decide, sign and amend screenings"),
            ("review_history", "Can review recommendation history, dashboard and rule replay"),
            ("export_records", "Can export screening records"),
        ]
        indexes = [
            models.Index(fields=["client", "created_at"], name="screening_client_created_idx"),
            models.Index(fields=["status", "created_at"], name="screening_status_created_idx"),
            # Admin review (issue 4): history pages read it newest first, and the dashboard's aggregates
            # over a date range are index-only scans of it on PostgreSQL. Key columns, not INCLUDE, so
            # SQLite builds the same index.
            models.Index(
                fields=[
                    *("created_at", "id", "recommended_level", "final_level", "decision", "override_reason"),
                    *("clinician", "signed_at", "rules_version", *FLAG_FIELDS.values()),
                ],
                condition=~Q(status="draft"),
                name="screening_review_idx",
            ),
        ]
        constraints = [
            _choice_check("status", ScreeningStatus, "status_valid"),
            _blank_or_choice_check("recommended_level", Level.values),
            _blank_or_choice_check("final_level", Level.values),
            _blank_or_choice_check("decision", ScreeningDecision.values),
            _blank_or_choice_check("override_reason", ScreeningOverrideReason.values),
            *_ANSWER_CHECKS,
            _paired_check("signed_by", "signed_at", "signature_paired"),
            _paired_check("decided_by", "decided_at", "decision_paired"),
            # A recommendation is stored whole: level, version, output and answers together.
            _whole_check(
                "recommendation_whole",
                ["recommended_level", "rules_version"],
                ["recommendation", "answers_snapshot"],
                "A recommendation needs its level, rules version, output and answers.",
            ),
            # Drafts carry no recommendation; completed and signed screenings always do.
            _check(
                "status_recommendation",
                Q(status="draft", recommended_level="") | (~Q(status="draft") & ~Q(recommended_level="")),
            ),
            # A decision is the final level plus accepted/overridden, set together.
            _whole_check("decision_whole", ["final_level", "decision"], ["decided_at"]),
            # An override carries a reason code and text; an acceptance carries neither.
            _check(
                "override_reason_paired",
                Q(decision="overridden", override_text__gt="") & ~Q(override_reason="")
                | (~Q(decision="overridden") & Q(override_reason="", override_text="")),
                "An override needs a reason code and text.",
            ),
            # Signed exactly when the status says so, and only after a decision.
            _check(
                "signed_status",
                Q(status="signed", signed_at__isnull=False, decided_at__isnull=False)
                | (~Q(status="signed") & Q(signed_at__isnull=True)),
            ),
            _blank_or_choice_check("emergency_action", ScreeningEmergencyAction.values),
            # An emergency action is a code and its text together, and only on a screening with that flag.
            _check(
                "emergency_action_whole",
                Q(emergency_action="", emergency_action_text="")
                | (~Q(emergency_action="") & Q(emergency_action_text__gt="", flag_emergency_referral=True)),
                "An emergency referral's action needs what was done, and only an emergency referral has one.",
            ),
            _check("safety_review_confirmed_flag", Q(safety_review_confirmed=False) | Q(flag_safety_review=True)),
            _check("amendment_reason_amends", Q(amendment_reason="") | Q(amends__isnull=False)),
            _check("payer_level_code_signed", Q(payer_level_code="") | Q(status="signed")),
            _check(
                "completed_at_status",
                Q(completed_at__isnull=True, status="draft") | (Q(completed_at__isnull=False) & ~Q(status="draft")),
            ),
        ]

    def __str__(self) -> str:
        return f"Screening {self.public_id} ({self.status})"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_signed(self) -> bool:
        return self.status == self.Status.SIGNED

    @property
    def is_overridden(self) -> bool:
        return self.decision == self.Decision.OVERRIDDEN

    @property
    def self_reported(self) -> list[str]:
        """The instruments the person answered themselves, by short name ("PHQ-9")."""
        return [i.short for i in selfreport.INSTRUMENTS if getattr(self, i.field)]

    @property
    def flags(self) -> list[str]:
        return [code for code, name in FLAG_FIELDS.items() if getattr(self, name)]

    def answer_values(self) -> dict:
        """The stored answer columns by name."""
        return {name: getattr(self, name) for name in answers.COLUMNS}

    def answers_dict(self) -> dict:
        """The stored answers in the raw shape of DESIGN.md §2, for questionnaire.parse."""
        return answers.to_raw(self.answer_values())

    def assign_answers(self, raw: dict, items: dict[str, list[int] | None] | None = None) -> None:
        """Set the answer columns from a §2 mapping (and optional item answers by instrument); no save."""
        for name, value in answers.to_columns(raw, items).items():
            setattr(self, name, value)

    def compute_totals(self) -> None:
        """Score each instrument whose items are all answered; a partial instrument has no total."""
        items = {name: getattr(self, name) for name in answers.ITEM_COLUMNS}
        for name, value in answers.compute_totals(items).items():
            setattr(self, name, value)

    @property
    def domains(self) -> dict | None:
        """The six-domain risk summary (DESIGN.md §10) of the recommendation, from its RiskSummary row."""
        if not self.recommendation:
            return None
        try:
            return self.risk_summary.as_dict()
        except RiskSummary.DoesNotExist:
            return None

    def result(self) -> rules.Recommendation:
        """The stored recommendation evaluated again from its stored answers under its own rule set version."""
        return rules.evaluate(questionnaire.parse(self.answers_snapshot), self.rules_version)

    def flag_explanations(self) -> tuple[rules.FlagExplanation, ...]:
        """The recommendation's flags by urgency, each with the stored answers that raised it (none for a draft)."""
        return rules.explain_flags(self.result()) if self.recommendation else ()

    def domain_rows(self) -> list[tuple[str, int, str, list[str]]]:
        """The six-domain summary as (domain title, rating, label, evidence) rows, in domain order; [] without one."""
        domains = self.domains
        if not domains:
            return []
        return [
            (row.title, *(domains[row.domain][k] for k in ("rating", "label", "evidence"))) for row in rules.DOMAINS
        ]

    def assign_recommendation(self, result: rules.Recommendation, answers_snapshot: dict) -> None:
        """Store a rules outcome with the exact answers it came from; no save."""
        self.recommended_level = result.level.value
        self.rules_version = result.rules_version
        out = result.to_dict(domains=False)  # the summary lives beside the record (RiskSummary)
        self.recommendation = {k: out[k] for k in ("flags", "pathway", "reasons", "bands")}
        self.answers_snapshot = answers_snapshot
        for code, name in FLAG_FIELDS.items():
            setattr(self, name, code in out["flags"])


RATING_MAX = int(max(rules.Rating))  # 4, severe


def rating_field(domain: rules.Domain) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(
        domain.value.replace("_", " "), validators=[MinValueValidator(0), MaxValueValidator(RATING_MAX)]
    )


class RiskSummary(models.Model):
    """The six-domain risk summary of a recommendation (DESIGN.md §10), beside the screening it explains.

    Derived data, written with each recommendation (and by migration 0009 for older ones) so that a signed
    row is never rewritten; a reopened screening's summary goes with its recommendation."""

    screening = models.OneToOneField(
        "Screening", on_delete=models.PROTECT, primary_key=True, related_name="risk_summary"
    )
    withdrawal = rating_field(rules.Domain.WITHDRAWAL)
    physical = rating_field(rules.Domain.PHYSICAL)
    mental = rating_field(rules.Domain.MENTAL)
    readiness = rating_field(rules.Domain.READINESS)
    continued_use = rating_field(rules.Domain.CONTINUED_USE)
    environment = rating_field(rules.Domain.ENVIRONMENT)
    evidence = models.JSONField(help_text="Each domain's evidence: rule codes, then signals, in table order.")

    class Meta:
        constraints = [_range_check(d.value, RATING_MAX) for d in rules.Domain]

    def __str__(self) -> str:
        return f"Risk summary of screening {self.screening_id}"

    @classmethod
    def of(cls, screening: Screening, result: rules.Recommendation) -> RiskSummary:
        """The summary of a rules outcome for a screening; not saved."""
        domains = result.domains
        return cls(
            screening_id=screening.pk,  # by id: bulk inserts pass bare stubs (screening.bulk)
            evidence={d.domain.value: list(d.evidence) for d in domains},
            **{d.domain.value: d.rating for d in domains},
        )

    def as_dict(self) -> dict:
        """The `domains` shape of DESIGN.md §10, in Domain order."""
        return {
            d.value: {
                "rating": getattr(self, d.value),
                "label": rules.RATING_LABELS[getattr(self, d.value)],
                "evidence": self.evidence.get(d.value, []),
            }
            for d in rules.Domain
        }


class SpecialtyGroup(models.TextChoices):
    EQUINE_THERAPY = "equine_therapy", "Equine therapy"
    COOKING_CLASS = "cooking_class", "Cooking class"
    HORTICULTURE = "horticulture", "Horticulture"
    NATURE_TRAIL_WALKS = "nature_trail_walks", "Nature trail walks"
    LIBRARY = "library", "Library"


class SpecialtyInterest(models.Model):
    """A specialty group the person is interested in, noted on an IOP recommendation (§1)."""

    Group = SpecialtyGroup
    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="specialty_interests")
    group = models.CharField(max_length=32, choices=Group.choices)

    class Meta:
        ordering = ["screening", "group"]
        constraints = [
            _choice_check("group", SpecialtyGroup, "group_valid"),
            models.UniqueConstraint(fields=["screening", "group"], name="%(app_label)s_%(class)s_unique_group"),
        ]

    def __str__(self) -> str:
        return self.get_group_display()


class Account(User):
    """A user as the app's user management sees it (DESIGN.md §6): a proxy, to hold its permission."""

    class Meta:
        proxy = True
        permissions = [("manage_users", "Can manage users: create, change role, deactivate, send links, reset MFA")]


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
    SIGN_OUT = "sign_out", "Signed out"
    VIEW = "view", "Viewed"
    CREATE = "create", "Created"
    CHANGE = "change", "Changed"
    COMPLETE = "complete", "Completed"
    DECIDE = "decide", "Decided"
    OVERRIDE = "override", "Overrode"
    SIGN = "sign", "Signed"
    AMEND = "amend", "Amended"
    EXPORT = "export", "Exported"
    VERIFY = "verify", "Verified audit log"


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The audit log is append-only.")

    delete = update


class AuditEvent(models.Model):
    """One entry of the append-only audit log. Written only by `screening.audit.record`."""

    Action = AuditAction

    at = models.DateTimeField(db_index=True)
    actor = _optional_user()
    actor_username = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=40, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # The request it came from (X-Request-ID): hashed when set, so events from before it verify unchanged. A
    # database default too, so bulk loads that name the other columns (bench/) still insert.
    request_id = models.CharField(max_length=64, blank=True, default="", db_default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        permissions = [("verify_audit", "Can verify the audit trail")]
        indexes = [models.Index(fields=["action", "at"], name="screening_audit_action_at_idx")]
        constraints = [_choice_check("action", AuditAction, "action_valid")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None or not kwargs.get("force_insert"):
            raise AppendOnlyError("Audit events are only ever inserted, through screening.audit.record.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The audit log is append-only.")


class ExportRun(models.Model):
    """One export of screening records: who ran it, its `started` audit event (committed before its first
    byte) and its end event. The events are the tamper-evident record; this row lets the clients an export
    contained be listed (accounting of disclosures), even if it was cut short or never ended ("interrupted")."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    started_at = models.DateTimeField(default=timezone.now)
    actor = _optional_user()
    actor_username = models.CharField(max_length=150, blank=True, default="")
    format = models.CharField(max_length=8)
    deidentified = models.BooleanField()
    started_event = models.OneToOneField(
        AuditEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="export_run_started"
    )
    event = models.OneToOneField(AuditEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="export_run")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.public_id} ({self.format})"

    @property
    def outcome(self) -> str:
        """completed, cut_short or failed as its end event says; interrupted if it never ended."""
        if self.event is not None:
            return self.event.details.get("outcome", "")
        return "interrupted" if self.started_event_id else ""


class ExportDisclosure(models.Model):
    """A client whose records an export contained: one row per (export, client)."""

    # Up to a row per screening exported, so each is cheap: one index (the unique (client, export) pair: "which
    # exports held this client", and a client noted once) and no foreign-key constraints, whose key-share locks
    # made noting a million clients 2.5 times slower (bench/disclosure_bench.py). Safe: rows are written only
    # from client ids read in the same statement, and clients and exports are never deleted (PROTECT).
    export = models.ForeignKey(
        ExportRun, on_delete=models.PROTECT, related_name="disclosures", db_index=False, db_constraint=False
    )
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="disclosures", db_index=False, db_constraint=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "export"], name="%(app_label)s_%(class)s_client_export")
        ]

    def __str__(self) -> str:
        return f"{self.export_id} → {self.client_id}"


class AuditAnchor(models.Model):
    """A signed checkpoint of the audit chain (DESIGN.md §7): its length and latest hash, signed with the Ed25519
    key `AUDIT_SIGNING_KEY` (`key_id` names it, so keys can rotate). Written only by `screening.anchors`."""

    length = models.BigIntegerField()  # events in the chain up to and including `event_id`
    event_id = models.BigIntegerField()  # the latest event it covers
    event_hash = models.CharField(max_length=64)
    at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=88)  # base64 of the 64-byte Ed25519 signature

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["event_id"], name="screening_anchor_event_idx")]

    def __str__(self) -> str:
        return f"checkpoint #{self.pk}: {self.length} events to #{self.event_id}"


class KeptAnswersQuerySet(models.QuerySet):
    def offered(self, *, token_hash: str, user, screening: Screening) -> KeptAnswers | None:
        """The answers kept in this browser (its token's hash) for this user and screening, unless expired."""
        mine = self.filter(token_hash=token_hash, user=user, screening=screening, expires_at__gt=timezone.now())
        return mine.first()


class KeptAnswers(models.Model):
    """A questionnaire posted after its session had ended (DESIGN.md §11), kept for the user that session was
    signed in as and offered back to them alone, after their next sign-in in the same browser: the browser holds
    only a random token (a cookie), whose SHA-256 is `token_hash`. Never PHI in the cookie or a URL; expires."""

    token_hash = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="+")
    data = models.JSONField(help_text="The posted answers: each field's list of values, as the form sent them.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    objects = KeptAnswersQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token_hash", "screening"], name="%(app_label)s_%(class)s_one_per_browser")
        ]

    def __str__(self) -> str:
        return f"Kept answers for screening {self.screening_id}"


class ReplayJobStatus(models.TextChoices):
    QUEUED = "queued", "Waiting to start"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    INTERRUPTED = "interrupted", "Interrupted"


class ReplayJob(models.Model):
    """A what-if replay run in the background (`replay_jobs`): who asked for which days and version, how far it
    got and its result. It lives here, not in a server's memory, so any app server can show it; the server
    running it writes its progress and a heartbeat after every page."""

    Status = ReplayJobStatus
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_by = _optional_user()
    since = models.DateField()  # days in the program's time zone, both included
    until = models.DateField()
    version = models.CharField(max_length=16)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)  # counted when it starts
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)  # replay.ReplayResult.to_json() when done
    error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="screening_replayjob_status_idx")]
        constraints = [
            _choice_check("status", ReplayJobStatus, "status_valid"),
            _check("range", Q(until__gte=models.F("since"))),
        ]

    def __str__(self) -> str:
        return f"Replay {self.public_id} ({self.status})"

    @property
    def percent(self) -> int:
        """Whole percent done (100 when done)."""
        if self.status == self.Status.DONE:
            return 100
        return min(100, 100 * self.done // self.total) if self.total else 0


class LevelCrosswalkQuerySet(models.QuerySet):
    def code_for(self, level: str) -> str:
        """The payer code in force for a level; "" when the crosswalk has none (or no level is given)."""
        return (self.filter(level=level).values_list("code", flat=True).first() or "") if level else ""


class LevelCrosswalk(models.Model):
    """The program's payer code for one of the three levels (ASAM "2.1", a payer's own code…), printed beside the
    level on the record, the print and the payer PDF (DESIGN.md §10). Edited by admins (screening.payer); empty by
    default: no row, no code. A signature freezes the code in force (Screening.payer_level_code)."""

    level = models.CharField(max_length=16, choices=Level.choices, unique=True)
    code = models.CharField("payer level code", max_length=20)
    updated_by = _optional_user()
    updated_at = models.DateTimeField(default=timezone.now)

    objects = LevelCrosswalkQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        permissions = [("edit_crosswalk", "Can edit the payer level crosswalk")]
        constraints = [
            _choice_check("level", Level, "level_valid"),
            _check("code_set", ~Q(code=""), "A crosswalk row needs its code."),
        ]

    def __str__(self) -> str:
        return f"{self.level} → {self.code}"


# The dashboard's daily roll-up (derived data), kept in its own module; imported here so Django registers it.
from .rollups import DashboardCell, DashboardDirtyDay, DashboardMinutes  # noqa: E402, F401
