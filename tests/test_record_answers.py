"""The record's answers as people read them (issue 14): item by item, and "not asked" where a question did not
apply — never a "No" the person was not asked."""

import pytest

from screening import answers
from tests.answers import baseline

PHQ9 = [1, 2, 0, 1, 0, 0, 1, 0, 2]


def rows_of(raw, columns=None) -> dict[str, str]:
    return {label: text for _, rows in answers.display_rows(raw, columns) for label, text, _ in rows}


def test_display_rows_show_item_answers_under_their_total():
    raw = baseline(phq9_total=7, phq9_item9=2)
    columns = answers.to_columns(raw, {"phq9": PHQ9})

    sections = dict(answers.display_rows(raw, columns))

    mental = sections["Mental health and safety"]
    labels = [label for label, _, _ in mental]
    total = labels.index("PHQ-9 total (depression)")
    assert labels[total + 1 : total + 10] == [
        f"PHQ-9 item {n}: {i.label}" for n, i in enumerate(answers.INSTRUMENTS["phq9_total"], 1)
    ]
    assert [text for _, text, item in mental if item][:9] == [str(v) for v in PHQ9]
    assert all(item for _, _, item in mental[total + 1 : total + 10])
    # Item 9 is shown once, among its instrument's items.
    assert "PHQ-9 item 9 (thoughts of death or self-harm)" not in labels


def test_display_rows_without_item_answers_show_the_total_and_item_9():
    raw = baseline(phq9_total=7, phq9_item9=2)

    shown = rows_of(raw, answers.to_columns(raw))  # a record entered as totals (no items)

    assert shown["PHQ-9 total (depression)"] == "7"
    assert shown["PHQ-9 item 9 (thoughts of death or self-harm)"] == "2"
    assert not any(label.startswith("PHQ-9 item 1") for label in shown)


@pytest.mark.parametrize("key", ["method", "intent", "plan"])
def test_cssrs_follow_ups_never_asked_read_not_asked(key):
    raw = baseline(cssrs__wish_dead=True)  # Q2 no: Q3-Q5 are not asked (stored as false)

    shown = rows_of(raw)

    label = answers.INPUTS[f"cssrs_{key}"].label
    assert shown[label] == "not asked"
    assert answers.display(raw)[3][1][[lbl for lbl, _ in answers.display(raw)[3][1]].index(label)][1] == "not asked"


def test_cssrs_follow_ups_asked_read_their_answer():
    raw = baseline(cssrs__suicidal_thoughts=True, cssrs__method=True)

    shown = rows_of(raw)

    assert shown[answers.INPUTS["cssrs_method"].label] == "Yes"
    assert shown[answers.INPUTS["cssrs_plan"].label] == "No"


def test_scales_of_substances_not_listed_read_not_asked():
    raw = baseline(substances=["cannabis"], ciwa_ar=None, pawss=None)

    shown = rows_of(raw)

    assert shown["CIWA-Ar total (alcohol withdrawal)"] == "not asked"
    assert shown["COWS total (opioid withdrawal)"] == "not asked"
    assert shown["PAWSS total (risk of complicated alcohol withdrawal)"] == "not asked"
    assert shown["Daily benzodiazepine or barbiturate use"] == "not asked"  # stored false, never asked
    assert shown["Ever had a withdrawal seizure or delirium tremens"] == "No"


def test_an_optional_scale_that_applies_but_was_left_blank_reads_not_answered():
    shown = rows_of(baseline(pawss=None))

    assert shown["PAWSS total (risk of complicated alcohol withdrawal)"] == "not answered"


def test_display_without_answers_is_empty():
    assert answers.display_rows(None) == [] and answers.display({}) == []
