import pytest

from screening import instruments as ins
from screening.instruments import Cssrs, CssrsBehavior

# (function, total, expected band) on both sides of every boundary of DESIGN.md §3.
BOUNDARIES = [
    (ins.phq9_band, 0, "minimal"),
    (ins.phq9_band, 4, "minimal"),
    (ins.phq9_band, 5, "mild"),
    (ins.phq9_band, 9, "mild"),
    (ins.phq9_band, 10, "moderate"),
    (ins.phq9_band, 14, "moderate"),
    (ins.phq9_band, 15, "moderately_severe"),
    (ins.phq9_band, 19, "moderately_severe"),
    (ins.phq9_band, 20, "severe"),
    (ins.phq9_band, 27, "severe"),
    (ins.gad7_band, 0, "minimal"),
    (ins.gad7_band, 4, "minimal"),
    (ins.gad7_band, 5, "mild"),
    (ins.gad7_band, 9, "mild"),
    (ins.gad7_band, 10, "moderate"),
    (ins.gad7_band, 14, "moderate"),
    (ins.gad7_band, 15, "severe"),
    (ins.gad7_band, 21, "severe"),
    (ins.ciwa_ar_band, 0, "mild"),
    (ins.ciwa_ar_band, 9, "mild"),
    (ins.ciwa_ar_band, 10, "moderate"),
    (ins.ciwa_ar_band, 18, "moderate"),
    (ins.ciwa_ar_band, 19, "severe"),
    (ins.ciwa_ar_band, 67, "severe"),
    (ins.cows_band, 0, "none"),
    (ins.cows_band, 4, "none"),
    (ins.cows_band, 5, "mild"),
    (ins.cows_band, 12, "mild"),
    (ins.cows_band, 13, "moderate"),
    (ins.cows_band, 24, "moderate"),
    (ins.cows_band, 25, "moderately_severe"),
    (ins.cows_band, 36, "moderately_severe"),
    (ins.cows_band, 37, "severe"),
    (ins.cows_band, 48, "severe"),
    (ins.dsm5_band, 0, "none"),
    (ins.dsm5_band, 1, "none"),
    (ins.dsm5_band, 2, "mild"),
    (ins.dsm5_band, 3, "mild"),
    (ins.dsm5_band, 4, "moderate"),
    (ins.dsm5_band, 5, "moderate"),
    (ins.dsm5_band, 6, "severe"),
    (ins.dsm5_band, 11, "severe"),
    (ins.pawss_band, 0, "low"),
    (ins.pawss_band, 3, "low"),
    (ins.pawss_band, 4, "high"),
    (ins.pawss_band, 10, "high"),
]


@pytest.mark.parametrize(("band", "total", "expected"), BOUNDARIES, ids=[f"{b.__name__}-{t}" for b, t, _ in BOUNDARIES])
def test_band_boundaries(band, total, expected):
    assert band(total) == expected


OUT_OF_RANGE = [
    (ins.phq9_band, -1),
    (ins.phq9_band, 28),
    (ins.gad7_band, 22),
    (ins.ciwa_ar_band, 68),
    (ins.cows_band, 49),
    (ins.dsm5_band, 12),
    (ins.pawss_band, 11),
    (ins.phq9_band, True),
    (ins.gad7_band, 3.0),
]


@pytest.mark.parametrize(("band", "total"), OUT_OF_RANGE, ids=[f"{b.__name__}-{t!r}" for b, t in OUT_OF_RANGE])
def test_band_rejects_out_of_range(band, total):
    with pytest.raises(ValueError):
        band(total)


@pytest.mark.parametrize("band", [ins.ciwa_ar_band, ins.cows_band, ins.pawss_band])
def test_optional_band_is_none_when_not_assessed(band):
    assert band(None) is None


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
