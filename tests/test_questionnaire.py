import copy
from enum import IntEnum
from itertools import product
from types import MappingProxyType

import pytest
from hypothesis import given

from screening import questionnaire
from screening.questionnaire import QuestionnaireError
from screening.rules import Substance
from tests.answers import baseline
from tests.strategies import valid_answers


def errors_of(raw) -> dict[str, list[str]]:
    with pytest.raises(QuestionnaireError) as exc:
        questionnaire.parse(raw)
    return exc.value.errors


def without(key: str) -> dict:
    raw = baseline()
    del raw[key]
    return raw


INVALID = [
    # (id, raw answers, the field that must be named)
    ("not-an-object", ["alcohol"], "__root__"),
    ("unknown-key", {**baseline(), "favourite_colour": "blue"}, "favourite_colour"),
    ("missing-key", without("home_safe"), "home_safe"),
    ("bool-as-int", baseline(home_safe=1), "home_safe"),
    ("bool-as-string", baseline(pregnant="false"), "pregnant"),
    ("int-as-string", baseline(phq9_total="6"), "phq9_total"),
    ("int-as-float", baseline(gad7_total=5.0), "gad7_total"),
    ("int-as-bool", baseline(gad7_total=True), "gad7_total"),
    ("phq9-above-range", baseline(phq9_total=28), "phq9_total"),
    ("gad7-negative", baseline(gad7_total=-1), "gad7_total"),
    ("ciwa-above-range", baseline(ciwa_ar=68), "ciwa_ar"),
    ("cows-above-range", baseline(substances=["alcohol", "opioids"], cows=49), "cows"),
    ("pawss-above-range", baseline(pawss=11), "pawss"),
    ("item9-above-range", baseline(phq9_item9=4), "phq9_item9"),
    ("bad-choice", baseline(readiness="eager"), "readiness"),
    ("bad-mh-choice", baseline(mental_health_condition="fine"), "mental_health_condition"),
    ("substances-empty", baseline(substances=[]), "substances"),
    ("substances-not-list", baseline(substances="alcohol"), "substances"),
    ("substances-unknown", baseline(substances=["alcohol", "tea"]), "substances"),
    ("substances-duplicate", baseline(substances=["alcohol", "alcohol"]), "substances"),
    ("dsm5-unknown", baseline(dsm5_criteria=["craving", "boredom"]), "dsm5_criteria"),
    ("dsm5-duplicate", baseline(dsm5_criteria=["craving", "craving"]), "dsm5_criteria"),
    ("ciwa-missing-with-alcohol", baseline(ciwa_ar=None), "ciwa_ar"),
    ("ciwa-without-alcohol", baseline(substances=["cannabis"], pawss=None), "ciwa_ar"),
    ("cows-missing-with-opioids", baseline(substances=["alcohol", "opioids"]), "cows"),
    ("cows-without-opioids", baseline(cows=3), "cows"),
    ("pawss-without-alcohol", baseline(substances=["cannabis"], ciwa_ar=None), "pawss"),
    ("daily-sedatives-without-sedatives", baseline(daily_sedative_use=True), "daily_sedative_use"),
    ("item9-above-total", baseline(phq9_total=1, phq9_item9=2), "phq9_item9"),
    ("other-eight-above-24", baseline(phq9_total=25, phq9_item9=0), "phq9_item9"),
    ("cssrs-not-object", baseline(cssrs=True), "cssrs"),
    ("cssrs-missing", baseline(cssrs={"wish_dead": False}), "cssrs.plan"),
    ("cssrs-unknown", baseline(cssrs__mood=True), "cssrs.mood"),
    ("cssrs-bool-type", baseline(cssrs__wish_dead=0), "cssrs.wish_dead"),
    ("cssrs-behavior", baseline(cssrs__behavior="sometimes"), "cssrs.behavior"),
    ("cssrs-plan-without-thoughts", baseline(cssrs__plan=True), "cssrs.plan"),
    ("cssrs-method-without-thoughts", baseline(cssrs__method=True), "cssrs.method"),
]


@pytest.mark.parametrize(("raw", "field"), [(r, f) for _, r, f in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_input_names_the_field(raw, field):
    assert field in errors_of(raw)


def test_every_error_is_collected_not_just_the_first():
    raw = baseline(home_safe="yes", phq9_total=99, readiness="eager", cssrs__plan=True)
    del raw["pregnant"]
    raw["extra"] = 1

    errors = errors_of(raw)

    assert set(errors) == {"home_safe", "phq9_total", "readiness", "cssrs.plan", "pregnant", "extra"}


def test_valid_answers_parse_to_frozen_typed_answers():
    answers = questionnaire.parse(baseline())

    assert answers.substances == ("alcohol",)
    assert answers.cssrs.behavior == "never"
    with pytest.raises(AttributeError):
        answers.home_safe = False  # frozen


def test_pawss_may_be_null_with_alcohol():
    assert questionnaire.parse(baseline(pawss=None)).pawss is None


@given(valid_answers())
def test_to_json_round_trips(raw):
    answers = questionnaire.parse(raw)

    assert questionnaire.parse(questionnaire.to_json(answers)) == answers
    assert questionnaire.to_json(answers) == raw


@pytest.mark.parametrize("sibling", [{"zz": 1}, {"wish_dead": 1}], ids=["unknown-sibling", "wrong-type-sibling"])
def test_cssrs_consistency_reported_even_with_sibling_errors(sibling):
    raw = baseline(cssrs__plan=True)
    raw["cssrs"].update(sibling)

    errors = errors_of(raw)

    assert "cssrs.plan" in errors


# --- The fast path for valid answer sets: it must give exactly what the strict path gives, and refuse nothing else.
# Every field, at the top and inside the C-SSRS object, given each of these values on a few answer sets (each
# substance listed or not, C-SSRS Q2 yes or no), and the grids of every consistency rule: the two paths must agree.
VALUES = [None, True, False, -1, 0, 1, 2, 3, 4, 9, 10, 11, 18, 19, 20, 21, 22, 24, 25, 26, 27, 28, 48, 49, 67, 68]
VALUES += [1.0, "1", "", "x", "never", "past_3_months", "stable", "unstable", "action", "precontemplation"]
VALUES += [[], ["alcohol"], ["opioids"], ["sedatives"], ["cannabis"], ["alcohol", "opioids", "sedatives"]]
VALUES += [["alcohol", "alcohol"], ["craving"], ["craving", "tolerance"], ["craving", "craving"], ["tea"], [1]]
VALUES += [[None], ("alcohol",), {}, {"plan": True}, baseline()["cssrs"]]
BASES = {
    "baseline": baseline(),
    "every-substance": baseline(
        substances=["alcohol", "opioids", "sedatives", "stimulants", "cannabis", "other"], cows=3
    ),
    "cannabis-only": baseline(substances=["cannabis"], ciwa_ar=None, pawss=None),
    "suicidal-thoughts": baseline(cssrs__suicidal_thoughts=True, cssrs__method=True),
}
KEYS = [*questionnaire.FIELD_NAMES, "extra", *(f"cssrs.{k}" for k in questionnaire.CSSRS_FIELDS), "cssrs.extra"]


def disagreements(raws) -> list:
    return [raw for raw in raws if outcome(questionnaire.parse, raw) != outcome(questionnaire._parse_strict, raw)]


def put(raw: dict, key: str, value) -> dict:
    raw = copy.deepcopy(raw)
    parent, _, name = key.rpartition(".")
    (raw[parent] if parent else raw)[name] = value
    return raw


@pytest.mark.parametrize("key", KEYS)
def test_parse_gives_what_the_strict_path_gives_for_any_value_of(key):
    raws = [put(base, key, value) for base in BASES.values() for value in VALUES]
    raws += [{k: v for k, v in base.items() if k != key} for base in BASES.values()]

    assert disagreements(raws) == []


def test_parse_gives_what_the_strict_path_gives_for_every_phq9_pair():
    raws = [baseline(phq9_total=total, phq9_item9=item9) for total in range(-1, 29) for item9 in range(-1, 5)]

    assert disagreements(raws) == []


def test_parse_gives_what_the_strict_path_gives_for_every_substance_list_and_the_answers_it_opens():
    codes = [s.value for s in Substance]
    lists = [[c for i, c in enumerate(codes) if mask >> i & 1] for mask in range(64)]
    raws = [
        baseline(substances=subs, ciwa_ar=ciwa, cows=cows, pawss=pawss, daily_sedative_use=daily)
        for subs, ciwa, cows, pawss, daily in product(lists, (None, 0, 12), (None, 0), (None, 0, 5), (False, True))
    ]

    assert disagreements(raws) == []


def test_parse_gives_what_the_strict_path_gives_for_every_cssrs_answer():
    raws = [
        baseline(cssrs=dict(zip(questionnaire.CSSRS_FIELDS, (*answers, behavior), strict=True)))
        for answers in product((False, True), repeat=5)
        for behavior in ("never", "over_3_months", "past_3_months", "recently")
    ]

    assert disagreements(raws) == []


def outcome(parse, raw):
    """What a parser makes of raw: its answers with each field's type, or its errors."""
    try:
        answers = parse(raw)
    except QuestionnaireError as e:
        return ("errors", e.errors)
    return ("answers", answers, [type(getattr(answers, f)) for f in questionnaire.FIELD_NAMES])


@given(valid_answers())
def test_fast_path_takes_every_valid_answer_set(raw):
    answers = questionnaire._parse_valid(raw)

    assert answers is not None
    assert outcome(lambda r: answers, raw) == outcome(questionnaire._parse_strict, raw)


class Score(IntEnum):
    SIX = 6


class Code(str):
    pass


@pytest.mark.parametrize(
    "raw",
    [
        MappingProxyType(baseline()),
        baseline(phq9_total=Score.SIX),
        baseline(readiness=Code("action")),
        baseline(substances=[Code("alcohol")]),
        baseline(substances=("alcohol",)),
        baseline(cssrs=MappingProxyType(baseline()["cssrs"])),
    ],
    ids=["mapping-not-dict", "int-subclass", "str-subclass-choice", "str-subclass-item", "tuple-list", "cssrs-mapping"],
)
def test_inputs_only_the_strict_path_decides_come_out_the_same(raw):
    declined = type(raw) is not dict or questionnaire._parse_valid(raw) is None

    assert declined
    assert outcome(questionnaire.parse, raw) == outcome(questionnaire._parse_strict, raw)
