"""Dashboard numbers (issue 4); `charts.py` draws them.

A few aggregate queries over the chosen range, whatever its size: a GROUP BY over (week, recommended,
final, decision, reason, clinician) whose few hundred rows feed every count and rate, and one grouped by
minutes to signature for the flag counts and the median. The rest is pure Python over those rows.

Each episode counts once (issue 15): a screening corrected by an amendment that has since been completed
is left out, so an episode counts as its latest completed or signed version, in the week that version was
started (`latest_versions`).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import accumulate

from django.contrib.auth import get_user_model
from django.db.models import Count, DateField, Exists, Func, IntegerField, OuterRef, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from .models import FLAG_FIELDS, FLAG_LABELS, Level, Screening

LEVELS = tuple(Level.values)
LEVEL_LABELS = dict(Level.choices)
REASON_LABELS = dict(Screening.OverrideReason.choices)


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
    partial: dict[dt.date, int] = field(default_factory=dict)  # week → its days counted, where fewer than 7
    overrides: Counter = field(default_factory=Counter)  # (clinician id, reason code) → overrides
    clinician_ids: dict[str, int] = field(default_factory=dict)  # username → id, of clinicians with decisions

    def overrides_matching(self, *, reason: str = "", clinician_id: int | None = None) -> int:
        """How many overrides in the range have this reason and clinician (either may be left out)."""
        return sum(
            n
            for (who, code), n in self.overrides.items()
            if (not reason or code == reason) and (clinician_id is None or who == clinician_id)
        )

    def matrix_rows(self) -> list[tuple[str, list[int], int]]:
        return [(a, [self.matrix[a][b] for b in LEVELS], sum(self.matrix[a].values())) for a in LEVELS]


def summarize(rows, usernames: dict[int, str], start: dt.date, end: dt.date, *, today: dt.date) -> Dashboard:
    """Everything but flags and the median, from grouped rows (dicts with week, recommended_level,
    final_level, decision, override_reason, clinician_id, n)."""
    d = Dashboard(start, end)
    per_week: dict[dt.date, Counter] = defaultdict(Counter)
    decided, overridden, reasons = Counter(), Counter(), Counter()
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
                d.overrides[(who, r["override_reason"])] += n
    d.weeks = [(w, {lv: per_week[w][lv] for lv in LEVELS}) for w in _all_weeks(start, end, per_week)]
    d.partial = {w: days for w, _ in d.weeks if (days := days_counted(w, start, end, today)) < 7}
    d.overall = Rate("All clinicians", sum(overridden.values()), sum(decided.values()))
    d.by_clinician = sorted(
        (Rate(usernames.get(who, f"user {who}"), overridden[who], decided[who]) for who in decided),
        key=lambda rate: rate.label,
    )
    d.clinician_ids = {usernames[who]: who for who in decided if who in usernames}
    d.by_reason = [(REASON_LABELS[code], reasons[code]) for code in REASON_LABELS if reasons[code]]
    d.by_reason.sort(key=lambda item: -item[1])
    return d


def _all_weeks(start: dt.date, end: dt.date, seen) -> list[dt.date]:
    """Every Monday from the week of `start` to the week of `end`, so empty weeks show as empty."""
    monday = start - dt.timedelta(days=start.weekday())
    weeks = {monday + dt.timedelta(weeks=k) for k in range((end - monday).days // 7 + 1)}
    return sorted(weeks | set(seen))


def days_counted(monday: dt.date, start: dt.date, end: dt.date, today: dt.date) -> int:
    """How many days of the week starting `monday` the range counts: those between start and end that are over
    (today is not over yet). A bar of fewer than 7 days is a partial week, not a drop."""
    first, last = max(monday, start), min(monday + dt.timedelta(days=6), end, today - dt.timedelta(days=1))
    return max((last - first).days + 1, 0)


def median_minutes(histogram: dict[int, int]) -> float | None:
    """The median of values given as {minutes: how many}: the middle one, or the mean of the middle two."""
    values = sorted(histogram)
    up_to = list(accumulate(histogram[v] for v in values))  # how many values are at or below each
    n = up_to[-1] if up_to else 0
    if not n:
        return None
    return (values[bisect_right(up_to, (n - 1) // 2)] + values[bisect_right(up_to, n // 2)]) / 2


class MinutesBetween(Func):
    """Whole minutes from one datetime to a later one (NULL if either is NULL), on PostgreSQL and SQLite."""

    output_field = IntegerField()

    def __init__(self, start, end):
        super().__init__(end, start)

    def as_postgresql(self, compiler, connection, **extra):
        template = "FLOOR(EXTRACT(EPOCH FROM (%(expressions)s)) / 60)::integer"
        return self.as_sql(compiler, connection, template=template, arg_joiner=" - ", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        template = "(CAST(ROUND((julianday(%(expressions)s)) * 86400) AS INTEGER) / 60)"
        return self.as_sql(compiler, connection, template=template, arg_joiner=") - julianday(", **extra)


def latest_versions(queryset):
    """The completed or signed screenings of `queryset` that no completed or signed amendment corrects: each
    episode once, as its latest version (a draft amendment is not a version yet)."""
    corrected = Screening.objects.completed_or_signed().filter(amends=OuterRef("pk"))
    return queryset.completed_or_signed().filter(~Exists(corrected))


NOTES_SHOWN = 20


def overrides(queryset):
    """The overridden decisions among the latest versions of `queryset`: what the override notes list filters."""
    return latest_versions(queryset).filter(decision=Screening.Decision.OVERRIDDEN)


def override_notes(overridden, *, limit: int = NOTES_SHOWN) -> list[Screening]:
    """The newest `limit` of these overrides (`overrides`, filtered), with the reason, the note and who decided."""
    shown = ("public_id", "created_at", "recommended_level", "final_level", "override_reason", "override_text")
    return list(
        overridden.select_related("clinician")
        .only(*shown, "clinician__username")
        .order_by("-created_at", "-id")[:limit]
    )


def build(queryset, start: dt.date, end: dt.date, *, today: dt.date | None = None) -> Dashboard:
    """The dashboard for the latest versions (`latest_versions`) of `queryset` (already limited to the range)."""
    qs = latest_versions(queryset).order_by()
    rows = list(
        qs.annotate(week=TruncWeek("created_at", output_field=DateField()))
        .values("week", "recommended_level", "final_level", "decision", "override_reason", "clinician_id")
        .annotate(n=Count("id"))
    )
    ids = {r["clinician_id"] for r in rows}
    usernames = dict(get_user_model().objects.filter(id__in=ids).values_list("id", "username")) if ids else {}
    d = summarize(rows, usernames, start, end, today=today or timezone.localdate())

    # One more pass gives the flag counts and, grouped by whole minutes to signature (a few hundred
    # groups), the median — without sorting the range.
    buckets = list(
        qs.annotate(minutes=MinutesBetween("created_at", "signed_at"))
        .values("minutes")
        .annotate(n=Count("id"), **{code: Count("id", filter=Q(**{name: True})) for code, name in FLAG_FIELDS.items()})
    )
    flags, histogram = Counter(), Counter()
    for b in buckets:
        minutes, n = b.pop("minutes"), b.pop("n")
        flags.update(b)
        if minutes is not None:
            histogram[minutes] += n
    d.flags = sorted(((FLAG_LABELS[code], flags[code]) for code in FLAG_FIELDS), key=lambda i: -i[1])
    d.signed = sum(histogram.values())
    middle = median_minutes(histogram)
    d.median_to_signature = None if middle is None else dt.timedelta(minutes=middle)
    return d
