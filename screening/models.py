"""Clients, screenings (answers, recommendation, decision, signature) and the audit log."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import instruments, questionnaire, rules


def _choice_check(
    field: str, choices: type[models.TextChoices], name: str, null: bool = False
) -> models.CheckConstraint:
    cond = Q(**{f"{field}__in": choices.values})
    if null:
        cond |= Q(**{f"{field}__isnull": True})
    return models.CheckConstraint(condition=cond, name=f"%(app_label)s_%(class)s_{name}")


def _range_check(field: str, maximum: int, minimum: int = 0) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": minimum, f"{field}__lte": maximum}),
        name=f"%(app_label)s_%(class)s_{field}_range",
        violation_error_message=f"{field} must be from {minimum} to {maximum}.",
    )


def _paired_check(a: str, b: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{a}__isnull": True, f"{b}__isnull": True})
        | Q(**{f"{a}__isnull": False, f"{b}__isnull": False}),
        name=f"%(app_label)s_%(class)s_{name}",
        violation_error_message=f"{a} and {b} must both be set or both be empty.",
    )


def score_field(maximum: int, verbose_name: str = "", minimum: int = 0) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(
        verbose_name or None,
        null=True,
        blank=True,
        validators=[MinValueValidator(minimum), MaxValueValidator(maximum)],
    )


class Level(models.TextChoices):
    IOP = rules.Level.IOP.value, "IOP (intensive outpatient)"
    RESIDENTIAL = rules.Level.RESIDENTIAL.value, "Residential"
    INPATIENT = rules.Level.INPATIENT.value, "Inpatient"


class ClientManager(models.Manager):
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

    objects = ClientManager()

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        indexes = [models.Index(fields=["family_name", "given_name"], name="screening_client_name_idx")]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.record_number})"

    def natural_key(self) -> tuple[str]:
        return (self.record_number,)

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class ScreeningStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    COMPLETED = "completed", "Completed"
    SIGNED = "signed", "Signed"


class ScreeningMentalHealth(models.TextChoices):
    NONE = "none", "None"
    STABLE = "stable", "Diagnosed, stable with treatment"
    UNSTABLE = "unstable", "Diagnosed, not currently stable"


class ScreeningReadiness(models.TextChoices):
    PRECONTEMPLATION = "precontemplation", "Precontemplation"
    CONTEMPLATION = "contemplation", "Contemplation"
    PREPARATION = "preparation", "Preparation"
    ACTION = "action", "Action"
    MAINTENANCE = "maintenance", "Maintenance"


class ScreeningCssrsBehavior(models.TextChoices):
    NEVER = "never", "Never"
    OVER_3_MONTHS = "over_3_months", "Yes, over 3 months ago"
    PAST_3_MONTHS = "past_3_months", "Yes, in the past 3 months"


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


class ScreeningQuerySet(models.QuerySet):
    def drafts(self):
        return self.filter(status=Screening.Status.DRAFT)

    def completed_or_signed(self):
        return self.exclude(status=Screening.Status.DRAFT)

    def signed(self):
        return self.filter(status=Screening.Status.SIGNED)


SUBSTANCE_FIELDS = {s.value: f"substance_{s.value}" for s in rules.Substance}
DSM5_FIELDS = {c.value: f"dsm5_{c.value}" for c in instruments.Dsm5Criterion}
FLAG_FIELDS = {f.value: f"flag_{f.value}" for f in rules.Flag}
CSSRS_QUESTIONS = ("wish_dead", "suicidal_thoughts", "method", "intent", "plan")
# Answers of §2 stored one-to-one in a column of the same name; the lists, the C-SSRS object and
# phq9_item9 (the column phq9_9) have their own columns.
ANSWER_SCALAR_FIELDS = tuple(
    name for name in questionnaire.FIELD_NAMES if name not in ("substances", "dsm5_criteria", "cssrs", "phq9_item9")
)
ITEM_GROUPS = {
    "phq9": instruments.PHQ9_ITEMS,
    "gad7": instruments.GAD7_ITEMS,
    "ciwa_ar": instruments.CIWA_AR_ITEMS,
    "cows": instruments.COWS_ITEMS,
}


class Screening(models.Model):
    Status = ScreeningStatus
    MentalHealth = ScreeningMentalHealth
    Readiness = ScreeningReadiness
    CssrsBehavior = ScreeningCssrsBehavior
    Decision = ScreeningDecision
    OverrideReason = ScreeningOverrideReason

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

    # --- Answers (DESIGN.md §2); nullable because a draft may be partial.
    substance_alcohol = models.BooleanField("alcohol", default=False)
    substance_opioids = models.BooleanField("opioids", default=False)
    substance_sedatives = models.BooleanField("sedatives (benzodiazepines, barbiturates)", default=False)
    substance_stimulants = models.BooleanField("stimulants", default=False)
    substance_cannabis = models.BooleanField("cannabis", default=False)
    substance_other = models.BooleanField("other", default=False)
    pawss = score_field(instruments.PAWSS_MAX, "PAWSS total")
    withdrawal_seizure_or_dt_history = models.BooleanField(null=True, blank=True)
    daily_sedative_use = models.BooleanField(null=True, blank=True)
    complicated_withdrawal_now = models.BooleanField(null=True, blank=True)
    unstable_medical_condition = models.BooleanField(null=True, blank=True)
    pregnant = models.BooleanField(null=True, blank=True)
    dsm5_larger_amounts = models.BooleanField(default=False)
    dsm5_cut_down = models.BooleanField(default=False)
    dsm5_time_spent = models.BooleanField(default=False)
    dsm5_craving = models.BooleanField(default=False)
    dsm5_role_failure = models.BooleanField(default=False)
    dsm5_social_problems = models.BooleanField(default=False)
    dsm5_activities_given_up = models.BooleanField(default=False)
    dsm5_hazardous_use = models.BooleanField(default=False)
    dsm5_physical_psychological_harm = models.BooleanField(default=False)
    dsm5_tolerance = models.BooleanField(default=False)
    dsm5_withdrawal = models.BooleanField(default=False)
    mental_health_condition = models.CharField(max_length=16, choices=MentalHealth.choices, blank=True, default="")
    psychotic_symptoms = models.BooleanField(null=True, blank=True)
    cssrs_wish_dead = models.BooleanField(null=True, blank=True)
    cssrs_suicidal_thoughts = models.BooleanField(null=True, blank=True)
    cssrs_method = models.BooleanField(null=True, blank=True)
    cssrs_intent = models.BooleanField(null=True, blank=True)
    cssrs_plan = models.BooleanField(null=True, blank=True)
    cssrs_behavior = models.CharField(max_length=16, choices=CssrsBehavior.choices, blank=True, default="")
    homicidal_ideation = models.BooleanField(null=True, blank=True)
    readiness = models.CharField(max_length=20, choices=Readiness.choices, blank=True, default="")
    relapse_after_outpatient_12mo = models.BooleanField(null=True, blank=True)
    recent_higher_level_care = models.BooleanField(null=True, blank=True)
    lives_with_substance_users = models.BooleanField(null=True, blank=True)
    home_safe = models.BooleanField(null=True, blank=True)
    stable_housing = models.BooleanField(null=True, blank=True)
    supportive_network = models.BooleanField(null=True, blank=True)
    work_or_school_commitments = models.BooleanField(null=True, blank=True)
    family_commitments = models.BooleanField(null=True, blank=True)
    can_attend_9h_week = models.BooleanField(null=True, blank=True)

    # Item-level answers (PHQ-9, GAD-7, CIWA-Ar, COWS) and their computed totals.
    for _item in instruments.PHQ9_ITEMS + instruments.GAD7_ITEMS + instruments.CIWA_AR_ITEMS + instruments.COWS_ITEMS:
        locals()[_item.key] = score_field(_item.max_score, _item.label)
    del _item
    phq9_total = score_field(instruments.PHQ9_MAX, "PHQ-9 total")
    gad7_total = score_field(instruments.GAD7_MAX, "GAD-7 total")
    ciwa_ar = score_field(instruments.CIWA_AR_MAX, "CIWA-Ar total")
    cows = score_field(instruments.COWS_MAX, "COWS total")

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
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    # --- Signature.
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)

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
                    "created_at",
                    "id",
                    "recommended_level",
                    "final_level",
                    "decision",
                    "override_reason",
                    "clinician",
                    "signed_at",
                    "rules_version",
                    *FLAG_FIELDS.values(),
                ],
                condition=~Q(status="draft"),
                name="screening_review_idx",
            ),
        ]
        constraints = [
            _choice_check("status", ScreeningStatus, "status_valid"),
            models.CheckConstraint(
                condition=Q(mental_health_condition="") | Q(mental_health_condition__in=ScreeningMentalHealth.values),
                name="%(app_label)s_%(class)s_mental_health_valid",
            ),
            models.CheckConstraint(
                condition=Q(readiness="") | Q(readiness__in=ScreeningReadiness.values),
                name="%(app_label)s_%(class)s_readiness_valid",
            ),
            models.CheckConstraint(
                condition=Q(cssrs_behavior="") | Q(cssrs_behavior__in=ScreeningCssrsBehavior.values),
                name="%(app_label)s_%(class)s_cssrs_behavior_valid",
            ),
            models.CheckConstraint(
                condition=Q(recommended_level="") | Q(recommended_level__in=Level.values),
                name="%(app_label)s_%(class)s_recommended_level_valid",
            ),
            models.CheckConstraint(
                condition=Q(final_level="") | Q(final_level__in=Level.values),
                name="%(app_label)s_%(class)s_final_level_valid",
            ),
            models.CheckConstraint(
                condition=Q(decision="") | Q(decision__in=ScreeningDecision.values),
                name="%(app_label)s_%(class)s_decision_valid",
            ),
            models.CheckConstraint(
                condition=Q(override_reason="") | Q(override_reason__in=ScreeningOverrideReason.values),
                name="%(app_label)s_%(class)s_override_reason_valid",
            ),
            *[
                _range_check(item.key, item.max_score)
                for item in instruments.PHQ9_ITEMS
                + instruments.GAD7_ITEMS
                + instruments.CIWA_AR_ITEMS
                + instruments.COWS_ITEMS
            ],
            _range_check("phq9_total", instruments.PHQ9_MAX),
            _range_check("gad7_total", instruments.GAD7_MAX),
            _range_check("ciwa_ar", instruments.CIWA_AR_MAX),
            _range_check("cows", instruments.COWS_MAX),
            _range_check("pawss", instruments.PAWSS_MAX),
            _paired_check("signed_by", "signed_at", "signature_paired"),
            _paired_check("decided_by", "decided_at", "decision_paired"),
            # A recommendation is stored whole: level, version, output and answers together.
            models.CheckConstraint(
                condition=(
                    Q(
                        recommended_level="",
                        rules_version="",
                        recommendation__isnull=True,
                        answers_snapshot__isnull=True,
                    )
                    | (
                        ~Q(recommended_level="")
                        & ~Q(rules_version="")
                        & Q(recommendation__isnull=False, answers_snapshot__isnull=False)
                    )
                ),
                name="%(app_label)s_%(class)s_recommendation_whole",
                violation_error_message="A recommendation needs its level, rules version, output and answers.",
            ),
            # Drafts carry no recommendation; completed and signed screenings always do.
            models.CheckConstraint(
                condition=Q(status="draft", recommended_level="") | (~Q(status="draft") & ~Q(recommended_level="")),
                name="%(app_label)s_%(class)s_status_recommendation",
            ),
            # A decision is the final level plus accepted/overridden, set together.
            models.CheckConstraint(
                condition=Q(final_level="", decision="", decided_at__isnull=True)
                | (~Q(final_level="") & ~Q(decision="") & Q(decided_at__isnull=False)),
                name="%(app_label)s_%(class)s_decision_whole",
            ),
            # An override carries a reason code and text; an acceptance carries neither.
            models.CheckConstraint(
                condition=Q(decision="overridden", override_text__gt="") & ~Q(override_reason="")
                | (~Q(decision="overridden") & Q(override_reason="", override_text="")),
                name="%(app_label)s_%(class)s_override_reason_paired",
                violation_error_message="An override needs a reason code and text.",
            ),
            # Signed exactly when the status says so, and only after a decision.
            models.CheckConstraint(
                condition=Q(status="signed", signed_at__isnull=False, decided_at__isnull=False)
                | (~Q(status="signed") & Q(signed_at__isnull=True)),
                name="%(app_label)s_%(class)s_signed_status",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True, status="draft")
                | (Q(completed_at__isnull=False) & ~Q(status="draft")),
                name="%(app_label)s_%(class)s_completed_at_status",
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
    def substances(self) -> list[str]:
        return [code for code, name in SUBSTANCE_FIELDS.items() if getattr(self, name)]

    @property
    def dsm5_criteria(self) -> list[str]:
        return [code for code, name in DSM5_FIELDS.items() if getattr(self, name)]

    @property
    def flags(self) -> list[str]:
        return [code for code, name in FLAG_FIELDS.items() if getattr(self, name)]

    def item_answers(self, group: str) -> list[int | None]:
        return [getattr(self, item.key) for item in ITEM_GROUPS[group]]

    def answers_dict(self) -> dict:
        """The stored answers in the raw shape of DESIGN.md §2, for questionnaire.parse."""
        raw = {name: getattr(self, name) for name in ANSWER_SCALAR_FIELDS}
        raw["phq9_item9"] = self.phq9_9  # PHQ-9 item 9 is its own column
        for name in ("mental_health_condition", "readiness"):
            raw[name] = raw[name] or None
        raw["substances"] = self.substances
        raw["dsm5_criteria"] = self.dsm5_criteria
        raw["cssrs"] = {q: getattr(self, f"cssrs_{q}") for q in CSSRS_QUESTIONS}
        raw["cssrs"]["behavior"] = self.cssrs_behavior or None
        return raw

    def assign_answers(self, raw: dict, items: dict[str, list[int] | None] | None = None) -> None:
        """Set the answer columns from a §2 mapping (and optional item-level answers); no save."""
        for name in ANSWER_SCALAR_FIELDS:
            value = raw.get(name)
            if name in ("mental_health_condition", "readiness"):
                value = value or ""
            setattr(self, name, value)
        self.phq9_9 = raw.get("phq9_item9")
        for code, name in SUBSTANCE_FIELDS.items():
            setattr(self, name, code in raw.get("substances", ()))
        for code, name in DSM5_FIELDS.items():
            setattr(self, name, code in raw.get("dsm5_criteria", ()))
        cssrs = raw.get("cssrs") or {}
        for q in CSSRS_QUESTIONS:
            setattr(self, f"cssrs_{q}", cssrs.get(q))
        self.cssrs_behavior = cssrs.get("behavior") or ""
        for group, values in (items or {}).items():
            for item, value in zip(ITEM_GROUPS[group], values or [None] * len(ITEM_GROUPS[group]), strict=True):
                setattr(self, item.key, value)

    def assign_recommendation(self, result: rules.Recommendation, answers_snapshot: dict) -> None:
        """Store a rules outcome with the exact answers it came from; no save."""
        self.recommended_level = result.level.value
        self.rules_version = result.rules_version
        out = result.to_dict()
        self.recommendation = {k: out[k] for k in ("flags", "pathway", "reasons", "bands")}
        self.answers_snapshot = answers_snapshot
        for code, name in FLAG_FIELDS.items():
            setattr(self, name, code in out["flags"])


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

    def delete(self):
        raise AppendOnlyError("The audit log is append-only.")


class AuditEvent(models.Model):
    """One entry of the append-only audit log. Written only by `screening.audit.record`."""

    Action = AuditAction

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=40, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

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
    """One export of screening records (issue 5): who ran it, and the audit event written when it finished.

    The audit event is the tamper-evident record; this row exists so that the clients an export
    contained can be listed (accounting of disclosures), even for an export that was cut short.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    started_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True, default="")
    format = models.CharField(max_length=8)
    deidentified = models.BooleanField()
    event = models.OneToOneField(AuditEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="export_run")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.public_id} ({self.format})"


class ExportDisclosure(models.Model):
    """A client whose records an export contained: one row per (export, client)."""

    # An export writes one row per client it contains (a million for a million screenings), so each row is
    # kept cheap: one index besides the primary key — the unique (client, export) pair, which answers "which
    # exports held this client" and lets an export's pages note a client once — and no foreign-key
    # constraint in the database. Their checks (a key-share lock on the client row and on the export row,
    # for every row written) made noting a million clients 2.5 times slower (bench/disclosure_bench.py).
    # Nothing is lost: rows are written only by the export's own statements, from client ids read from
    # screenings in that same statement, and clients and exports are never deleted (PROTECT everywhere).
    export = models.ForeignKey(
        ExportRun, on_delete=models.PROTECT, related_name="disclosures", db_index=False, db_constraint=False
    )
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="disclosures", db_index=False, db_constraint=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "export"], name="%(app_label)s_%(class)s_client_export"),
        ]

    def __str__(self) -> str:
        return f"{self.export_id} → {self.client_id}"
