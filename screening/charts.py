"""SVG chart geometry for server-drawn charts (the dashboard's). Numbers only, no markup and no queries:
templates draw what these return, `dashboard.py` supplies the figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 720, 260, 48, 36, 12
# Colours pass WCAG 3:1 against white for graphical objects; each series also has its own legend
# entry and a table beside the chart, so colour is never the only carrier.
BLUE, ORANGE, PLUM = "#1b6ca8", "#b35c00", "#8e2a4c"
LEVEL_FILL = {"iop": BLUE, "residential": ORANGE, "inpatient": PLUM}


def nice_max(value: int) -> int:
    """The smallest 1-2-5 × 10^k at or above value (at least 1), for the y axis."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return max(m * step, 1)
        step *= 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    fill: str
    label: str
    partial: bool = False  # a week the range counts fewer than 7 days of: drawn faded, marked "partial"


PARTIAL_NOTE = "Partial week (fewer than 7 days counted)"


def stacked_bars(
    weeks: list[tuple[dt.date, dict[str, int]]], labels: dict[str, str], *, partial: dict[dt.date, int] | None = None
) -> dict:
    """Rects for counts per level per week, stacked from the axis in the order of `labels` (key → name). A week in
    `partial` (week → days counted) is marked as such, so that a short first or last bar does not read as a drop."""
    partial = partial or {}
    top = nice_max(max((sum(c.values()) for _, c in weeks), default=0))
    plot_w, plot_h = CHART_W - PAD_L - 8, CHART_H - PAD_B - PAD_T
    slot = plot_w / max(len(weeks), 1)
    bar_w = max(slot * 0.7, 1)
    bars, ticks, marks = [], [], []
    for i, (week, counts) in enumerate(weeks):
        x = PAD_L + i * slot + (slot - bar_w) / 2
        base = PAD_T + plot_h
        is_partial = week in partial
        when = f"Week of {week:%b} {week.day}" + (f" (partial: {partial[week]} of 7 days)" if is_partial else "")
        for key, label in labels.items():
            h = plot_h * counts[key] / top
            if h:
                base -= h
                text = f"{when}: {counts[key]} {label}"
                bars.append(
                    Bar(round(x, 1), round(base, 1), round(bar_w, 1), round(h, 1), LEVEL_FILL[key], text, is_partial)
                )
        if is_partial:
            marks.append((round(x + bar_w / 2, 1), round(base - 4, 1), "partial"))
        if len(weeks) <= 16 or i % max(len(weeks) // 12, 1) == 0:
            ticks.append((round(x + bar_w / 2, 1), f"{week:%b} {week.day}"))
    step = max(top // 5, 1)  # top is 1, 2 or 5 × 10^k, so the steps are whole numbers
    grid = [(round(PAD_T + plot_h * (1 - v / top), 1), v) for v in range(0, top + 1, step)]
    frame = dict(w=CHART_W, h=CHART_H, left=PAD_L, right=CHART_W - 8, axis_y=PAD_T + plot_h, label_y=CHART_H - 12)
    legend = [(label, LEVEL_FILL[key]) for key, label in labels.items()]
    notes = [(PARTIAL_NOTE, "partial")] if marks else []
    return dict(frame, bars=bars, ticks=ticks, grid=grid, legend=legend, marks=marks, notes=notes)


def hbars(items: list[tuple[str, float, str]], *, maximum: float | None = None, fill: str = BLUE) -> dict:
    """Horizontal bars, one row per (label, value, value as text); labels drawn left of the bars."""
    row, label_w, width = 26, 230, 720
    top = maximum or max((v for _, v, _ in items), default=0) or 1
    longest = width - label_w - 80
    rows = []
    for i, (label, value, text) in enumerate(items):
        y = 6 + i * row
        w = longest * value / top
        rows.append(
            dict(label=label, text=text, y=y, text_y=y + row / 2, w=round(w, 1), text_x=round(label_w + 6 + w, 1))
        )
    return dict(w=width, h=12 + row * len(items), rows=rows, label_x=label_w - 8, x=label_w, bar_h=row - 8, fill=fill)
