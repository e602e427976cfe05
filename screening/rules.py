"""Level-of-care rules (DESIGN.md §4): validated answers in, a recommendation out, with the six-domain risk
summary of §10; and the override policy of §5. Pure: standard library and the sibling `instruments` only.

Every rule is one row of a table; a rule set version is data (a name and its thresholds), so a medical
director can issue a new version without editing an old one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import NamedTuple

from . import instruments
from .instruments import Cssrs

RULES_VERSION = "2026.11"


class Level(StrEnum):
    """Levels of care, in rising order of intensity."""

    IOP = "iop"
    RESIDENTIAL = "residential"
    INPATIENT = "inpatient"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


class Substance(StrEnum):
    ALCOHOL = "alcohol"
    OPIOIDS = "opioids"
    SEDATIVES = "sedatives"
    STIMULANTS = "stimulants"
    CANNABIS = "cannabis"
    OTHER = "other"


class MentalHealthCondition(StrEnum):
    NONE = "none"
    STABLE = "stable"
    UNSTABLE = "unstable"


class Readiness(StrEnum):
    PRECONTEMPLATION = "precontemplation"
    CONTEMPLATION = "contemplation"
    PREPARATION = "preparation"
    ACTION = "action"
    MAINTENANCE = "maintenance"


class Flag(StrEnum):
    EMERGENCY_REFERRAL = "emergency_referral"
    SAFETY_REVIEW = "safety_review"
    DETOX_FIRST = "detox_first"
    BELOW_IOP_THRESHOLD = "below_iop_threshold"
    NO_SUPPORT_NETWORK = "no_support_network"
    COMMITMENTS_CONFLICT = "commitments_conflict"
    ATTENDANCE_BARRIER = "attendance_barrier"


FLAG_TEXT: dict[str, str] = {
    Flag.EMERGENCY_REFERRAL: "Emergency referral: same-day crisis or emergency evaluation before anything else.",
    Flag.SAFETY_REVIEW: "Safety review: a same-day clinician risk assessment is needed.",
    Flag.DETOX_FIRST: "Detox first: medically supervised withdrawal comes before the next level of care.",
    Flag.BELOW_IOP_THRESHOLD: "Below IOP threshold: a less intensive outpatient service may suffice.",
    Flag.NO_SUPPORT_NETWORK: "No support network: building support is a first goal.",
    Flag.COMMITMENTS_CONFLICT: "Commitments conflict: work, school or family commitments reported; discuss with the person.",
    Flag.ATTENDANCE_BARRIER: "Attendance barrier: the person cannot yet attend 9 hours of sessions a week.",
}

# Flags by urgency (DESIGN.md §5, issue 14): the safety flags lead — an emergency first, then withdrawal that
# needs supervision, then the same-day risk assessment — and the planning flags follow.
FLAG_ORDER: tuple[Flag, ...] = (
    Flag.EMERGENCY_REFERRAL,
    Flag.DETOX_FIRST,
    Flag.SAFETY_REVIEW,
    Flag.BELOW_IOP_THRESHOLD,
    Flag.NO_SUPPORT_NETWORK,
    Flag.COMMITMENTS_CONFLICT,
    Flag.ATTENDANCE_BARRIER,
)
SAFETY_FLAGS: frozenset[Flag] = frozenset(FLAG_ORDER[:3])
# A flag's name for people, as the start of its FLAG_TEXT says it ("Below IOP threshold").
FLAG_LABELS: MappingProxyType[str, str] = MappingProxyType({f: FLAG_TEXT[f].split(":", 1)[0] for f in Flag})


class Step(StrEnum):
    MEDICALLY_SUPERVISED_DETOX = "medically_supervised_detox"
    INPATIENT = "inpatient"
    RESIDENTIAL = "residential"
    IOP = "iop"


@dataclass(frozen=True, slots=True)
class Answers:
    """One complete, validated answer set of DESIGN.md §2 (built by questionnaire.parse)."""

    substances: tuple[Substance, ...]
    ciwa_ar: int | None
    cows: int | None
    pawss: int | None
    withdrawal_seizure_or_dt_history: bool
    daily_sedative_use: bool
    complicated_withdrawal_now: bool
    unstable_medical_condition: bool
    pregnant: bool
    dsm5_criteria: tuple[str, ...]
    phq9_total: int
    phq9_item9: int
    gad7_total: int
    mental_health_condition: MentalHealthCondition
    psychotic_symptoms: bool
    cssrs: Cssrs
    homicidal_ideation: bool
    readiness: Readiness
    relapse_after_outpatient_12mo: bool
    recent_higher_level_care: bool
    lives_with_substance_users: bool
    home_safe: bool
    stable_housing: bool
    supportive_network: bool
    work_or_school_commitments: bool
    family_commitments: bool
    can_attend_9h_week: bool


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The cut-offs of a rule set version. No defaults: every registered version states each one."""

    ciwa_ar_detox: int  # ASAM 2020 alcohol withdrawal guideline: moderate (10-18) or worse
    cows_detox: int  # Wesson & Ling 2003: moderate opioid withdrawal (13-24) or worse
    pawss_detox: int  # Maldonado 2014: PAWSS >= 4 is high risk of complicated withdrawal
    dsm5_severe: int  # APA DSM-5 2013: 6 or more criteria is severe SUD
    dsm5_moderate: int  # APA DSM-5 2013: 4-5 criteria is moderate SUD
    dsm5_mild: int  # APA DSM-5 2013: 2 criteria is the diagnostic threshold (mild SUD); fewer is below IOP
    phq9_severe: int  # Kroenke 2001: 20-27 is severe depression
    gad7_severe: int  # Spitzer 2006: 15-21 is severe anxiety
    # PHQ-9 instructions (Kroenke, Spitzer & Williams 2001): any positive item 9 answer needs a risk assessment.
    phq9_item9_safety_review: int


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A registered rule set version: its thresholds, and what it decides in plain words (shown to admins where a
    version is chosen, e.g. the what-if replay; policy text, so it lives here beside the thresholds)."""

    version: str
    thresholds: Thresholds
    description: str


# Each version is written out in full, never derived from another: a new threshold must be
# stated by every version, and reading one entry tells the whole policy of that version.
RULE_SETS: MappingProxyType[str, RuleSet] = MappingProxyType(
    {
        "2026.11": RuleSet(
            "2026.11",
            Thresholds(
                ciwa_ar_detox=10,
                cows_detox=13,
                pawss_detox=4,
                dsm5_severe=6,
                dsm5_moderate=4,
                dsm5_mild=2,
                phq9_severe=20,
                gad7_severe=15,
                phq9_item9_safety_review=1,
            ),
            "The program's rules since November 2026, with these thresholds: inpatient detox from moderate "
            "withdrawal (CIWA-Ar 10 or more for alcohol, COWS 13 or more for opioids) or a high risk of complicated "
            "alcohol withdrawal (PAWSS 4 or more); inpatient care for severe use (6 or more DSM-5 criteria), severe "
            "depression (PHQ-9 20 or more) or severe anxiety (GAD-7 15 or more).",
        ),
        "2027.01": RuleSet(
            "2027.01",
            Thresholds(
                # ASAM 2020 "severe" alcohol withdrawal band (CIWA-Ar 19-67) as the inpatient detox line;
                # moderate withdrawal (10-18) is left to ambulatory management. Proposed, for what-if replay.
                ciwa_ar_detox=19,
                cows_detox=13,
                pawss_detox=4,
                dsm5_severe=6,
                dsm5_moderate=4,
                dsm5_mild=2,
                phq9_severe=20,
                gad7_severe=15,
                phq9_item9_safety_review=1,
            ),
            "Proposal for January 2027: the same rules, except that alcohol withdrawal calls for inpatient detox "
            "only when it is severe (CIWA-Ar 19 or more); moderate alcohol withdrawal (10 to 18) no longer does by "
            "itself, and is managed in outpatient care unless another rule holds.",
        ),
    }
)


class _Facts(NamedTuple):
    """Values several rules share, computed once per evaluation (a named tuple: built in C, for the replay's hot
    loop; immutable like the dataclasses, and never compared: `Recommendation` leaves it out of its equality)."""

    alcohol: bool
    opioids: bool
    sedatives: bool
    dsm5_count: int
    cssrs_risk: str
    commitments: bool


Predicate = Callable[[Answers, _Facts, Thresholds], bool]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    level: Level
    predicate: Predicate = field(repr=False)
    threshold: str  # the condition, in words, with {placeholders} for Thresholds fields
    text: str  # the clinician-facing sentence, same placeholders
    source: str
    flag: Flag | None = None

    @property
    def is_detox(self) -> bool:
        return self.code.startswith("DETOX_")


_I, _R = Level.INPATIENT, Level.RESIDENTIAL

RULES: tuple[Rule, ...] = (
    Rule(
        "EMERGENCY_SUICIDE_RISK",
        _I,
        lambda a, f, t: f.cssrs_risk == "high",
        "C-SSRS high risk: Q4 (intent) or Q5 (plan) yes, or suicidal behaviour in the past 3 months",
        "C-SSRS screen shows high suicide risk (intent, plan, or recent suicidal behaviour): "
        "same-day emergency evaluation is needed.",
        "C-SSRS screener triage, Columbia Lighthouse Project",
        Flag.EMERGENCY_REFERRAL,
    ),
    Rule(
        "EMERGENCY_HOMICIDE_RISK",
        _I,
        lambda a, f, t: a.homicidal_ideation,
        "homicidal_ideation is yes",
        "Reports thoughts of harming others with intent or a plan: same-day emergency evaluation is needed.",
        "Program clinical policy (DESIGN.md §4)",
        Flag.EMERGENCY_REFERRAL,
    ),
    Rule(
        "DETOX_COMPLICATED",
        _I,
        lambda a, f, t: a.complicated_withdrawal_now,
        "complicated_withdrawal_now is yes (seizure, delirium or new hallucinations)",
        "Complicated withdrawal now (seizure, delirium or new hallucinations): "
        "emergency medical care and supervised detox are needed.",
        "ASAM Clinical Practice Guideline on Alcohol Withdrawal Management (2020)",
        Flag.EMERGENCY_REFERRAL,
    ),
    Rule(
        "DETOX_ALCOHOL",
        _I,
        lambda a, f, t: a.ciwa_ar is not None and a.ciwa_ar >= t.ciwa_ar_detox,
        "CIWA-Ar >= {ciwa_ar_detox}",
        "CIWA-Ar of {ciwa_ar_detox} or more shows alcohol withdrawal that needs medically supervised detox.",
        "ASAM Clinical Practice Guideline on Alcohol Withdrawal Management (2020)",
    ),
    Rule(
        "DETOX_OPIOID",
        _I,
        lambda a, f, t: a.cows is not None and a.cows >= t.cows_detox,
        "COWS >= {cows_detox}",
        "COWS of {cows_detox} or more shows moderate or worse opioid withdrawal that needs medically supervised detox.",
        "Wesson & Ling (2003), The Clinical Opiate Withdrawal Scale",
    ),
    Rule(
        "DETOX_HIGH_RISK_HISTORY",
        _I,
        lambda a, f, t: a.withdrawal_seizure_or_dt_history and (f.alcohol or f.sedatives),
        "withdrawal_seizure_or_dt_history is yes, and alcohol or sedatives are listed",
        "History of withdrawal seizures or delirium tremens with current alcohol or sedative use: "
        "withdrawal must be medically supervised.",
        "ASAM Clinical Practice Guideline on Alcohol Withdrawal Management (2020)",
    ),
    Rule(
        "DETOX_PAWSS",
        _I,
        lambda a, f, t: a.pawss is not None and a.pawss >= t.pawss_detox,
        "PAWSS >= {pawss_detox}",
        "PAWSS of {pawss_detox} or more shows high risk of complicated alcohol withdrawal.",
        "Maldonado et al. (2014), Prediction of Alcohol Withdrawal Severity Scale",
    ),
    Rule(
        "DETOX_SEDATIVES",
        _I,
        lambda a, f, t: a.daily_sedative_use,
        "daily_sedative_use is yes",
        "Daily benzodiazepine or barbiturate use: stopping without medical supervision risks seizures.",
        "ASAM National Practice Guideline for Benzodiazepine Tapering (2025)",
    ),
    Rule(
        "DETOX_PREGNANCY",
        _I,
        lambda a, f, t: a.pregnant and (f.alcohol or f.opioids or f.sedatives),
        "pregnant is yes, and alcohol, opioids or sedatives are listed",
        "Pregnant with alcohol, opioid or sedative use: withdrawal needs medical supervision for both patients.",
        "Program clinical policy (DESIGN.md §4)",
    ),
    Rule(
        "MEDICAL_UNSTABLE",
        _I,
        lambda a, f, t: a.unstable_medical_condition,
        "unstable_medical_condition is yes",
        "A medical condition needs 24-hour medical or nursing monitoring.",
        "Program clinical policy (DESIGN.md §4)",
    ),
    Rule(
        "SEVERE_SUD",
        _I,
        lambda a, f, t: f.dsm5_count >= t.dsm5_severe,
        "DSM-5 criteria met >= {dsm5_severe}",
        "{dsm5_severe} or more DSM-5 criteria met: severe substance use disorder.",
        "APA, DSM-5 (2013)",
    ),
    Rule(
        "DEPRESSION_SEVERE",
        _I,
        lambda a, f, t: a.phq9_total >= t.phq9_severe,
        "PHQ-9 >= {phq9_severe}",
        "PHQ-9 of {phq9_severe} or more: severe depression needs 24-hour psychiatric care alongside treatment.",
        "Kroenke, Spitzer & Williams (2001), PHQ-9",
    ),
    Rule(
        "ANXIETY_SEVERE",
        _I,
        lambda a, f, t: a.gad7_total >= t.gad7_severe,
        "GAD-7 >= {gad7_severe}",
        "GAD-7 of {gad7_severe} or more: severe anxiety needs 24-hour psychiatric care alongside treatment.",
        "Spitzer et al. (2006), GAD-7",
    ),
    Rule(
        "PSYCHOSIS",
        _I,
        lambda a, f, t: a.psychotic_symptoms,
        "psychotic_symptoms is yes",
        "Current psychotic or manic symptoms need 24-hour psychiatric supervision.",
        "Program clinical policy (DESIGN.md §4)",
    ),
    Rule(
        "MENTAL_HEALTH_UNSTABLE",
        _I,
        lambda a, f, t: a.mental_health_condition == MentalHealthCondition.UNSTABLE,
        "mental_health_condition is unstable",
        "A diagnosed mental-health condition is not currently stable with treatment.",
        "Program clinical policy (DESIGN.md §4)",
    ),
    Rule(
        "HOME_SUBSTANCE_USE",
        _R,
        lambda a, f, t: a.lives_with_substance_users,
        "lives_with_substance_users is yes",
        "Lives with someone who drinks heavily or uses drugs: residential care removes daily triggers.",
        "Program clinical policy (DESIGN.md §1)",
    ),
    Rule(
        "HOME_UNSAFE",
        _R,
        lambda a, f, t: not a.home_safe,
        "home_safe is no",
        "Home is not free of violence, abuse or threats.",
        "Program clinical policy (DESIGN.md §1)",
    ),
    Rule(
        "HOUSING_UNSTABLE",
        _R,
        lambda a, f, t: not a.stable_housing,
        "stable_housing is no",
        "No stable housing to return to between sessions.",
        "Program clinical policy (DESIGN.md §1)",
    ),
    Rule(
        "NO_SUPPORT_MODERATE_SUD",
        _R,
        lambda a, f, t: not a.supportive_network and f.dsm5_count >= t.dsm5_moderate,
        "supportive_network is no, and DSM-5 criteria met >= {dsm5_moderate}",
        "No supportive network, with moderate or severe substance use disorder ({dsm5_moderate} or more criteria).",
        "Program clinical policy (DESIGN.md §1); APA, DSM-5 (2013)",
    ),
    Rule(
        "RELAPSE_AFTER_OUTPATIENT",
        _R,
        lambda a, f, t: a.relapse_after_outpatient_12mo and f.dsm5_count >= t.dsm5_moderate,
        "relapse_after_outpatient_12mo is yes, and DSM-5 criteria met >= {dsm5_moderate}",
        "Returned to use after outpatient or IOP treatment in the last 12 months, "
        "with moderate or severe substance use disorder.",
        "Program clinical policy (DESIGN.md §4)",
    ),
)


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    level: Level
    text: str


# Given at IOP in this order: the first three always, the others when their answer holds (see `evaluate`).
IOP_REASONS: tuple[Reason, ...] = (
    Reason("IOP_NO_DETOX", Level.IOP, "No need for medically supervised detox."),
    Reason(
        "IOP_SEVERITY_MANAGEABLE", Level.IOP, "Severity and mental health can be managed in intensive outpatient care."
    ),
    Reason("IOP_SAFE_HOME", Level.IOP, "Safe, stable home without people who drink or use drugs."),
    Reason("IOP_SUPPORTIVE_NETWORK", Level.IOP, "Family or friends support recovery."),
    Reason("IOP_COMMITMENTS", Level.IOP, "Work, school or family commitments make part-time care the better fit."),
    Reason("IOP_STEP_DOWN", Level.IOP, "Step-down after detox, inpatient or residential care in the last 30 days."),
)
_IOP_ALWAYS = IOP_REASONS[:3]
_IOP_NETWORK, _IOP_COMMITMENTS, _IOP_STEP_DOWN = IOP_REASONS[3:]

# The program's goals for an IOP outcome (DESIGN.md §1), shown on the recommendation page.
IOP_GOALS: tuple[str, ...] = ("Establish support mechanisms", "Help with relapse management", "Build coping strategies")


def iop_program_applies(recommended: str, final: str = "") -> bool:
    """Whether the IOP goals and specialty groups (DESIGN.md §1) belong on a screening: IOP recommended or chosen."""
    return Level.IOP in (recommended, final)


def specialty_groups_kept(final: str) -> bool:
    """Specialty groups are offered alongside IOP: they are kept only when IOP is the level decided."""
    return final == Level.IOP


@dataclass(frozen=True, slots=True)
class Bands:
    phq9: str
    gad7: str
    ciwa_ar: str | None
    cows: str | None
    pawss: str | None
    dsm5: str
    cssrs: str


# Six-domain risk summary (DESIGN.md §10). It explains the recommendation and never changes it:
# `evaluate` decides level, flags and pathway first, then rates each domain from the rules that
# held and from the signals below.


class Domain(StrEnum):
    """The six domains of the risk summary, in the order they are shown."""

    WITHDRAWAL = "withdrawal"
    PHYSICAL = "physical"
    MENTAL = "mental"
    READINESS = "readiness"
    CONTINUED_USE = "continued_use"
    ENVIRONMENT = "environment"


class Rating(IntEnum):
    """A domain's risk rating; the JSON label is the lower-case name."""

    NONE = 0
    LOW = 1
    MODERATE = 2
    HIGH = 3
    SEVERE = 4

    @property
    def label(self) -> str:
        return self.name.lower()


RATING_LABELS: tuple[str, ...] = tuple(r.label for r in Rating)  # indexed by rating


@dataclass(frozen=True, slots=True)
class DomainRow:
    """One row of the domain table: the answers a domain draws on and the rules that belong to it."""

    domain: Domain
    title: str
    answers: tuple[str, ...]
    rules: tuple[str, ...]  # rule codes, in the order evidence lists them


DOMAINS: tuple[DomainRow, ...] = (
    DomainRow(
        Domain.WITHDRAWAL,
        "Withdrawal and intoxication",
        (
            "substances",
            "ciwa_ar",
            "cows",
            "pawss",
            "withdrawal_seizure_or_dt_history",
            "daily_sedative_use",
            "complicated_withdrawal_now",
        ),
        (
            "DETOX_COMPLICATED",
            "DETOX_ALCOHOL",
            "DETOX_OPIOID",
            "DETOX_HIGH_RISK_HISTORY",
            "DETOX_PAWSS",
            "DETOX_SEDATIVES",
        ),
    ),
    DomainRow(
        Domain.PHYSICAL,
        "Physical health",
        ("unstable_medical_condition", "pregnant"),
        # DETOX_PREGNANCY is a physical-health risk only: it says nothing about withdrawal severity.
        ("MEDICAL_UNSTABLE", "DETOX_PREGNANCY"),
    ),
    DomainRow(
        Domain.MENTAL,
        "Mental health and safety",
        (
            "phq9_total",
            "phq9_item9",
            "gad7_total",
            "mental_health_condition",
            "psychotic_symptoms",
            "cssrs",
            "homicidal_ideation",
        ),
        (
            "EMERGENCY_SUICIDE_RISK",
            "EMERGENCY_HOMICIDE_RISK",
            "DEPRESSION_SEVERE",
            "ANXIETY_SEVERE",
            "PSYCHOSIS",
            "MENTAL_HEALTH_UNSTABLE",
        ),
    ),
    DomainRow(Domain.READINESS, "Readiness for change", ("readiness",), ()),
    DomainRow(
        Domain.CONTINUED_USE,
        "Risk of continued use",
        ("dsm5_criteria", "relapse_after_outpatient_12mo", "recent_higher_level_care"),
        ("SEVERE_SUD", "RELAPSE_AFTER_OUTPATIENT"),
    ),
    DomainRow(
        Domain.ENVIRONMENT,
        "Recovery environment",
        (
            "lives_with_substance_users",
            "home_safe",
            "stable_housing",
            "supportive_network",
            "work_or_school_commitments",
            "family_commitments",
            "can_attend_9h_week",
        ),
        ("HOME_SUBSTANCE_USE", "HOME_UNSAFE", "HOUSING_UNSTABLE", "NO_SUPPORT_MODERATE_SUD"),
    ),
)


def rule_rating(rule: Rule) -> Rating:
    """The rating a rule gives its domain when it holds: severe if it raises an emergency referral."""
    if rule.flag is Flag.EMERGENCY_REFERRAL:
        return Rating.SEVERE
    return Rating.HIGH if rule.level is Level.INPATIENT else Rating.MODERATE


SignalPredicate = Callable[[Answers, _Facts, Bands, Thresholds], bool]


def answer_is(name: str, value: object) -> SignalPredicate:
    """The condition that answer `name` (DESIGN.md §2) is `value`."""
    return lambda a, f, b, t: getattr(a, name) == value


def band_is(name: str, label: str) -> SignalPredicate:
    """The condition that the §3 band `name` is `label`."""
    return lambda a, f, b, t: getattr(b, name) == label


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal of DESIGN.md §10: an answer or band that rates its domain at least `rating`."""

    domain: Domain
    rating: Rating
    predicate: SignalPredicate = field(repr=False)
    text: str  # the evidence shown to the clinician, with {placeholders} for Thresholds fields


_MOD, _LOW = Rating.MODERATE, Rating.LOW

# In table order: a domain's moderate signals, then its low signals. They read the answers and
# the §3 bands whatever the level and the flags.
SIGNALS: tuple[Signal, ...] = (
    Signal(Domain.WITHDRAWAL, _MOD, band_is("cows", "mild"), "COWS band mild"),
    Signal(
        Domain.WITHDRAWAL,
        _LOW,
        lambda a, f, b, t: f.alcohol or f.opioids or f.sedatives,
        "Alcohol, opioids or sedatives listed",
    ),
    Signal(
        Domain.WITHDRAWAL,
        _LOW,
        answer_is("withdrawal_seizure_or_dt_history", True),
        "History of withdrawal seizure or delirium tremens",
    ),
    Signal(Domain.PHYSICAL, _LOW, answer_is("pregnant", True), "Pregnant"),
    Signal(Domain.MENTAL, _MOD, band_is("phq9", "moderate"), "PHQ-9 band moderate"),
    Signal(Domain.MENTAL, _MOD, band_is("phq9", "moderately_severe"), "PHQ-9 band moderately severe"),
    Signal(Domain.MENTAL, _MOD, band_is("gad7", "moderate"), "GAD-7 band moderate"),
    Signal(
        Domain.MENTAL,
        _MOD,
        lambda a, f, b, t: a.phq9_item9 >= t.phq9_item9_safety_review,
        "PHQ-9 item 9 (thoughts of death or self-harm) {phq9_item9_safety_review} or more",
    ),
    Signal(Domain.MENTAL, _MOD, band_is("cssrs", "low"), "C-SSRS band low"),
    Signal(Domain.MENTAL, _MOD, band_is("cssrs", "moderate"), "C-SSRS band moderate"),
    Signal(Domain.MENTAL, _LOW, band_is("phq9", "mild"), "PHQ-9 band mild"),
    Signal(Domain.MENTAL, _LOW, band_is("gad7", "mild"), "GAD-7 band mild"),
    Signal(
        Domain.MENTAL,
        _LOW,
        answer_is("mental_health_condition", MentalHealthCondition.STABLE),
        "Mental-health condition, stable with treatment",
    ),
    Signal(
        Domain.READINESS, _MOD, answer_is("readiness", Readiness.PRECONTEMPLATION), "Stage of change: precontemplation"
    ),
    Signal(Domain.READINESS, _LOW, answer_is("readiness", Readiness.CONTEMPLATION), "Stage of change: contemplation"),
    Signal(Domain.CONTINUED_USE, _MOD, band_is("dsm5", "moderate"), "DSM-5 band moderate"),
    Signal(Domain.CONTINUED_USE, _LOW, band_is("dsm5", "mild"), "DSM-5 band mild"),
    Signal(
        Domain.CONTINUED_USE,
        _LOW,
        answer_is("recent_higher_level_care", True),
        "Detox, inpatient or residential care in the last 30 days",
    ),
    Signal(Domain.ENVIRONMENT, _LOW, answer_is("supportive_network", False), "No supportive network"),
    Signal(Domain.ENVIRONMENT, _LOW, lambda a, f, b, t: f.commitments, "Work, school or family commitments"),
    Signal(Domain.ENVIRONMENT, _LOW, answer_is("can_attend_9h_week", False), "Cannot attend 9 hours a week"),
)


@dataclass(frozen=True, slots=True)
class DomainRating:
    """One domain's rating (0-4) and its evidence: rule codes, then signal texts, in table order."""

    domain: Domain
    rating: int
    evidence: tuple[str, ...]

    @property
    def label(self) -> str:
        return RATING_LABELS[self.rating]

    def to_dict(self) -> dict:
        """The JSON shape of one domain in DESIGN.md §10."""
        return {"rating": self.rating, "label": RATING_LABELS[self.rating], "evidence": list(self.evidence)}


@dataclass(frozen=True, slots=True)
class Recommendation:
    level: Level
    flags: tuple[Flag, ...]
    pathway: tuple[Step, ...]
    reasons: tuple[Reason, ...]
    rules_version: str
    bands: Bands
    # What the summary reads besides the above. It is worked out only when asked for, so a replay of a
    # million screenings that compares levels does not pay for it.
    answers: Answers = field(repr=False, compare=False)
    facts: _Facts = field(repr=False, compare=False)

    @property
    def domains(self) -> tuple[DomainRating, ...]:
        """The six-domain risk summary (DESIGN.md §10), one rating per Domain, in Domain order."""
        return summarize(self)

    def domain(self, domain: Domain | str) -> DomainRating:
        """The rating of one domain of the six-domain summary."""
        return self.domains[list(Domain).index(Domain(domain))]

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self, *, domains: bool = True) -> dict:
        """The JSON shape of DESIGN.md §4 'Output', with the `domains` of §10 unless told otherwise."""
        out = {
            "level": str(self.level),
            "flags": [str(f) for f in self.flags],
            "pathway": [str(s) for s in self.pathway],
            "reasons": [{"code": r.code, "level": str(r.level), "text": r.text} for r in self.reasons],
            "rules_version": self.rules_version,
            "bands": {name: getattr(self.bands, name) for name in Bands.__slots__},
        }
        if domains:
            out["domains"] = {str(d.domain): d.to_dict() for d in self.domains}
        return out


# Override policy (DESIGN.md §5): while one of these flags is raised, the clinician may not
# record a lower level than the recommendation. Each with the phrase messages use for it.
OVERRIDE_BLOCKER_TEXT: MappingProxyType[Flag, str] = MappingProxyType(
    {Flag.EMERGENCY_REFERRAL: "an emergency referral", Flag.DETOX_FIRST: "detox first"}
)
OVERRIDE_BLOCKING_FLAGS: tuple[Flag, ...] = tuple(OVERRIDE_BLOCKER_TEXT)


def override_blockers(recommended: Level, chosen: Level, flags: Iterable[str]) -> tuple[Flag, ...]:
    """The raised safety flags that forbid choosing `chosen` over `recommended`; empty if allowed."""
    if Level(chosen).rank >= Level(recommended).rank:
        return ()
    raised = set(flags)
    return tuple(flag for flag in OVERRIDE_BLOCKING_FLAGS if flag in raised)


# Per version, each rule as a flat tuple for the hot loop: (predicate, reason, is_inpatient, is_detox, flag).
_Compiled = tuple[tuple[Predicate, Reason, bool, bool, "Flag | None"], ...]


def _compile(rule_set: RuleSet) -> _Compiled:
    values = asdict(rule_set.thresholds)
    return tuple(
        (r.predicate, Reason(r.code, r.level, r.text.format(**values)), r.level is Level.INPATIENT, r.is_detox, r.flag)
        for r in RULES
    )


_COMPILED: dict[str, _Compiled] = {v: _compile(rs) for v, rs in RULE_SETS.items()}
_RULE_RATING: dict[str, Rating] = {r.code: rule_rating(r) for r in RULES}
# Per version and domain: its signals with their evidence text filled in, in table order.
_DOMAIN_SIGNALS: dict[str, dict[Domain, tuple[tuple[Signal, str], ...]]] = {
    version: {d: tuple((s, s.text.format(**asdict(rs.thresholds))) for s in SIGNALS if s.domain is d) for d in Domain}
    for version, rs in RULE_SETS.items()
}


def summarize(recommendation: Recommendation) -> tuple[DomainRating, ...]:
    """Rate each domain from the rules that held and the signals that hold: the highest rating wins."""
    a, f, b, version = recommendation.answers, recommendation.facts, recommendation.bands, recommendation.rules_version
    t = RULE_SETS[version].thresholds
    held_codes = {r.code for r in recommendation.reasons}
    ratings = []
    for row in DOMAINS:
        held = [(int(_RULE_RATING[code]), code) for code in row.rules if code in held_codes]
        signals = [(int(s.rating), text) for s, text in _DOMAIN_SIGNALS[version][row.domain] if s.predicate(a, f, b, t)]
        found = held + signals
        ratings.append(DomainRating(row.domain, max((r for r, _ in found), default=0), tuple(e for _, e in found)))
    return tuple(ratings)


def rule_texts(version: str = RULES_VERSION) -> list[tuple[Rule, str, str]]:
    """Each rule of a version with its threshold and clinician-facing text filled in."""
    values = asdict(RULE_SETS[version].thresholds)
    return [(r, r.threshold.format(**values), r.text.format(**values)) for r in RULES]


def signal_texts(version: str = RULES_VERSION) -> list[tuple[Signal, str]]:
    """Each domain signal of a version with its evidence text filled in."""
    values = asdict(RULE_SETS[version].thresholds)
    return [(s, s.text.format(**values)) for s in SIGNALS]


_ALCOHOL, _OPIOIDS, _SEDATIVES = Substance.ALCOHOL, Substance.OPIOIDS, Substance.SEDATIVES
_PHQ9 = instruments.PHQ9_BAND_BY_TOTAL
_GAD7 = instruments.GAD7_BAND_BY_TOTAL
_CIWA = instruments.CIWA_AR_BAND_BY_TOTAL
_COWS = instruments.COWS_BAND_BY_TOTAL
_PAWSS = instruments.PAWSS_BAND_BY_TOTAL
_DSM5 = instruments.DSM5_BAND_BY_COUNT


def _facts(answers: Answers) -> _Facts:
    subs = answers.substances
    return _Facts(
        _ALCOHOL in subs,
        _OPIOIDS in subs,
        _SEDATIVES in subs,
        len(answers.dsm5_criteria),
        instruments.cssrs_risk(answers.cssrs),
        answers.work_or_school_commitments or answers.family_commitments,
    )


# Per version, the predicates of the rules for inpatient care and of the others, in table order (for `level`).
_LEVEL_RULES: dict[str, tuple[tuple[Predicate, ...], tuple[Predicate, ...]]] = {
    version: (
        tuple(predicate for predicate, _, is_inpatient, _, _ in rows if is_inpatient),
        tuple(predicate for predicate, _, is_inpatient, _, _ in rows if not is_inpatient),
    )
    for version, rows in _COMPILED.items()
}


def level(answers: Answers, version: str = RULES_VERSION) -> Level:
    """The level `evaluate` recommends, alone (what a replay compares): inpatient once an inpatient rule holds,
    else residential once any other rule holds, else IOP."""
    try:
        inpatient_rules, other_rules = _LEVEL_RULES[version]
    except KeyError:
        raise ValueError(f"unknown rule set version {version!r}") from None
    t = RULE_SETS[version].thresholds
    facts = _facts(answers)
    for predicate in inpatient_rules:
        if predicate(answers, facts, t):
            return Level.INPATIENT
    for predicate in other_rules:
        if predicate(answers, facts, t):
            return Level.RESIDENTIAL
    return Level.IOP


def evaluate(answers: Answers, version: str = RULES_VERSION) -> Recommendation:
    """Recommend a level of care for one validated answer set under a rule set version."""
    try:
        compiled = _COMPILED[version]
    except KeyError:
        raise ValueError(f"unknown rule set version {version!r}") from None
    t = RULE_SETS[version].thresholds
    facts = _facts(answers)
    cssrs, dsm5_count, commitments = facts.cssrs_risk, facts.dsm5_count, facts.commitments

    reasons: list[Reason] = []
    flags: set[Flag] = set()
    inpatient = residential = detox = other_inpatient = False
    for predicate, reason, is_inpatient, is_detox, flag in compiled:
        if predicate(answers, facts, t):
            reasons.append(reason)
            if flag is not None:
                flags.add(flag)
            if not is_inpatient:
                residential = True
            elif is_detox:
                inpatient = detox = True
            else:
                inpatient = other_inpatient = True

    if Flag.EMERGENCY_REFERRAL not in flags and (
        answers.phq9_item9 >= t.phq9_item9_safety_review or cssrs == "low" or cssrs == "moderate"
    ):
        flags.add(Flag.SAFETY_REVIEW)
    if detox:
        flags.add(Flag.DETOX_FIRST)

    if inpatient:
        level = Level.INPATIENT
        step_down = Step.RESIDENTIAL if residential else Step.IOP
        if detox and other_inpatient:
            pathway: tuple[Step, ...] = (Step.MEDICALLY_SUPERVISED_DETOX, Step.INPATIENT, step_down)
        elif detox:
            pathway = (Step.MEDICALLY_SUPERVISED_DETOX, step_down)
        else:
            pathway = (Step.INPATIENT, step_down)
    elif residential:
        level = Level.RESIDENTIAL
        pathway = (Step.RESIDENTIAL,)
    else:
        level = Level.IOP
        pathway = (Step.IOP,)
        reasons.extend(_IOP_ALWAYS)
        if answers.supportive_network:
            reasons.append(_IOP_NETWORK)
        if commitments:
            reasons.append(_IOP_COMMITMENTS)
        if answers.recent_higher_level_care:
            reasons.append(_IOP_STEP_DOWN)
        if dsm5_count < t.dsm5_mild:
            flags.add(Flag.BELOW_IOP_THRESHOLD)
        if not answers.supportive_network:
            flags.add(Flag.NO_SUPPORT_NETWORK)
        if not answers.can_attend_9h_week:
            flags.add(Flag.ATTENDANCE_BARRIER)
    if level is not Level.IOP and commitments:
        flags.add(Flag.COMMITMENTS_CONFLICT)

    ciwa, cows, pawss = answers.ciwa_ar, answers.cows, answers.pawss
    bands = Bands(
        _PHQ9[answers.phq9_total],
        _GAD7[answers.gad7_total],
        None if ciwa is None else _CIWA[ciwa],
        None if cows is None else _COWS[cows],
        None if pawss is None else _PAWSS[pawss],
        _DSM5[dsm5_count],
        cssrs,
    )

    # The summary reads only what is decided above, when asked for: it cannot change the level.
    return Recommendation(level, tuple(sorted(flags)), pathway, tuple(reasons), version, bands, answers, facts)


# --- What raised each flag (DESIGN.md §5): the answers behind it, for the clinician to check before acting.


@dataclass(frozen=True, slots=True)
class FlagExplanation:
    """A raised flag, whether it is a safety flag, its sentence and the answers that raised it."""

    flag: Flag
    safety: bool
    label: str
    text: str
    causes: tuple[str, ...]

    @property
    def advice(self) -> str:
        """What the flag asks for: its text after the label ("a same-day clinician risk assessment is needed.")."""
        return self.text.removeprefix(f"{self.label}: ")


_COMPLICATED = "Seizure, delirium or new hallucinations in the current withdrawal = yes"

# The C-SSRS screener answers that can raise its risk, in question order: (what was answered, whether it
# raises the high risk of EMERGENCY_SUICIDE_RISK, the answer holds). The others make it low or moderate.
_CSSRS_CAUSES: tuple[tuple[str, bool, Callable[[Cssrs], bool]], ...] = (
    ("C-SSRS Q1 (wished to be dead) = yes", False, lambda c: c.wish_dead),
    ("C-SSRS Q2 (thoughts of killing oneself) = yes", False, lambda c: c.suicidal_thoughts),
    ("C-SSRS Q3 (thought about how) = yes", False, lambda c: c.method),
    ("C-SSRS Q4 (some intention of acting) = yes", True, lambda c: c.intent),
    ("C-SSRS Q5 (worked out a plan) = yes", True, lambda c: c.plan),
    (
        "C-SSRS Q6 (suicidal behaviour) = in the past 3 months",
        True,
        lambda c: c.behavior == instruments.CssrsBehavior.PAST_3_MONTHS,
    ),
    (
        "C-SSRS Q6 (suicidal behaviour) = over 3 months ago",
        False,
        lambda c: c.behavior == instruments.CssrsBehavior.OVER_3_MONTHS,
    ),
)


def _cssrs_causes(c: Cssrs, *, high: bool) -> tuple[str, ...]:
    """The C-SSRS answers that hold and make its risk high (`high`) or low or moderate (not `high`)."""
    return tuple(text for text, raises_high, holds in _CSSRS_CAUSES if raises_high is high and holds(c))


def _listed(f: _Facts, *names: str) -> str:
    return " and ".join(n for n in names if getattr(f, n)) + " listed"


# The answers behind each rule that raises a safety flag, as the clinician entered them.
_RULE_CAUSES: dict[str, Callable[[Answers, _Facts, Thresholds], tuple[str, ...]]] = {
    "EMERGENCY_SUICIDE_RISK": lambda a, f, t: _cssrs_causes(a.cssrs, high=True),
    "EMERGENCY_HOMICIDE_RISK": lambda a, f, t: ("Thoughts of harming others with intent or a plan = yes",),
    "DETOX_COMPLICATED": lambda a, f, t: (_COMPLICATED,),
    "DETOX_ALCOHOL": lambda a, f, t: (f"CIWA-Ar = {a.ciwa_ar} ({t.ciwa_ar_detox} or more)",),
    "DETOX_OPIOID": lambda a, f, t: (f"COWS = {a.cows} ({t.cows_detox} or more)",),
    "DETOX_HIGH_RISK_HISTORY": lambda a, f, t: (
        f"Withdrawal seizure or delirium tremens in the past = yes, with {_listed(f, 'alcohol', 'sedatives')}",
    ),
    "DETOX_PAWSS": lambda a, f, t: (f"PAWSS = {a.pawss} ({t.pawss_detox} or more)",),
    "DETOX_SEDATIVES": lambda a, f, t: ("Daily benzodiazepine or barbiturate use = yes",),
    "DETOX_PREGNANCY": lambda a, f, t: (
        f"Currently pregnant = yes, with {_listed(f, 'alcohol', 'opioids', 'sedatives')}",
    ),
}


def _safety_review_causes(a: Answers, f: _Facts, t: Thresholds) -> tuple[str, ...]:
    causes = []
    if a.phq9_item9 >= t.phq9_item9_safety_review:
        causes.append(f"PHQ-9 item 9 (thoughts of death or self-harm) = {a.phq9_item9}")
    causes.extend(_cssrs_causes(a.cssrs, high=False))  # no emergency, so the C-SSRS risk is not high
    return tuple(causes)


def _planning_causes(flag: Flag, a: Answers, f: _Facts, t: Thresholds) -> tuple[str, ...]:
    if flag is Flag.BELOW_IOP_THRESHOLD:
        n = f.dsm5_count
        return (f"{n} DSM-5 {'criterion' if n == 1 else 'criteria'} met (fewer than {t.dsm5_mild})",)
    if flag is Flag.NO_SUPPORT_NETWORK:
        return ("Has family or friends who support recovery = no",)
    if flag is Flag.COMMITMENTS_CONFLICT:
        return tuple(
            text
            for text, reported in (
                ("Work or school commitments = yes", a.work_or_school_commitments),
                ("Caregiving or other family duties = yes", a.family_commitments),
            )
            if reported
        )
    return ("Can attend at least 9 hours of sessions a week = no",)  # ATTENDANCE_BARRIER


def explain_flags(recommendation: Recommendation) -> tuple[FlagExplanation, ...]:
    """The raised flags in urgency order (FLAG_ORDER), each with the answers that raised it."""
    a, f = recommendation.answers, recommendation.facts
    t = RULE_SETS[recommendation.rules_version].thresholds
    by_code = {r.code: r for r in RULES}
    held = [by_code[r.code] for r in recommendation.reasons if r.code in by_code]
    raised = set(recommendation.flags)
    out = []
    for flag in FLAG_ORDER:
        if flag not in raised:
            continue
        if flag is Flag.EMERGENCY_REFERRAL:
            rows = [r for r in held if r.flag is Flag.EMERGENCY_REFERRAL]
        elif flag is Flag.DETOX_FIRST:
            rows = [r for r in held if r.is_detox]
        else:
            rows = []
        if rows:
            causes = tuple(c for r in rows for c in _RULE_CAUSES[r.code](a, f, t))
        elif flag is Flag.SAFETY_REVIEW:
            causes = _safety_review_causes(a, f, t)
        else:
            causes = _planning_causes(flag, a, f, t)
        out.append(FlagExplanation(flag, flag in SAFETY_FLAGS, FLAG_LABELS[flag], FLAG_TEXT[flag], causes))
    return tuple(out)
