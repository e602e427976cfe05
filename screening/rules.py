"""Level-of-care rules (DESIGN.md §4): validated answers in, a recommendation out.

Pure: standard library and the sibling pure module `instruments` only — no Django, no
clock, no I/O. Every rule is one row of a table; a rule set version is data (a name and its
thresholds), so a medical director can issue a new version without editing an old one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

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
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.IOP: 0, Level.RESIDENTIAL: 1, Level.INPATIENT: 2}


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
    """The cut-offs a rule set version uses. Defaults are version 2026.11."""

    ciwa_ar_detox: int = 10  # ASAM 2020 alcohol withdrawal guideline: moderate (10-18) or worse
    cows_detox: int = 13  # Wesson & Ling 2003: moderate opioid withdrawal (13-24) or worse
    pawss_detox: int = 4  # Maldonado 2014: PAWSS >= 4 is high risk of complicated withdrawal
    dsm5_severe: int = 6  # APA DSM-5 2013: 6 or more criteria is severe SUD
    dsm5_moderate: int = 4  # APA DSM-5 2013: 4-5 criteria is moderate SUD
    phq9_severe: int = 20  # Kroenke 2001: 20-27 is severe depression
    gad7_severe: int = 15  # Spitzer 2006: 15-21 is severe anxiety


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A registered rule set version: its thresholds and why it exists."""

    version: str
    thresholds: Thresholds
    description: str


RULE_SETS: MappingProxyType[str, RuleSet] = MappingProxyType(
    {
        "2026.11": RuleSet(
            "2026.11",
            Thresholds(),
            "Program policy of November 2026 (DESIGN.md §4).",
        ),
        "2027.01": RuleSet(
            "2027.01",
            # ASAM 2020 "severe" alcohol withdrawal band (CIWA-Ar 19-67) as the inpatient detox line;
            # moderate withdrawal (10-18) is left to ambulatory management. Proposed, for what-if replay.
            Thresholds(ciwa_ar_detox=19),
            "Proposal: inpatient alcohol detox only at the ASAM 2020 severe CIWA-Ar band (19 or more).",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class _Facts:
    """Values several rules share, computed once per evaluation."""

    alcohol: bool
    opioids: bool
    sedatives: bool
    dsm5_count: int
    cssrs_risk: str
    commitments: bool


Predicate = Callable[[Answers, _Facts, Thresholds], bool]


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the rule table."""

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
class IopReason:
    code: str
    text: str


IOP_REASONS: tuple[IopReason, ...] = (
    IopReason("IOP_NO_DETOX", "No need for medically supervised detox."),
    IopReason("IOP_SEVERITY_MANAGEABLE", "Severity and mental health can be managed in intensive outpatient care."),
    IopReason("IOP_SAFE_HOME", "Safe, stable home without people who drink or use drugs."),
    IopReason("IOP_SUPPORTIVE_NETWORK", "Family or friends support recovery."),
    IopReason("IOP_COMMITMENTS", "Work, school or family commitments make part-time care the better fit."),
    IopReason("IOP_STEP_DOWN", "Step-down after detox, inpatient or residential care in the last 30 days."),
)


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class Bands:
    phq9: str
    gad7: str
    ciwa_ar: str | None
    cows: str | None
    pawss: str | None
    dsm5: str
    cssrs: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    level: Level
    flags: tuple[Flag, ...]
    pathway: tuple[Step, ...]
    reasons: tuple[Reason, ...]
    rules_version: str
    bands: Bands

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict:
        """The JSON shape of DESIGN.md §4 'Output'."""
        return {
            "level": str(self.level),
            "flags": [str(f) for f in self.flags],
            "pathway": [str(s) for s in self.pathway],
            "reasons": [{"code": r.code, "level": str(r.level), "text": r.text} for r in self.reasons],
            "rules_version": self.rules_version,
            "bands": {
                "phq9": self.bands.phq9,
                "gad7": self.bands.gad7,
                "ciwa_ar": self.bands.ciwa_ar,
                "cows": self.bands.cows,
                "pawss": self.bands.pawss,
                "dsm5": self.bands.dsm5,
                "cssrs": self.bands.cssrs,
            },
        }


# Per version, each rule as a flat tuple for the hot loop:
# (predicate, reason, is_inpatient, is_detox, flag or None).
_Compiled = tuple[tuple[Predicate, Reason, bool, bool, "Flag | None"], ...]


def _values(rule_set: RuleSet) -> dict[str, int]:
    return {name: getattr(rule_set.thresholds, name) for name in Thresholds.__slots__}


def _compile(rule_set: RuleSet) -> _Compiled:
    values = _values(rule_set)
    return tuple(
        (r.predicate, Reason(r.code, r.level, r.text.format(**values)), r.level is Level.INPATIENT, r.is_detox, r.flag)
        for r in RULES
    )


_COMPILED: dict[str, _Compiled] = {v: _compile(rs) for v, rs in RULE_SETS.items()}


def rule_texts(version: str = RULES_VERSION) -> list[tuple[Rule, str, str]]:
    """Each rule of a version with its threshold and clinician-facing text filled in."""
    values = _values(RULE_SETS[version])
    return [(r, r.threshold.format(**values), r.text.format(**values)) for r in RULES]


_ALCOHOL, _OPIOIDS, _SEDATIVES = Substance.ALCOHOL, Substance.OPIOIDS, Substance.SEDATIVES
_PHQ9 = instruments.PHQ9_BAND_BY_TOTAL
_GAD7 = instruments.GAD7_BAND_BY_TOTAL
_CIWA = instruments.CIWA_AR_BAND_BY_TOTAL
_COWS = instruments.COWS_BAND_BY_TOTAL
_PAWSS = instruments.PAWSS_BAND_BY_TOTAL
_DSM5 = instruments.DSM5_BAND_BY_COUNT


def evaluate(answers: Answers, version: str = RULES_VERSION) -> Recommendation:
    """Recommend a level of care for one validated answer set under a rule set version."""
    try:
        compiled = _COMPILED[version]
    except KeyError:
        raise ValueError(f"unknown rule set version {version!r}") from None
    t = RULE_SETS[version].thresholds
    subs = answers.substances
    cssrs = instruments.cssrs_risk(answers.cssrs)
    dsm5_count = len(answers.dsm5_criteria)
    commitments = answers.work_or_school_commitments or answers.family_commitments
    facts = _Facts(_ALCOHOL in subs, _OPIOIDS in subs, _SEDATIVES in subs, dsm5_count, cssrs, commitments)

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

    if Flag.EMERGENCY_REFERRAL not in flags and (answers.phq9_item9 >= 1 or cssrs == "low" or cssrs == "moderate"):
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
        reasons.extend(_iop_reasons(answers, commitments))
        if dsm5_count < 2:
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
    return Recommendation(level, tuple(sorted(flags)), pathway, tuple(reasons), version, bands)


_IOP_REASON = {r.code: Reason(r.code, Level.IOP, r.text) for r in IOP_REASONS}
_IOP_ALWAYS = [_IOP_REASON[c] for c in ("IOP_NO_DETOX", "IOP_SEVERITY_MANAGEABLE", "IOP_SAFE_HOME")]


def _iop_reasons(answers: Answers, commitments: bool) -> list[Reason]:
    reasons = list(_IOP_ALWAYS)
    if answers.supportive_network:
        reasons.append(_IOP_REASON["IOP_SUPPORTIVE_NETWORK"])
    if commitments:
        reasons.append(_IOP_REASON["IOP_COMMITMENTS"])
    if answers.recent_higher_level_care:
        reasons.append(_IOP_REASON["IOP_STEP_DOWN"])
    return reasons
