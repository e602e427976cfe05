"""The answer map: every questionnaire answer of DESIGN.md §2 named once, with everything derived from it.

Each `Answer` has its section, label, kind, range or choices, stored column(s) and the `Input`s a clinician
fills in to give it. The model, form, draft-save service, answer pages, exports and FHIR Questionnaire all
read this table, so adding a question is one row here plus its tests. "Applies when" rules are data on the
inputs (`applicable`, `missing`, `clear_inapplicable` answer them).

Pure: standard library and the sibling pure modules only (no Django), like `rules` and `instruments`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from . import instruments
from .instruments import Item
from .rules import Bands, Readiness, Substance


class Kind(StrEnum):
    """How an input is answered and stored."""

    YES_NO = "yes_no"  # one nullable boolean column
    CHOICE = "choice"  # one code column ("" when unanswered)
    MULTI = "multi"  # one boolean column per choice (`prefix` + code)
    SCORE = "score"  # one integer column, 0..maximum (null when unanswered)


@dataclass(frozen=True, slots=True)
class Input:
    """One thing the clinician answers. `name` is its form field and (but for MULTI) its model column."""

    name: str
    label: str
    kind: Kind
    choices: tuple[tuple[str, str], ...] = ()  # (code, label) for CHOICE and MULTI
    maximum: int = 0  # SCORE: 0..maximum
    prefix: str = ""  # MULTI: the columns are prefix + code
    key: str = ""  # its key inside an object answer (C-SSRS)
    when_substance: Substance | None = None  # applies only when this substance is listed
    when_yes: str = ""  # applies only when this yes/no input is answered yes
    optional: bool = False  # completion does not need it
    help: str = ""
    loinc: str = ""  # the LOINC code of the question, where one exists
    default_when_closed: Any = None  # the value it takes when it does not apply (None: cleared)

    @property
    def columns(self) -> tuple[str, ...]:
        if self.kind is Kind.MULTI:
            return tuple(self.prefix + code for code, _ in self.choices)
        return (self.name,)


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of DESIGN.md §2 and how it is collected and stored."""

    name: str
    label: str
    inputs: tuple[Input, ...]
    section: str = ""  # the key of the section row above it in the table (`_sectioned`)
    heading: str = ""  # an instrument's heading above its items
    column: str = ""  # the column holding the §2 value itself, when it is one column
    maximum: int | None = None  # integer answers: 0..maximum
    nullable: bool = False  # may be null in §2 (a withdrawal scale for a substance not listed)
    score: Callable[[list[int]], int] | None = None  # computes the stored total from the inputs
    instrument: str = ""  # the instrument's short name, for item answers given by instrument
    band: str = ""  # its key in the rules' bands (DESIGN.md §3), when it has a band
    short: str = ""  # the instrument's name in a table of scores
    loinc: str = ""  # the LOINC code of the total, where one exists
    loinc_panel: str = ""  # the LOINC code of the instrument's panel
    identifier: bool = False  # identifies the person (none of §2 does; client identity is separate)
    # A reassessment starts with it from the client's latest signed screening, to be confirmed or changed: it
    # describes history or circumstances. Never for what is recalled over days or weeks (the last 30 days of use,
    # withdrawal scales, PHQ-9 and GAD-7, C-SSRS), nor for the present state (safety, medical, readiness).
    carries_over: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    answers: tuple[Answer, ...]

    @property
    def inputs(self) -> tuple[Input, ...]:
        return tuple(i for a in self.answers for i in a.inputs)


def _one(
    name: str,
    label: str,
    kind=Kind.YES_NO,
    choices=None,
    *,
    band="",
    short="",
    nullable=False,
    carries_over=False,
    **kw,
) -> Answer:
    """An answer given by one input of its name and label, stored in the column of that name (a list: one column
    per choice); a score shares its input's maximum."""
    inp = Input(name, label, kind, tuple((choices or {}).items()), **kw)
    maximum = inp.maximum if kind is Kind.SCORE else None
    column = "" if kind is Kind.MULTI else name
    return Answer(
        name,
        label,
        (inp,),
        column=column,
        maximum=maximum,
        nullable=nullable,
        band=band,
        short=short,
        carries_over=carries_over,
    )


def _total(name: str, label: str, items: tuple[Item, ...], when: Substance | None = None, **kw) -> Answer:
    """An instrument's total, in the column of its name, computed from its items; null (`nullable`) while the
    substance its items wait for is not listed. The instrument (and its band) is the name without "_total"."""
    inputs = tuple(
        Input(i.key, i.label, Kind.SCORE, maximum=i.max_score, loinc=i.loinc, when_substance=when) for i in items
    )
    key = name.removesuffix("_total")
    return Answer(name, label, inputs, column=name, instrument=key, band=key, nullable=when is not None, **kw)


def _cssrs(key: str, label: str, kind: Kind = Kind.YES_NO, choices=None, follow_up: bool = False) -> Input:
    """A C-SSRS question: Q3-Q5 follow up a yes to Q2 (left blank after a no, they are a no)."""
    opener = {"when_yes": "cssrs_suicidal_thoughts", "default_when_closed": False} if follow_up else {}
    return Input(f"cssrs_{key}", label, kind, tuple((choices or {}).items()), key=key, **opener)


def _sectioned(*rows: tuple[str, str] | Answer) -> tuple[dict[str, str], tuple[Answer, ...]]:
    """The sections' titles by key, and the answers of `rows`, each in the section (key, title) last before it."""
    titles: dict[str, str] = {}
    table: list[Answer] = []
    section = ""
    for row in rows:
        if isinstance(row, Answer):
            table.append(replace(row, section=section))
        else:
            section, title = row
            titles[section] = title
    return titles, tuple(table)


_ALCOHOL, _OPIOIDS, _SEDATIVES = Substance.ALCOHOL, Substance.OPIOIDS, Substance.SEDATIVES
_SUBSTANCES = {s.value: s.value.capitalize() for s in Substance}
_SUBSTANCES["sedatives"] = "Sedatives (benzodiazepines, barbiturates)"  # named by their kinds
_MENTAL_HEALTH = {
    "none": "None",
    "stable": "Diagnosed, stable with treatment",
    "unstable": "Diagnosed, not currently stable",
}
_READINESS = {r.value: r.value.capitalize() for r in Readiness}
_CSSRS_BEHAVIOR = {
    "never": "Never",
    "over_3_months": "Yes, over 3 months ago",
    "past_3_months": "Yes, in the past 3 months",
}

# One row per answer of §2, in §2 order, under its section's (key, title).
SECTION_TITLES, ANSWER_TABLE = _sectioned(
    ("substances", "Substances and withdrawal"),
    _one("substances", "Substances used regularly in the last 30 days", Kind.MULTI, _SUBSTANCES, prefix="substance_"),
    _total(
        "ciwa_ar",
        "CIWA-Ar total (alcohol withdrawal)",
        instruments.CIWA_AR_ITEMS,
        _ALCOHOL,
        heading="CIWA-Ar (alcohol withdrawal)",
        short="CIWA-Ar",
        maximum=instruments.CIWA_AR_MAX,
        score=instruments.ciwa_ar_score,
    ),
    _total(
        "cows",
        "COWS total (opioid withdrawal)",
        instruments.COWS_ITEMS,
        _OPIOIDS,
        heading="COWS (opioid withdrawal)",
        short="COWS",
        maximum=instruments.COWS_MAX,
        score=instruments.cows_score,
    ),
    _one(
        "pawss",
        "PAWSS total (risk of complicated alcohol withdrawal)",
        Kind.SCORE,
        band="pawss",
        short="PAWSS",
        nullable=True,
        maximum=instruments.PAWSS_MAX,
        when_substance=_ALCOHOL,
        optional=True,
        help="Prediction of Alcohol Withdrawal Severity Scale, 10 yes/no items.",
    ),
    _one("withdrawal_seizure_or_dt_history", "Ever had a withdrawal seizure or delirium tremens", carries_over=True),
    _one(
        "daily_sedative_use",
        "Daily benzodiazepine or barbiturate use",
        when_substance=_SEDATIVES,
        default_when_closed=False,
    ),
    _one("complicated_withdrawal_now", "Seizure, delirium or new hallucinations in the current withdrawal"),
    ("medical", "Medical"),
    _one("unstable_medical_condition", "Medical condition that needs 24-hour medical or nursing monitoring"),
    _one("pregnant", "Currently pregnant"),
    ("severity", "Addiction severity (DSM-5)"),
    _one(
        "dsm5_criteria",
        "DSM-5 criteria met in the last 12 months (primary substance)",
        Kind.MULTI,
        instruments.DSM5_LABELS,
        band="dsm5",
        short="DSM-5 criteria met",
        prefix="dsm5_",
        optional=True,  # none met is an answer
        carries_over=True,  # the last 12 months
    ),
    ("mental_health", "Mental health and safety"),
    _total(
        "phq9_total",
        "PHQ-9 total (depression)",
        instruments.PHQ9_ITEMS,
        heading="PHQ-9 (over the last 2 weeks: 0 not at all … 3 nearly every day)",
        short="PHQ-9",
        loinc="44261-6",  # PHQ-9 total score
        loinc_panel="44249-1",
        maximum=instruments.PHQ9_MAX,
        score=instruments.phq9_score,
    ),
    # Item 9 is an input of the PHQ-9 above; this answer reads its column.
    Answer(
        "phq9_item9",
        "PHQ-9 item 9 (thoughts of death or self-harm)",
        (),
        column="phq9_9",
        maximum=instruments.PHQ9_ITEMS[-1].max_score,
    ),
    _total(
        "gad7_total",
        "GAD-7 total (anxiety)",
        instruments.GAD7_ITEMS,
        heading="GAD-7 (over the last 2 weeks)",
        short="GAD-7",
        loinc="70274-6",  # GAD-7 total score
        loinc_panel="69737-5",
        maximum=instruments.GAD7_MAX,
        score=instruments.gad7_score,
    ),
    _one(
        "mental_health_condition", "Diagnosed mental-health condition", Kind.CHOICE, _MENTAL_HEALTH, carries_over=True
    ),
    _one("psychotic_symptoms", "Current psychotic or manic symptoms"),
    Answer(
        "cssrs",
        "C-SSRS screener",
        (
            _cssrs("wish_dead", "Q1 Wished to be dead or not wake up (past month)"),
            _cssrs("suicidal_thoughts", "Q2 Thoughts of killing oneself (past month)"),
            _cssrs("method", "Q3 Thought about how (method)", follow_up=True),
            _cssrs("intent", "Q4 Some intention of acting on the thoughts", follow_up=True),
            _cssrs("plan", "Q5 Worked out details of a plan, with intent", follow_up=True),
            _cssrs(
                "behavior",
                "Q6 Ever done, started or prepared to do anything to end one's life",
                Kind.CHOICE,
                _CSSRS_BEHAVIOR,
            ),
        ),
        heading="C-SSRS screener",
        band="cssrs",
        short="C-SSRS screener risk",
    ),
    _one("homicidal_ideation", "Thoughts of harming others with intent or a plan"),
    ("readiness", "Readiness and history"),
    _one("readiness", "Stage of change", Kind.CHOICE, _READINESS),
    _one(
        "relapse_after_outpatient_12mo",
        "Returned to use after outpatient or IOP treatment in the last 12 months",
        carries_over=True,
    ),
    _one(
        "recent_higher_level_care",
        "Completed detox, inpatient or residential treatment in the last 30 days",
        carries_over=True,
    ),
    ("home", "Home and life"),
    _one("lives_with_substance_users", "Lives with someone who drinks heavily or uses drugs", carries_over=True),
    _one("home_safe", "Home is free of violence, abuse and threats", carries_over=True),
    _one("stable_housing", "Has stable housing", carries_over=True),
    _one("supportive_network", "Has family or friends who support recovery", carries_over=True),
    _one("work_or_school_commitments", "Work or school commitments", carries_over=True),
    _one("family_commitments", "Caregiving or other family duties", carries_over=True),
    _one("can_attend_9h_week", "Can attend at least 9 hours of sessions a week", carries_over=True),
)

SECTIONS: tuple[Section, ...] = tuple(
    Section(key, title, tuple(a for a in ANSWER_TABLE if a.section == key)) for key, title in SECTION_TITLES.items()
)
ANSWERS: dict[str, Answer] = {a.name: a for a in ANSWER_TABLE}
INPUTS: dict[str, Input] = {i.name: i for a in ANSWERS.values() for i in a.inputs}
# Every stored answer column: the inputs' columns, then the stored totals.
INPUT_COLUMNS: tuple[str, ...] = tuple(c for i in INPUTS.values() for c in i.columns)
TOTAL_COLUMNS: tuple[str, ...] = tuple(a.column for a in ANSWERS.values() if a.score is not None)
COLUMNS: tuple[str, ...] = INPUT_COLUMNS + TOTAL_COLUMNS
# The instruments whose totals are computed from item inputs: answer name -> its item inputs.
INSTRUMENTS: dict[str, tuple[Input, ...]] = {a.name: a.inputs for a in ANSWERS.values() if a.score is not None}
ITEM_COLUMNS: tuple[str, ...] = tuple(i.name for inputs in INSTRUMENTS.values() for i in inputs)
# The §2 name ("phq9_item9", "cssrs.plan") of each column that holds one answer.
ANSWER_OF_COLUMN: dict[str, str] = {
    **{a.column: a.name for a in ANSWERS.values() if a.column},
    **{i.name: f"{a.name}.{i.key}" for a in ANSWERS.values() if not a.column for i in a.inputs if i.key},
}
# Each banded score's bands as the instruments define them, (lowest total, label) ascending: the questionnaire
# page's live totals read them from here, so the page's script holds no clinical number of its own.
BAND_TABLES: dict[str, tuple[tuple[int, str], ...]] = {
    "phq9": instruments.PHQ9_BANDS,
    "gad7": instruments.GAD7_BANDS,
    "ciwa_ar": instruments.CIWA_AR_BANDS,
    "cows": instruments.COWS_BANDS,
    "pawss": instruments.PAWSS_BANDS,
    "dsm5": instruments.DSM5_BANDS,
}
# The answers that have a band, in the order of the rules' bands (DESIGN.md §3; the exports' band columns).
BAND_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Bands))
BANDED: dict[str, Answer] = {a.band: a for a in ANSWERS.values() if a.band}
# The answers of §2 by kind, for the strict parser.
MULTI_ANSWERS: tuple[str, ...] = tuple(a.name for a in ANSWERS.values() if a.inputs and a.inputs[0].kind is Kind.MULTI)
OBJECT_ANSWERS: tuple[str, ...] = tuple(a.name for a in ANSWERS.values() if not a.column and len(a.inputs) > 1)
_CHOICE_COLUMNS = frozenset(i.name for i in INPUTS.values() if i.kind is Kind.CHOICE)
# How the parser words a substance that opens answers ("ciwa_ar is required when alcohol is listed").
LISTED = {_ALCOHOL: "alcohol is listed", _OPIOIDS: "opioids are listed", _SEDATIVES: "sedatives are listed"}


def scores(snapshot: Mapping[str, Any] | None, bands: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(instrument, score, band) for each banded answer of a stored snapshot: a total as it is, the number of
    items of a list (DSM-5 criteria), no score for an object (C-SSRS, rated by its band alone)."""
    rows = []
    for key in BAND_KEYS:
        a = BANDED[key]
        value = (snapshot or {}).get(a.name)
        if a.name in MULTI_ANSWERS:
            value = len(value) if value is not None else None
        elif a.name in OBJECT_ANSWERS:
            value = None
        rows.append((a.short, value, bands.get(key)))
        # An answer read from one of its items (PHQ-9 item 9, which the safety flags read) follows it, unbanded ("").
        items = {i.name for i in a.inputs}
        rows += [
            (b.label, (snapshot or {}).get(b.name), "") for b in ANSWERS.values() if b is not a and b.column in items
        ]
    return rows


def opened_by(answer: Answer) -> Substance | None:
    """The substance that every input of an answer waits for, or None."""
    substances = {i.when_substance for i in answer.inputs}
    return substances.pop() if len(substances) == 1 else None


def optional(answer: Answer) -> bool:
    return bool(answer.inputs) and all(i.optional for i in answer.inputs)


def _blank(value: Any) -> Any:
    return None if value == "" else value


# --- Stored columns <-> the §2 shape. `values` maps column names to stored values (a row or a form's output).
def to_raw(values: Mapping[str, Any]) -> dict[str, Any]:
    """The §2 mapping of stored answer columns (unanswered stays None), for questionnaire.parse."""
    raw: dict[str, Any] = {}
    for a in ANSWERS.values():
        if a.column:
            raw[a.name] = _blank(values.get(a.column))
        elif a.name in MULTI_ANSWERS:
            (inp,) = a.inputs
            raw[a.name] = [code for code, _ in inp.choices if values.get(inp.prefix + code)]
        else:
            raw[a.name] = {i.key: _blank(values.get(i.name)) for i in a.inputs}
    return raw


def to_columns(raw: Mapping[str, Any], items: Mapping[str, Iterable[int] | None] | None = None) -> dict[str, Any]:
    """Column values from a §2 mapping and, optionally, item answers by instrument ('phq9': [..]); the inverse
    of `to_raw` (an unanswered choice is ""). Without an instrument's items its item columns are None, but for
    a column a §2 answer itself lives in (PHQ-9 item 9)."""
    columns: dict[str, Any] = {}
    for a in ANSWERS.values():
        value = raw.get(a.name)
        if a.name in MULTI_ANSWERS:
            (inp,) = a.inputs
            columns.update({inp.prefix + code: code in (value or ()) for code, _ in inp.choices})
        elif a.column:
            columns[a.column] = value
        else:
            columns.update({i.name: (value or {}).get(i.key) for i in a.inputs})
    # Item answers last: given, they are the source (PHQ-9 item 9 included); not given, they stay unanswered.
    for name, inputs in INSTRUMENTS.items():
        given = (items or {}).get(ANSWERS[name].instrument)
        for i, v in zip(inputs, given if given is not None else [None] * len(inputs), strict=True):
            columns[i.name] = v if given is not None else columns.get(i.name)
    return {c: "" if v is None and c in _CHOICE_COLUMNS else v for c, v in columns.items()}


def to_inputs(columns: Mapping[str, Any]) -> dict[str, Any]:
    """Each input's value from stored columns: a MULTI input as its list of codes, the rest as stored."""
    return {
        i.name: [code for code, _ in i.choices if columns.get(i.prefix + code)]
        if i.kind is Kind.MULTI
        else columns.get(i.name)
        for i in INPUTS.values()
    }


def from_inputs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Stored column values from the inputs' values (the inverse of `to_inputs`; a CHOICE unanswered is "")."""
    columns: dict[str, Any] = {}
    for i in INPUTS.values():
        value = values.get(i.name)
        if i.kind is Kind.MULTI:
            chosen = set(value or ())
            columns.update({i.prefix + code: code in chosen for code, _ in i.choices})
        else:
            columns[i.name] = (value or "") if i.kind is Kind.CHOICE else value
    return columns


def compute_totals(values: Mapping[str, Any]) -> dict[str, int | None]:
    """Each instrument's total from its item inputs; an instrument with an unanswered item has no total."""
    totals: dict[str, int | None] = {}
    for name, inputs in INSTRUMENTS.items():
        given = [values.get(i.name) for i in inputs]
        totals[ANSWERS[name].column] = ANSWERS[name].score(given) if None not in given else None
    return totals


# --- "Applies when": the inputs a listed substance or a yes opens up.
def _listed(inp: Input, values: Mapping[str, Any]) -> bool:
    return inp.when_substance is None or inp.when_substance.value in (values.get("substances") or ())


def applicable(inp: Input, values: Mapping[str, Any]) -> bool:
    """Whether an input applies given the other inputs' values (MULTI inputs as lists of codes)."""
    return _listed(inp, values) and (not inp.when_yes or values.get(inp.when_yes) is True)


def _closed(inp: Input, values: Mapping[str, Any]) -> bool:
    # Decided against: its substance is not listed, or its question was answered no (not merely unanswered).
    return not _listed(inp, values) or (bool(inp.when_yes) and values.get(inp.when_yes) is False)


def clear_inapplicable(values: dict[str, Any], *, drafting: bool = False) -> dict[str, Any]:
    """Inputs decided against take their closed value, so a hidden stale answer never counts: a scale for a
    substance not listed is cleared; a follow-up left blank after a no is a no. `drafting` (a draft save) keeps a
    closed scale's answers, so a substance unticked and ticked again gets them back; completing clears them."""
    for inp in INPUTS.values():
        if _closed(inp, values):
            if inp.default_when_closed is None:
                if not drafting:
                    values[inp.name] = None
            elif values.get(inp.name) is None:
                values[inp.name] = inp.default_when_closed
    return values


def missing(values: Mapping[str, Any]) -> list[str]:
    """The inputs completion still needs, in questionnaire order (MULTI inputs as lists of codes)."""
    return [
        i.name
        for i in INPUTS.values()
        if not i.optional and applicable(i, values) and values.get(i.name) in (None, "", [], ())
    ]


# --- Labels and errors.
def column_label(column: str) -> str:
    """What a stored answer column means, for people (conflict pages, data dictionaries)."""
    for a in ANSWERS.values():
        if column == a.column and a.score is not None:
            return a.label
        for i in a.inputs:
            if i.kind is Kind.MULTI and column.startswith(i.prefix):
                return f"{i.label}: {dict(i.choices)[column.removeprefix(i.prefix)]}"
            if i.name == column:
                return i.label
    raise KeyError(column)


def error_input(name: str) -> str:
    """The input where an error about a §2 name ('ciwa_ar', 'cssrs.plan') is shown: the input itself, or the
    first item of a computed total, or the item a column-only answer reads."""
    if "." in name:
        parent, key = name.split(".", 1)
        return next((i.name for i in ANSWERS[parent].inputs if i.key == key), parent)
    a = ANSWERS.get(name)
    if a is None:
        return name
    if a.column in INPUTS:
        return a.column
    return a.inputs[0].name if a.inputs else name


# --- Showing answers to people: one rendering for every page and print.
def show(value: Any, choices: tuple[tuple[str, str], ...] = ()) -> str:
    """One stored or §2 value as text: a choice by its label, yes/no, a list by its labels."""
    if value is None or value == "":
        return "not answered"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    labels = dict(choices)
    if isinstance(value, list | tuple):
        return ", ".join(labels.get(v, str(v).replace("_", " ")) for v in value) or "none"
    return labels.get(value, str(value).replace("_", " ")) if isinstance(value, str) else str(value)


NOT_ASKED = "not asked"


def display(raw: Mapping[str, Any] | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """A §2 answer mapping as sections of (label, text) rows, in questionnaire order; [] without answers. A
    question that did not apply (a follow-up after a no, a scale for a substance not listed) reads "not asked"."""
    return [(title, [(label, text) for label, text, _ in rows]) for title, rows in display_rows(raw)]


def display_rows(
    raw: Mapping[str, Any] | None, columns: Mapping[str, Any] | None = None
) -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """As `display`, each row (label, text, is_item); given the stored `columns` too, an instrument's total is
    followed by its item answers ("PHQ-9 item 9: …"), when they were entered item by item."""
    if not raw:
        return []
    inputs = to_inputs(to_columns(raw))  # what applied is decided on the answers themselves
    sections = []
    shown: set[str] = set()  # the item columns shown as items
    for section in SECTIONS:
        rows: list[tuple[str, str, bool]] = []
        for a in section.answers:
            if a.column in shown:  # PHQ-9 item 9, already shown among its instrument's items
                continue
            value = raw.get(a.name)
            if a.name in OBJECT_ANSWERS:
                rows += [
                    (i.label, show((value or {}).get(i.key), i.choices) if applicable(i, inputs) else NOT_ASKED, False)
                    for i in a.inputs
                ]
                continue
            asked = not a.inputs or any(applicable(i, inputs) for i in a.inputs)
            rows.append((a.label, show(value, a.inputs[0].choices if a.inputs else ()) if asked else NOT_ASKED, False))
            if a.score is not None and asked and columns is not None:
                items = [(n, i, columns.get(i.name)) for n, i in enumerate(a.inputs, 1)]
                # Entered item by item (not only PHQ-9 item 9, which a total-only record holds too).
                if any(v is not None for _, i, v in items if i.name not in ANSWER_OF_COLUMN):
                    rows += [(f"{a.short} item {n}: {i.label}", show(v), True) for n, i, v in items]
                    shown.update(i.name for i in a.inputs)
        sections.append((section.title, rows))
    return sections


# --- Reassessment (issue 14, item 6): a new screening of a client with a signed screening starts with the answers
# that describe history or circumstances (`Answer.carries_over`), each section holding some of them to be confirmed
# or changed before completion.
CARRIED_INPUTS: tuple[Input, ...] = tuple(i for a in ANSWERS.values() if a.carries_over for i in a.inputs)
# Each section holding carried answers, by key, with its carried inputs (in questionnaire order).
CARRIED_SECTIONS: dict[str, tuple[Input, ...]] = {
    s.key: tuple(i for a in s.answers if a.carries_over for i in a.inputs)
    for s in SECTIONS
    if any(a.carries_over for a in s.answers)
}
CARRIED_SECTION_OF: dict[str, str] = {i.name: key for key, inputs in CARRIED_SECTIONS.items() for i in inputs}
_CARRIED_SECTION_OF_COLUMN = {c: key for key, inputs in CARRIED_SECTIONS.items() for i in inputs for c in i.columns}
UNCONFIRMED = "Confirm these carried-over answers, or change them, to complete the screening."


@dataclass(frozen=True, slots=True)
class CarryOver:
    """What a reassessment starts with: answer columns, the sections to confirm, checklists carried as none."""

    columns: dict[str, Any]
    sections: tuple[str, ...]
    none_ticked: tuple[str, ...]


def _none_is_answer(inp: Input) -> bool:
    return inp.kind is Kind.MULTI and inp.optional  # a checklist where none ticked is an answer (DSM-5)


def carry_over(columns: Mapping[str, Any]) -> CarryOver:
    """From the answer columns of the client's latest signed screening: the carried answers' columns (nothing else),
    the sections holding a carried answer that was given (each to confirm or change), and the checklists whose none
    ticked is carried as "None of these", so that it reads as an answer rather than as unanswered."""
    carried = {c: columns.get(c) for i in CARRIED_INPUTS for c in i.columns}
    none = tuple(i.name for i in CARRIED_INPUTS if _none_is_answer(i) and not any(columns.get(c) for c in i.columns))

    def given(inp: Input) -> bool:
        return _none_is_answer(inp) or columns.get(inp.name) not in (None, "")

    sections = tuple(key for key, inputs in CARRIED_SECTIONS.items() if any(given(i) for i in inputs))
    return CarryOver(carried, sections, none)


def confirmed_by_change(changed: Iterable[str], sections: Iterable[str]) -> set[str]:
    """The carried `sections` where one of the `changed` columns or inputs holds a carried answer: changing a
    carried answer confirms its section."""
    of = {**_CARRIED_SECTION_OF_COLUMN, **CARRIED_SECTION_OF}
    carried = set(sections)
    return {of[name] for name in changed if of.get(name) in carried}


def unconfirmed(sections: Iterable[str], confirmed: Iterable[str]) -> list[str]:
    """The carried sections completion still needs confirmed, in questionnaire order."""
    carried, done = set(sections), set(confirmed)
    return [key for key in CARRIED_SECTIONS if key in carried and key not in done]


def confirm_field(section: str) -> str:
    """The form field of a carried section's confirmation."""
    return f"confirm_{section}"
