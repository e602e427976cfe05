"""Reassessment (issue 14, item 6): the carry-over policy of the answer map, the services that start a reassessment
and keep its confirmations, and the questionnaire page."""

from __future__ import annotations

import pytest

from screening import answers

# The lists, written out here rather than read from the map: the map must agree with them.
CARRIED = {
    "dsm5_criteria",
    "withdrawal_seizure_or_dt_history",
    "relapse_after_outpatient_12mo",
    "recent_higher_level_care",
    "mental_health_condition",
    # The home-and-life section, whole.
    "lives_with_substance_users",
    "home_safe",
    "stable_housing",
    "supportive_network",
    "work_or_school_commitments",
    "family_commitments",
    "can_attend_9h_week",
}
NEVER = {
    "substances",
    "ciwa_ar",
    "cows",
    "pawss",
    "phq9_total",
    "phq9_item9",
    "gad7_total",
    "cssrs",
    "homicidal_ideation",
    "psychotic_symptoms",
    "complicated_withdrawal_now",
    "unstable_medical_condition",
    "pregnant",
    "daily_sedative_use",
    "readiness",
}


def test_policy_lists_cover_every_answer_once():
    assert set(answers.ANSWERS) == CARRIED | NEVER and not CARRIED & NEVER


@pytest.mark.parametrize("name", sorted(answers.ANSWERS), ids=str)
def test_answer_carries_over_only_when_history_or_circumstances(name):
    expected = name in CARRIED

    assert answers.ANSWERS[name].carries_over is expected


def test_home_and_life_section_carries_over_whole():
    (home,) = [s for s in answers.SECTIONS if s.key == "home"]

    assert all(a.carries_over for a in home.answers)


def test_carried_sections_in_questionnaire_order():
    assert list(answers.CARRIED_SECTIONS) == ["substances", "severity", "mental_health", "readiness", "home"]
    assert [i.name for i in answers.CARRIED_SECTIONS["readiness"]] == [
        "relapse_after_outpatient_12mo",
        "recent_higher_level_care",
    ]


def _signed_columns(**changes) -> dict:
    from tests.answers import baseline

    columns = answers.to_columns(baseline(**changes), {"phq9": [1] * 9, "gad7": [1] * 7})
    columns.update(answers.compute_totals(columns))
    return columns


def test_carry_over_copies_carried_columns_and_nothing_else():
    source = _signed_columns(
        supportive_network=False, relapse_after_outpatient_12mo=True, mental_health_condition="stable"
    )

    carried = answers.carry_over(source)

    carried_columns = {c for i in answers.CARRIED_INPUTS for c in i.columns}
    assert set(carried.columns) == carried_columns
    assert all(carried.columns[c] == source[c] for c in carried_columns)
    never_columns = {c for a in NEVER for i in answers.ANSWERS[a].inputs for c in i.columns}
    assert not never_columns & set(carried.columns)
    assert carried.columns["supportive_network"] is False and carried.columns["mental_health_condition"] == "stable"
    assert carried.sections == tuple(answers.CARRIED_SECTIONS)


def test_carry_over_of_no_dsm5_criteria_is_none_of_these():
    carried = answers.carry_over(_signed_columns(dsm5_criteria=[]))

    assert carried.none_ticked == ("dsm5_criteria",)
    assert "severity" in carried.sections


def test_carry_over_of_some_dsm5_criteria_is_not_none():
    carried = answers.carry_over(_signed_columns())

    assert carried.none_ticked == ()
    assert carried.columns["dsm5_craving"] is True


def test_carry_over_leaves_out_a_section_with_nothing_given():
    source = _signed_columns()
    for inp in answers.CARRIED_SECTIONS["readiness"]:
        source[inp.name] = None

    carried = answers.carry_over(source)

    assert "readiness" not in carried.sections and "home" in carried.sections


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["home_safe"], {"home"}),
        (["dsm5_craving"], {"severity"}),  # a checklist's column
        (["dsm5_criteria"], {"severity"}),  # or its input
        (["withdrawal_seizure_or_dt_history", "substance_alcohol"], {"substances"}),
        (["substance_alcohol", "ciwa_nausea", "pregnant", "readiness"], set()),  # fresh questions confirm nothing
        (["recent_higher_level_care", "can_attend_9h_week"], {"readiness", "home"}),
    ],
    ids=["home", "dsm5-column", "dsm5-input", "withdrawal-history", "fresh-only", "two-sections"],
)
def test_changing_a_carried_answer_confirms_its_section(changed, expected):
    assert answers.confirmed_by_change(changed, answers.CARRIED_SECTIONS) == expected


def test_change_confirms_only_sections_that_were_carried():
    assert answers.confirmed_by_change(["home_safe"], ["severity"]) == set()


def test_unconfirmed_in_questionnaire_order():
    assert answers.unconfirmed(["home", "severity", "readiness"], ["readiness"]) == ["severity", "home"]
    assert answers.unconfirmed([], []) == []
