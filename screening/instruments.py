"""Pure scoring of the validated instruments (DESIGN.md §3): standard library only, no clock, no I/O.
Every band boundary is a named constant with the publication it comes from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial


@dataclass(frozen=True)
class Item:
    """One item of an instrument: a stable key, the wording shown to the clinician, its range."""

    key: str
    label: str
    max_score: int
    min_score: int = 0
    loinc: str = ""  # the item's LOINC code, where LOINC's published panel has one


def _numbered(prefix: str, max_score: int, labels: tuple[str, ...], loinc: tuple[str, ...] = ()) -> tuple[Item, ...]:
    """Items keyed prefix_1, prefix_2, ... in the order given, with their LOINC codes if given."""
    return tuple(
        Item(f"{prefix}_{n}", label, max_score, loinc=loinc[n - 1] if loinc else "")
        for n, label in enumerate(labels, 1)
    )


# PHQ-9, Kroenke, Spitzer & Williams (2001): nine items scored 0-3.
# LOINC codes of the PHQ-9 panel (44249-1) in item order, as HL7 US Core's PHQ-9 Questionnaire example
# (input/examples/Questionnaire-phq-9-example.json, built from LOINC with LHC-Forms) gives them.
PHQ9_LOINC = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8")
_PHQ9_LABELS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things",
    "Moving or speaking so slowly that other people could have noticed, or the opposite: being fidgety or restless",
    "Thoughts that you would be better off dead, or of hurting yourself",
)
PHQ9_ITEMS: tuple[Item, ...] = _numbered("phq9", 3, _PHQ9_LABELS, PHQ9_LOINC)

# GAD-7, Spitzer et al. (2006): seven items scored 0-3.
# LOINC codes of the GAD-7 panel (69737-5) in item order, as HL7's Personal Health Record IG GAD-7 example
# (QuestionnaireResponseScoredAssessmentGAD7Example) gives them with each item's text.
GAD7_LOINC = ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7")
_GAD7_LABELS = (
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
)
GAD7_ITEMS: tuple[Item, ...] = _numbered("gad7", 3, _GAD7_LABELS, GAD7_LOINC)

# CIWA-Ar, Sullivan et al. (1989): nine items 0-7 and orientation 0-4, total 0-67.
CIWA_AR_ITEMS: tuple[Item, ...] = (
    Item("ciwa_nausea", "Nausea and vomiting", 7),
    Item("ciwa_tremor", "Tremor", 7),
    Item("ciwa_sweats", "Paroxysmal sweats", 7),
    Item("ciwa_anxiety", "Anxiety", 7),
    Item("ciwa_agitation", "Agitation", 7),
    Item("ciwa_tactile", "Tactile disturbances", 7),
    Item("ciwa_auditory", "Auditory disturbances", 7),
    Item("ciwa_visual", "Visual disturbances", 7),
    Item("ciwa_headache", "Headache, fullness in head", 7),
    Item("ciwa_orientation", "Orientation and clouding of sensorium", 4),
)

# COWS, Wesson & Ling (2003): eleven items with their own ranges, total 0-48.
COWS_ITEMS: tuple[Item, ...] = (
    Item("cows_pulse", "Resting pulse rate", 4),
    Item("cows_sweating", "Sweating", 4),
    Item("cows_restlessness", "Restlessness", 5),
    Item("cows_pupils", "Pupil size", 5),
    Item("cows_aches", "Bone or joint aches", 4),
    Item("cows_runny_nose", "Runny nose or tearing", 4),
    Item("cows_gi", "GI upset", 5),
    Item("cows_tremor", "Tremor", 4),
    Item("cows_yawning", "Yawning", 4),
    Item("cows_anxiety", "Anxiety or irritability", 4),
    Item("cows_gooseflesh", "Gooseflesh skin", 5),
)

# PAWSS, Maldonado et al. (2014): ten items scored 0 or 1.
_PAWSS_LABELS = (
    "Previous episodes of alcohol withdrawal",
    "Previous alcohol withdrawal seizures",
    "Previous delirium tremens",
    "Previous alcohol rehabilitation treatment",
    "Previous blackouts",
    "Combined alcohol use with other downers (benzodiazepines, barbiturates)",
    "Combined alcohol use with other substances of abuse",
    "Blood alcohol level above 200 mg/dL on presentation",
    "Evidence of increased autonomic activity (heart rate over 120/min, tremor, sweating, agitation, nausea)",
    "Been intoxicated within the last 30 days",
)
PAWSS_ITEMS: tuple[Item, ...] = _numbered("pawss", 1, _PAWSS_LABELS)

PHQ9_MAX = 27
GAD7_MAX = 21
CIWA_AR_MAX = sum(i.max_score for i in CIWA_AR_ITEMS)  # 67
COWS_MAX = sum(i.max_score for i in COWS_ITEMS)  # 48
PAWSS_MAX = len(PAWSS_ITEMS)  # 10


# The eleven DSM-5 substance-use-disorder criteria (APA, 2013), each named once with its wording.
DSM5_LABELS: dict[str, str] = {
    "larger_amounts": "Used in larger amounts or for longer than intended",
    "cut_down": "Wanted or tried to cut down without success",
    "time_spent": "Much time spent getting, using or recovering",
    "craving": "Craving or strong urges to use",
    "role_failure": "Failing obligations at work, school or home",
    "social_problems": "Continued use despite social or relationship problems",
    "activities_given_up": "Important activities given up or reduced",
    "hazardous_use": "Use in physically hazardous situations",
    "physical_psychological_harm": "Continued use despite physical or psychological harm",
    "tolerance": "Tolerance",
    "withdrawal": "Withdrawal",
}
Dsm5Criterion = StrEnum("Dsm5Criterion", {name.upper(): name for name in DSM5_LABELS})


class CssrsBehavior(StrEnum):
    """C-SSRS screener Q6: suicidal behaviour, and how recent."""

    NEVER = "never"
    OVER_3_MONTHS = "over_3_months"
    PAST_3_MONTHS = "past_3_months"


@dataclass(frozen=True, slots=True)
class Cssrs:
    """The six answers of the C-SSRS screener (past month for Q1-Q5)."""

    wish_dead: bool
    suicidal_thoughts: bool
    method: bool
    intent: bool
    plan: bool
    behavior: CssrsBehavior


# Band boundaries: (lowest total of the band, label), ascending. Each list starts at 0.
PHQ9_BANDS = ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately_severe"), (20, "severe"))  # Kroenke 2001
GAD7_BANDS = ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe"))  # Spitzer 2006
CIWA_AR_BANDS = ((0, "mild"), (10, "moderate"), (19, "severe"))  # ASAM alcohol withdrawal guideline 2020
# Wesson & Ling 2003
COWS_BANDS = ((0, "none"), (5, "mild"), (13, "moderate"), (25, "moderately_severe"), (37, "severe"))
DSM5_BANDS = ((0, "none"), (2, "mild"), (4, "moderate"), (6, "severe"))  # APA DSM-5 2013
PAWSS_BANDS = ((0, "low"), (4, "high"))  # Maldonado 2014


def band_table(bands: tuple[tuple[int, str], ...], maximum: int) -> tuple[str, ...]:
    """The band label of every total from 0 to maximum, for O(1) lookup."""
    return tuple(next(label for lowest, label in reversed(bands) if total >= lowest) for total in range(maximum + 1))


PHQ9_BAND_BY_TOTAL = band_table(PHQ9_BANDS, PHQ9_MAX)
GAD7_BAND_BY_TOTAL = band_table(GAD7_BANDS, GAD7_MAX)
CIWA_AR_BAND_BY_TOTAL = band_table(CIWA_AR_BANDS, CIWA_AR_MAX)
COWS_BAND_BY_TOTAL = band_table(COWS_BANDS, COWS_MAX)
DSM5_BAND_BY_COUNT = band_table(DSM5_BANDS, len(Dsm5Criterion))
PAWSS_BAND_BY_TOTAL = band_table(PAWSS_BANDS, PAWSS_MAX)


def cssrs_risk(answers: Cssrs) -> str:
    """Triage level of the C-SSRS screener (none, low, moderate, high): the highest that matches."""
    # Columbia Lighthouse Project screener triage.
    if answers.intent or answers.plan or answers.behavior == CssrsBehavior.PAST_3_MONTHS:
        return "high"
    if answers.method or answers.behavior == CssrsBehavior.OVER_3_MONTHS:
        return "moderate"
    if answers.wish_dead or answers.suicidal_thoughts:
        return "low"
    return "none"


def score_items(items: Sequence[Item], answers: Sequence[int], name: str) -> int:
    """Total of item answers, each checked against its item's range."""
    if len(answers) != len(items):
        raise ValueError(f"{name} needs {len(items)} item answers, got {len(answers)}")
    total = 0
    for item, value in zip(items, answers, strict=True):
        if isinstance(value, bool) or not isinstance(value, int) or not item.min_score <= value <= item.max_score:
            raise ValueError(f"{name} item {item.key} must be an integer from {item.min_score} to {item.max_score}")
        total += value
    return total


# Each instrument's total from its item answers (PAWSS: yes/no as 1/0).
phq9_score = partial(score_items, PHQ9_ITEMS, name="PHQ-9")
gad7_score = partial(score_items, GAD7_ITEMS, name="GAD-7")
ciwa_ar_score = partial(score_items, CIWA_AR_ITEMS, name="CIWA-Ar")
cows_score = partial(score_items, COWS_ITEMS, name="COWS")
pawss_score = partial(score_items, PAWSS_ITEMS, name="PAWSS")
