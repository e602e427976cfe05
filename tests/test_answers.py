"""The answer map (screening/answers.py) and every consumer that derives from it.

Each test names a consumer; adding a row to the map without the consumer following fails here.
"""

from dataclasses import fields

import pytest
from django.db import models as dj

from screening import answers, exports, fhir, questionnaire, rules
from screening.answers import Kind
from screening.forms import ScreeningForm
from screening.models import Screening, ScreeningAnswers
from tests.answers import baseline, load_vignettes

VIGNETTES = load_vignettes()


def test_map_names_every_answer_of_the_rules_input_once_in_order():
    assert list(answers.ANSWERS) == [f.name for f in fields(rules.Answers)]
    assert tuple(answers.ANSWERS) == questionnaire.FIELD_NAMES


def test_every_input_name_and_column_is_unique():
    names = [i.name for a in answers.ANSWER_TABLE for i in a.inputs]
    assert len(names) == len(set(names))
    assert len(answers.COLUMNS) == len(set(answers.COLUMNS))


def test_every_answer_is_in_one_known_section():
    assert {a.section for a in answers.ANSWER_TABLE} == set(answers.SECTION_TITLES)
    assert [a for s in answers.SECTIONS for a in s.answers] == list(answers.ANSWER_TABLE)


def test_choice_codes_match_the_rules_enums():
    types = {f.name: f.type for f in fields(rules.Answers)}
    for name, enum in questionnaire.CHOICE_FIELDS.items():
        (inp,) = answers.ANSWERS[name].inputs
        assert [code for code, _ in inp.choices] == [m.value for m in enum], name
        assert types[name] == enum.__name__
    substances = answers.ANSWERS["substances"].inputs[0]
    assert [code for code, _ in substances.choices] == [s.value for s in rules.Substance]


def test_model_has_exactly_one_column_per_map_column():
    assert [f.name for f in ScreeningAnswers._meta.fields] == list(answers.COLUMNS)


@pytest.mark.parametrize("inp", list(answers.INPUTS.values()), ids=lambda i: i.name)
def test_model_column_matches_its_input(inp):
    for column in inp.columns:
        field = Screening._meta.get_field(column)
        if inp.kind is Kind.SCORE:
            assert isinstance(field, dj.PositiveSmallIntegerField)
            assert [v.limit_value for v in field.validators] == [0, inp.maximum]
        elif inp.kind is Kind.CHOICE:
            assert [c for c, _ in field.choices] == [c for c, _ in inp.choices]
        else:
            assert isinstance(field, dj.BooleanField)


def test_model_constrains_every_score_and_choice_column():
    names = {c.name for c in Screening._meta.constraints}
    for inp in answers.INPUTS.values():
        if inp.kind is Kind.SCORE:
            assert f"screening_screening_{inp.name}_range" in names
        if inp.kind is Kind.CHOICE:
            assert f"screening_screening_{inp.name}_valid" in names


def test_form_has_exactly_one_field_per_input():
    form = ScreeningForm()

    # Besides the inputs: the version, and a "None of these" box (not stored) for each checklist where none is an answer.
    assert set(form.fields) - {"version", "dsm5_criteria_none"} == set(answers.INPUTS)


def _sorted_lists(raw: dict) -> dict:
    return {k: sorted(v) if isinstance(v, list) else v for k, v in raw.items()}


@pytest.mark.parametrize("case", VIGNETTES, ids=lambda c: c["name"])
def test_columns_and_raw_round_trip(case):
    raw = case["answers"]

    columns = answers.to_columns(raw)

    assert set(columns) == set(answers.INPUT_COLUMNS) | set(answers.TOTAL_COLUMNS)
    assert _sorted_lists(answers.to_raw(columns)) == _sorted_lists(raw)
    assert _sorted_lists(questionnaire.to_json(questionnaire.parse(answers.to_raw(columns)))) == _sorted_lists(raw)


@pytest.mark.parametrize("case", VIGNETTES, ids=lambda c: c["name"])
def test_form_round_trip_keeps_every_answer(case):
    columns = answers.to_columns(case["answers"])
    screening = Screening(version=1, **columns)
    initial = ScreeningForm.initial_from(screening)
    data = {k: v for k, v in initial.items() if v is not None}

    form = ScreeningForm(data)

    assert form.is_valid(), form.errors
    saved = form.answer_columns()
    assert {k: saved[k] for k in answers.INPUT_COLUMNS} == {k: columns[k] for k in answers.INPUT_COLUMNS}


def test_totals_are_computed_from_complete_items_only():
    values = answers.to_columns(baseline(), items={"phq9": [1] * 9, "gad7": [0, 1, 2, 3, 0, 1, None]})

    totals = answers.compute_totals(values)

    assert totals["phq9_total"] == 9
    assert totals["gad7_total"] is None  # one item unanswered: no total
    assert totals["cows"] is None


def test_item_answers_by_instrument_fill_their_columns():
    columns = answers.to_columns(baseline(), items={"phq9": [0, 0, 0, 0, 0, 0, 0, 0, 2]})

    assert columns["phq9_9"] == 2
    assert columns["phq9_1"] == 0
    assert columns["ciwa_nausea"] is None


@pytest.mark.parametrize(
    ("values", "needed", "not_needed"),
    [
        (
            {"substances": ["alcohol"]},
            {"ciwa_nausea", "ciwa_orientation"},
            {"cows_pulse", "pawss", "daily_sedative_use"},
        ),
        ({"substances": ["opioids"]}, {"cows_pulse"}, {"ciwa_nausea", "daily_sedative_use"}),
        ({"substances": ["sedatives"]}, {"daily_sedative_use"}, {"ciwa_nausea", "cows_pulse"}),
        ({"substances": []}, {"substances"}, {"ciwa_nausea"}),
        ({"cssrs_suicidal_thoughts": True}, {"cssrs_method", "cssrs_intent", "cssrs_plan"}, set()),
        ({"cssrs_suicidal_thoughts": False}, set(), {"cssrs_method", "cssrs_intent", "cssrs_plan"}),
        ({}, {"cssrs_suicidal_thoughts", "readiness", "phq9_1", "gad7_7"}, {"cssrs_plan", "dsm5_criteria"}),
    ],
    ids=["alcohol", "opioids", "sedatives", "no-substance", "thoughts-yes", "thoughts-no", "empty"],
)
def test_missing_names_the_inputs_that_apply(values, needed, not_needed):
    missing = set(answers.missing(values))

    assert needed <= missing
    assert not (not_needed & missing)


def test_clear_inapplicable_clears_scales_and_closes_follow_ups():
    values = {
        "substances": ["opioids"],
        "ciwa_nausea": 3,
        "pawss": 5,
        "cows_pulse": 2,
        "daily_sedative_use": None,
        "cssrs_suicidal_thoughts": False,
        "cssrs_method": None,
        "cssrs_plan": True,
    }

    cleared = answers.clear_inapplicable(values)

    assert cleared["ciwa_nausea"] is None and cleared["pawss"] is None
    assert cleared["cows_pulse"] == 2
    assert cleared["daily_sedative_use"] is False
    assert cleared["cssrs_method"] is False
    assert cleared["cssrs_plan"] is True  # a yes after a no stays, for the parser to report


def test_unanswered_follow_ups_stay_open_until_the_question_is_answered():
    values = answers.clear_inapplicable({"substances": ["alcohol"], "cssrs_suicidal_thoughts": None})

    assert values.get("cssrs_method") is None


@pytest.mark.parametrize("name", [*questionnaire.FIELD_NAMES, *(f"cssrs.{k}" for k in questionnaire.CSSRS_FIELDS)])
def test_every_parse_error_lands_on_a_form_field(name):
    assert answers.error_input(name) in ScreeningForm().fields


def test_display_shows_every_answer_with_labels():
    raw = baseline(mental_health_condition="stable", substances=["alcohol", "sedatives"])

    sections = answers.display(raw)

    assert [title for title, _ in sections] == list(answers.SECTION_TITLES.values())
    rows = dict(row for _, rows in sections for row in rows)
    assert rows["Diagnosed mental-health condition"] == "Diagnosed, stable with treatment"
    assert rows["Substances used regularly in the last 30 days"] == "Alcohol, Sedatives (benzodiazepines, barbiturates)"
    assert rows["Has stable housing"] == "Yes"
    assert rows["COWS total (opioid withdrawal)"] == "not asked"  # opioids not listed (issue 14)
    labels = {label for _, rows in sections for label, _ in rows}
    for a in answers.ANSWER_TABLE:
        assert a.label in labels or all(i.label in labels for i in a.inputs), a.name


def test_every_column_has_a_label():
    for column in answers.COLUMNS:
        assert answers.column_label(column)


def test_fhir_questionnaire_has_an_item_per_answer_and_input():
    link_ids = set()

    def walk(items):
        for item in items:
            link_ids.add(item["linkId"])
            walk(item.get("item", []))

    walk(fhir.questionnaire()["item"])

    for name in questionnaire.FIELD_NAMES:
        assert name in link_ids or f"section.{name}" in link_ids, name
    for name in answers.INPUT_COLUMNS:
        assert name in link_ids or name in answers.ANSWER_OF_COLUMN or name.startswith(("substance_", "dsm5_")), name


def test_exports_carry_every_answer_and_item():
    for name in questionnaire.FIELD_NAMES:
        if name == "cssrs":
            assert all(f"cssrs.{k}" in exports.PLAIN_COLUMNS for k in questionnaire.CSSRS_FIELDS)
        else:
            assert name in exports.PLAIN_COLUMNS, name
    for inputs in answers.INSTRUMENTS.values():
        assert all(i.name in exports.PLAIN_COLUMNS for i in inputs)


def test_identifiers_never_reach_a_deidentified_export():
    # No answer of §2 identifies the person today, so a de-identified export carries them all; an
    # answer marked as an identifier must leave the de-identified columns (Safe Harbor) before this passes.
    deidentified = set(exports.columns(deidentified=True))

    for a in answers.ANSWER_TABLE:
        names = {f"cssrs.{k}" for k in questionnaire.CSSRS_FIELDS} if a.name == "cssrs" else {a.name}
        assert (names & deidentified == set()) if a.identifier else names <= deidentified, a.name


def test_every_band_of_the_rules_has_one_answer_and_a_row_in_the_scores_table():
    rec = rules.evaluate(questionnaire.parse(baseline())).to_dict()

    rows = answers.scores(baseline(), rec["bands"])

    assert set(answers.BANDED) == set(rec["bands"]) == set(answers.BAND_KEYS)
    assert [name for name, _, _ in rows] == [
        "PHQ-9",
        "PHQ-9 item 9 (thoughts of death or self-harm)",  # unbanded: the safety flags read it (issue 14)
        "GAD-7",
        "CIWA-Ar",
        "COWS",
        "PAWSS",
        "DSM-5 criteria met",
        "C-SSRS screener risk",
    ]
    by_name = {name: (score, band) for name, score, band in rows}
    assert by_name["DSM-5 criteria met"] == (3, "mild")
    assert by_name["C-SSRS screener risk"] == (None, "none")
    assert by_name["COWS"] == (None, None)
    assert by_name["PHQ-9 item 9 (thoughts of death or self-harm)"] == (0, "")
    assert set(exports.BAND_KEYS) == set(answers.BAND_KEYS)
