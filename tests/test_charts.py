"""Chart geometry: axis rounding, stacked bars, horizontal bars. Pure numbers, no database."""

import datetime as dt

import pytest

from screening import charts

MONDAY = dt.date(2026, 11, 2)
LEVELS = {"iop": "IOP", "residential": "Residential", "inpatient": "Inpatient"}


@pytest.mark.parametrize(("value", "expected"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (120, 200), (501, 1000)])
def test_nice_max_rounds_up_to_1_2_5(value, expected):
    assert charts.nice_max(value) == expected


@pytest.mark.parametrize(("peak", "labels"), [(2, [0, 1, 2]), (4, [0, 1, 2, 3, 4, 5]), (37, [0, 10, 20, 30, 40, 50])])
def test_stacked_bars_grid_labels_are_whole_steps(peak, labels):
    chart = charts.stacked_bars([(MONDAY, {"iop": peak, "residential": 0, "inpatient": 0})], LEVELS)

    assert [v for _, v in chart["grid"]] == labels


def test_stacked_bars_heights_are_proportional():
    chart = charts.stacked_bars([(MONDAY, {"iop": 5, "residential": 0, "inpatient": 5})], LEVELS)

    iop, inpatient = chart["bars"]
    assert iop.h == inpatient.h
    assert iop.y > inpatient.y  # iop at the bottom, inpatient stacked above
    assert round(iop.h + inpatient.h, 1) == chart["axis_y"] - 12  # 10 of a 10-high axis fills the plot


def test_stacked_bars_legend_and_fills_follow_the_series_order():
    chart = charts.stacked_bars([(MONDAY, {"iop": 1, "residential": 1, "inpatient": 1})], LEVELS)

    assert chart["legend"] == [(label, charts.LEVEL_FILL[key]) for key, label in LEVELS.items()]
    assert [b.fill for b in chart["bars"]] == [charts.BLUE, charts.ORANGE, charts.PLUM]
    assert chart["bars"][0].label == "Week of Nov 2: 1 IOP"


def test_hbars_scale_to_the_largest_value_or_the_given_maximum():
    own = charts.hbars([("a", 10, "10"), ("b", 5, "5")])
    percent = charts.hbars([("a", 50, "50%")], maximum=100)

    assert own["rows"][0]["w"] == 2 * own["rows"][1]["w"]
    assert percent["rows"][0]["w"] == own["rows"][1]["w"]
    assert own["h"] == 12 + 26 * 2
