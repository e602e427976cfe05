import pytest

from screening import instruments as ins
from screening.instruments import Cssrs, CssrsBehavior

# (lookup table, total, expected band) on both sides of every boundary of DESIGN.md §3.
PHQ9, GAD7, CIWA, COWS = (
    ins.PHQ9_BAND_BY_TOTAL,
    ins.GAD7_BAND_BY_TOTAL,
    ins.CIWA_AR_BAND_BY_TOTAL,
    ins.COWS_BAND_BY_TOTAL,
)
DSM5, PAWSS = ins.DSM5_BAND_BY_COUNT, ins.PAWSS_BAND_BY_TOTAL
BOUNDARIES = [
    ("phq9", PHQ9, 0, "minimal"),
    ("phq9", PHQ9, 4, "minimal"),
    ("phq9", PHQ9, 5, "mild"),
    ("phq9", PHQ9, 9, "mild"),
    ("phq9", PHQ9, 10, "moderate"),
    ("phq9", PHQ9, 14, "moderate"),
    ("phq9", PHQ9, 15, "moderately_severe"),
    ("phq9", PHQ9, 19, "moderately_severe"),
    ("phq9", PHQ9, 20, "severe"),
    ("phq9", PHQ9, 27, "severe"),
    ("gad7", GAD7, 0, "minimal"),
    ("gad7", GAD7, 4, "minimal"),
    ("gad7", GAD7, 5, "mild"),
    ("gad7", GAD7, 9, "mild"),
    ("gad7", GAD7, 10, "moderate"),
    ("gad7", GAD7, 14, "moderate"),
    ("gad7", GAD7, 15, "severe"),
    ("gad7", GAD7, 21, "severe"),
    ("ciwa_ar", CIWA, 0, "mild"),
    ("ciwa_ar", CIWA, 9, "mild"),
    ("ciwa_ar", CIWA, 10, "moderate"),
    ("ciwa_ar", CIWA, 18, "moderate"),
    ("ciwa_ar", CIWA, 19, "severe"),
    ("ciwa_ar", CIWA, 67, "severe"),
    ("cows", COWS, 0, "none"),
    ("cows", COWS, 4, "none"),
    ("cows", COWS, 5, "mild"),
    ("cows", COWS, 12, "mild"),
    ("cows", COWS, 13, "moderate"),
    ("cows", COWS, 24, "moderate"),
    ("cows", COWS, 25, "moderately_severe"),
    ("cows", COWS, 36, "moderately_severe"),
    ("cows", COWS, 37, "severe"),
    ("cows", COWS, 48, "severe"),
    ("dsm5", DSM5, 0, "none"),
    ("dsm5", DSM5, 1, "none"),
    ("dsm5", DSM5, 2, "mild"),
    ("dsm5", DSM5, 3, "mild"),
    ("dsm5", DSM5, 4, "moderate"),
    ("dsm5", DSM5, 5, "moderate"),
    ("dsm5", DSM5, 6, "severe"),
    ("dsm5", DSM5, 11, "severe"),
    ("pawss", PAWSS, 0, "low"),
    ("pawss", PAWSS, 3, "low"),
    ("pawss", PAWSS, 4, "high"),
    ("pawss", PAWSS, 10, "high"),
]


@pytest.mark.parametrize(
    ("name", "table", "total", "expected"), BOUNDARIES, ids=[f"{n}-{t}" for n, _, t, _ in BOUNDARIES]
)
def test_band_boundaries(name, table, total, expected):
    assert table[total] == expected


@pytest.mark.parametrize(
    ("table", "maximum"),
    [(PHQ9, 27), (GAD7, 21), (CIWA, 67), (COWS, 48), (DSM5, 11), (PAWSS, 10)],
    ids=["phq9", "gad7", "ciwa_ar", "cows", "dsm5", "pawss"],
)
def test_band_table_covers_exactly_the_valid_totals(table, maximum):
    # The questionnaire rejects totals outside 0..maximum before any lookup.
    assert len(table) == maximum + 1


def test_band_table_labels_each_total_from_its_band_start():
    assert ins.band_table(((0, "a"), (2, "b"), (3, "c")), 4) == ("a", "a", "b", "c", "c")


def test_instrument_maxima_match_design():
    assert (ins.CIWA_AR_MAX, ins.COWS_MAX, ins.PAWSS_MAX, ins.PHQ9_MAX, ins.GAD7_MAX) == (67, 48, 10, 27, 21)
    assert [i.max_score for i in ins.COWS_ITEMS] == [4, 4, 5, 5, 4, 4, 5, 4, 4, 4, 5]


@pytest.mark.parametrize(
    ("score", "items", "expected"),
    [
        (ins.phq9_score, [0] * 9, 0),
        (ins.phq9_score, [3] * 9, 27),
        (ins.phq9_score, [1, 2, 0, 0, 0, 0, 0, 0, 1], 4),
        (ins.gad7_score, [3] * 7, 21),
        (ins.ciwa_ar_score, [7] * 9 + [4], 67),
        (ins.cows_score, [4, 4, 5, 5, 4, 4, 5, 4, 4, 4, 5], 48),
        (ins.pawss_score, [1] * 10, 10),
    ],
    ids=["phq9-zero", "phq9-max", "phq9-mixed", "gad7-max", "ciwa-max", "cows-max", "pawss-max"],
)
def test_scores_sum_items(score, items, expected):
    assert score(items) == expected


@pytest.mark.parametrize(
    ("score", "items"),
    [
        (ins.phq9_score, [4] + [0] * 8),
        (ins.phq9_score, [0] * 8),
        (ins.ciwa_ar_score, [0] * 9 + [5]),
        (ins.cows_score, [5] + [0] * 10),
        (ins.cows_score, [0] * 10 + [6]),
        (ins.pawss_score, [2] + [0] * 9),
        (ins.gad7_score, [-1] + [0] * 6),
        (ins.gad7_score, [True] + [0] * 6),
    ],
    ids=[
        "phq9-item-4",
        "phq9-8-items",
        "ciwa-orientation-5",
        "cows-pulse-5",
        "cows-gooseflesh-6",
        "pawss-2",
        "gad7-negative",
        "gad7-bool",
    ],
)
def test_scores_reject_item_out_of_range(score, items):
    with pytest.raises(ValueError):
        score(items)


def _cssrs(**kw):
    base = dict(
        wish_dead=False, suicidal_thoughts=False, method=False, intent=False, plan=False, behavior=CssrsBehavior.NEVER
    )
    base.update(kw)
    return Cssrs(**base)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({}, "none"),
        ({"wish_dead": True}, "low"),
        ({"suicidal_thoughts": True}, "low"),
        ({"suicidal_thoughts": True, "method": True}, "moderate"),
        ({"behavior": CssrsBehavior.OVER_3_MONTHS}, "moderate"),
        ({"suicidal_thoughts": True, "intent": True}, "high"),
        ({"suicidal_thoughts": True, "plan": True}, "high"),
        ({"behavior": CssrsBehavior.PAST_3_MONTHS}, "high"),
        ({"wish_dead": True, "behavior": CssrsBehavior.OVER_3_MONTHS}, "moderate"),
    ],
    ids=["none", "q1", "q2", "q3", "behaviour-old", "q4", "q5", "behaviour-recent", "highest-wins"],
)
def test_cssrs_risk_is_highest_match(answers, expected):
    assert ins.cssrs_risk(_cssrs(**answers)) == expected
