"""Dashboard numbers and server-drawn SVG charts (issue 4).

Three aggregate queries over the chosen range, whatever its size: one GROUP BY over (week,
recommended, final, decision, reason, clinician) whose few hundred rows feed every count and rate,
one for the flag counts, and one for the median time to signature. The rest is pure Python over
those rows, tested against hand-computed numbers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Count, DateField, Func, IntegerField, Q
from django.db.models.functions import TruncWeek

from .models import FLAG_FIELDS, Level, Screening

LEVELS = tuple(Level.values)
LEVEL_LABELS = dict(Level.choices)
REASON_LABELS = dict(Screening.OverrideReason.choices)
# Colours pass WCAG 3:1 against white for graphical objects; each level also has its own pattern-free
# legend entry and the table beside the chart, so colour is never the only carrier.
LEVEL_FILL = {"iop": "#1b6ca8", "residential": "#b35c00", "inpatient": "#8e2a4c"}


@dataclass(frozen=True)
class Rate:
    label: str
    overridden: int
    decided: int

    @property
    def percent(self) -> float | None:
        return 100 * self.overridden / self.decided if self.decided else None


@dataclass
class Dashboard:
    start: dt.date
    end: dt.date
    total: int = 0
    weeks: list[tuple[dt.date, dict[str, int]]] = field(default_factory=list)
    overall: Rate = Rate("All clinicians", 0, 0)
    by_clinician: list[Rate] = field(default_factory=list)
    by_reason: list[tuple[str, int]] = field(default_factory=list)
    matrix: dict[str, dict[str, int]] = field(default_factory=dict)
    flags: list[tuple[str, int]] = field(default_factory=list)
    signed: int = 0
    median_to_signature: dt.timedelta | None = None

    def matrix_rows(self) -> list[tuple[str, list[int], int]]:
        return [(a, [self.matrix[a][b] for b in LEVELS], sum(self.matrix[a].values())) for a in LEVELS]


def summarize(rows, usernames: dict[int, str], start: dt.date, end: dt.date) -> Dashboard:
    """Everything but flags and the median, from grouped rows (dicts with week, recommended_level,
    final_level, decision, override_reason, clinician_id, n)."""
    d = Dashboard(start, end)
    per_week: dict[dt.date, Counter] = defaultdict(Counter)
    decided: Counter = Counter()
    overridden: Counter = Counter()
    reasons: Counter = Counter()
    d.matrix = {a: dict.fromkeys(LEVELS, 0) for a in LEVELS}
    for r in rows:
        n = r["n"]
        d.total += n
        week = r["week"].date() if isinstance(r["week"], dt.datetime) else r["week"]
        per_week[week][r["recommended_level"]] += n
        if r["decision"]:
            who = r["clinician_id"]
            decided[who] += n
            d.matrix[r["recommended_level"]][r["final_level"]] += n
            if r["decision"] == Screening.Decision.OVERRIDDEN:
                overridden[who] += n
                reasons[r["override_reason"]] += n
    d.weeks = [(w, {lv: per_week[w][lv] for lv in LEVELS}) for w in _all_weeks(start, end, per_week)]
    d.overall = Rate("All clinicians", sum(overridden.values()), sum(decided.values()))
    d.by_clinician = sorted(
        (Rate(usernames.get(who, f"user {who}"), overridden[who], decided[who]) for who in decided),
        key=lambda rate: rate.label,
    )
    d.by_reason = [(REASON_LABELS[code], reasons[code]) for code in REASON_LABELS if reasons[code]]
    d.by_reason.sort(key=lambda item: -item[1])
    return d


def _all_weeks(start: dt.date, end: dt.date, seen) -> list[dt.date]:
    """Every Monday from the week of `start` to the week of `end`, so empty weeks show as empty."""
    monday = start - dt.timedelta(days=start.weekday())
    weeks = []
    while monday <= end:
        weeks.append(monday)
        monday += dt.timedelta(days=7)
    return sorted(set(weeks) | set(seen))


def median_minutes(histogram: dict[int, int]) -> float | None:
    """The median of values given as {minutes: how many}: the middle one, or the mean of the middle two."""
    n = sum(histogram.values())
    if not n:
        return None
    lo, hi = (n - 1) // 2, n // 2
    found: dict[int, int] = {}
    seen = 0
    for minutes in sorted(histogram):
        count = histogram[minutes]
        for position in (lo, hi):
            if seen <= position < seen + count:
                found[position] = minutes
        seen += count
        if hi in found:
            break
    return (found[lo] + found[hi]) / 2


class MinutesBetween(Func):
    """Whole minutes from one datetime to a later one (NULL if either is NULL), on PostgreSQL and SQLite."""

    output_field = IntegerField()

    def __init__(self, start, end):
        super().__init__(end, start)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="FLOOR(EXTRACT(EPOCH FROM (%(expressions)s)) / 60)::integer",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="(CAST(ROUND((julianday(%(expressions)s)) * 86400) AS INTEGER) / 60)",
            arg_joiner=") - julianday(",
            **extra,
        )


def build(queryset, start: dt.date, end: dt.date) -> Dashboard:
    """The dashboard for completed or signed screenings of `queryset` (already limited to the range)."""
    qs = queryset.completed_or_signed().order_by()
    rows = list(
        qs.annotate(week=TruncWeek("created_at", output_field=DateField()))
        .values("week", "recommended_level", "final_level", "decision", "override_reason", "clinician_id")
        .annotate(n=Count("id"))
    )
    ids = {r["clinician_id"] for r in rows}
    usernames = dict(get_user_model().objects.filter(id__in=ids).values_list("id", "username")) if ids else {}
    d = summarize(rows, usernames, start, end)

    # One more pass gives the flag counts and, grouped by whole minutes to signature (a few hundred
    # groups), the median — without sorting the range.
    buckets = list(
        qs.annotate(minutes=MinutesBetween("created_at", "signed_at"))
        .values("minutes")
        .annotate(n=Count("id"), **{code: Count("id", filter=Q(**{name: True})) for code, name in FLAG_FIELDS.items()})
    )
    flags = Counter()
    histogram: dict[int, int] = {}
    for b in buckets:
        minutes, n = b.pop("minutes"), b.pop("n")
        flags.update(b)
        if minutes is not None:
            histogram[minutes] = histogram.get(minutes, 0) + n
    d.flags = sorted(((code.replace("_", " ").capitalize(), flags[code]) for code in FLAG_FIELDS), key=lambda i: -i[1])
    d.signed = sum(histogram.values())
    middle = median_minutes(histogram)
    d.median_to_signature = None if middle is None else dt.timedelta(minutes=middle)
    return d


# --- SVG geometry. Templates draw what these return; numbers only, no markup here.

CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 720, 260, 48, 36, 12


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


def stacked_bars(weeks: list[tuple[dt.date, dict[str, int]]]) -> dict:
    """Rects for screenings per level per week, stacked iop → residential → inpatient from the axis."""
    top = nice_max(max((sum(c.values()) for _, c in weeks), default=0))
    plot_w, plot_h = CHART_W - PAD_L - 8, CHART_H - PAD_B - PAD_T
    slot = plot_w / max(len(weeks), 1)
    bar_w = max(slot * 0.7, 1)
    bars, ticks = [], []
    for i, (week, counts) in enumerate(weeks):
        x = PAD_L + i * slot + (slot - bar_w) / 2
        base = PAD_T + plot_h
        for level in LEVELS:
            h = plot_h * counts[level] / top
            if h:
                base -= h
                bars.append(
                    Bar(
                        round(x, 1),
                        round(base, 1),
                        round(bar_w, 1),
                        round(h, 1),
                        LEVEL_FILL[level],
                        f"Week of {week:%b} {week.day}: {counts[level]} {LEVEL_LABELS[level]}",
                    )
                )
        if len(weeks) <= 16 or i % max(len(weeks) // 12, 1) == 0:
            ticks.append((round(x + bar_w / 2, 1), f"{week:%b} {week.day}"))
    step = max(top // 5, 1)  # top is 1, 2 or 5 × 10^k, so the steps are whole numbers
    grid = [(round(PAD_T + plot_h * (1 - v / top), 1), v) for v in range(0, top + 1, step)]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "bars": bars,
        "ticks": ticks,
        "grid": grid,
        "left": PAD_L,
        "right": CHART_W - 8,
        "axis_y": PAD_T + plot_h,
        "label_y": CHART_H - 12,
        "legend": [(LEVEL_LABELS[lv], LEVEL_FILL[lv]) for lv in LEVELS],
    }


def hbars(items: list[tuple[str, float, str]], *, maximum: float | None = None, fill: str = "#1b6ca8") -> dict:
    """Horizontal bars, one row per (label, value, value as text); labels drawn left of the bars."""
    row, label_w, width = 26, 230, 720
    top = maximum or max((v for _, v, _ in items), default=0) or 1
    rows = [
        {
            "label": label,
            "text": text,
            "y": 6 + i * row,
            "text_y": 6 + i * row + row / 2,
            "w": round((width - label_w - 80) * value / top, 1),
            "text_x": round(label_w + 6 + (width - label_w - 80) * value / top, 1),
        }
        for i, (label, value, text) in enumerate(items)
    ]
    return {
        "w": width,
        "h": 12 + row * len(items),
        "rows": rows,
        "label_x": label_w - 8,
        "x": label_w,
        "bar_h": row - 8,
        "fill": fill,
    }
