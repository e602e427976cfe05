"""Dashboard numbers (issue 4); `charts.py` draws them.

The figures come from a daily roll-up (issue 15; `rollups.py`): per day, the counts of every (recommended,
final, decision, reason, clinician) cell with its flag counts, and the minutes-to-signature histogram. A 90-day
dashboard then groups a few thousand roll-up rows by week instead of 100,000+ screenings on every load (the
covering index alone left two passes over every screening of the range: 250-450 ms at 1,000,000 screenings).
Before reading, `refresh` remakes the days the database marked as changed (a trigger on the screening table), so
the figures are those of the screenings as they are; the rest is pure Python over the grouped rows.

Each episode counts once (issue 15): a screening corrected by an amendment that has since been completed
is left out, so an episode counts as its latest completed or signed version, in the week that version was
started (`latest_versions`).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import reduce
from itertools import accumulate
from operator import or_

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, DateField, Exists, F, Func, IntegerField, OuterRef, Q, Sum
from django.db.models.functions import TruncDate, TruncWeek
from django.utils import timezone

from .models import FLAG_FIELDS, FLAG_LABELS, Level, Screening
from .rollups import DashboardCell, DashboardDirtyDay, DashboardMinutes
from .selectors import day_start

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


def summarize(
    rows, usernames: dict[int, str], start: dt.date, end: dt.date, *, today: dt.date, weekly=None
) -> Dashboard:
    """Everything but flags and the median, from grouped rows (dicts with recommended_level, final_level, decision,
    override_reason, clinician_id, n, and week unless `weekly` gives the weeks apart: dicts with week,
    recommended_level and n)."""
    d = Dashboard(start, end)
    per_week: dict[dt.date, Counter] = defaultdict(Counter)
    decided, overridden, reasons = Counter(), Counter(), Counter()
    d.matrix = {a: dict.fromkeys(LEVELS, 0) for a in LEVELS}
    for r in rows if weekly is None else weekly:
        week = r["week"].date() if isinstance(r["week"], dt.datetime) else r["week"]
        per_week[week][r["recommended_level"]] += r["n"]
    for r in rows:
        n = r["n"]
        d.total += n
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


CELL_KEYS = ("recommended_level", "final_level", "decision", "override_reason", "clinician_id")
ONE_DAY = dt.timedelta(days=1)
# Serialises refreshes across app servers (a transaction-level lock: safe behind PgBouncer in transaction mode).
REFRESH_LOCK = 0x15DA5B


def _runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as runs of consecutive days, (first, last)."""
    runs: list[list[dt.date]] = []
    for day in days:
        if runs and day == runs[-1][1] + ONE_DAY:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def _insert_select(model, columns: dict[str, str], queryset) -> None:
    """INSERT INTO the model's table the rows of `queryset`, its columns ({column: name in the queryset}) taken by
    name from its SQL: one statement however many rows, the queryset's own SQL doing the time zones and functions
    of either database."""
    sql, params = queryset.query.sql_with_params()
    quote = connection.ops.quote_name
    into = ", ".join(quote(column) for column in columns)
    select = ", ".join(quote(name) for name in columns.values())
    table = quote(model._meta.db_table)
    # Table and column names come from the model and code, quoted; the values are the queryset's, bound as params.
    statement = f"INSERT INTO {table} ({into}) SELECT {select} FROM ({sql}) AS rolled"  # nosec B608
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def remake(days: list[dt.date]) -> None:
    """Make the roll-up rows of these days (program time zone) again from the screenings."""
    window = reduce(
        or_, (Q(created_at__gte=day_start(a), created_at__lt=day_start(b + ONE_DAY)) for a, b in _runs(days))
    )
    local_day = TruncDate("created_at", tzinfo=timezone.get_current_timezone())
    source = latest_versions(Screening.objects.filter(window)).order_by().annotate(day=local_day)
    DashboardCell.objects.filter(day__in=days).delete()
    DashboardMinutes.objects.filter(day__in=days).delete()
    # Counted as f_<code>: an annotation may not take the name of a Screening field (flag_<code>).
    flags = {f"f_{code}": Count("id", filter=Q(**{name: True})) for code, name in FLAG_FIELDS.items()}
    cells = source.values("day", *CELL_KEYS).annotate(n=Count("id"), **flags)
    columns = {c: c for c in ("day", *CELL_KEYS, "n")} | {name: f"f_{code}" for code, name in FLAG_FIELDS.items()}
    _insert_select(DashboardCell, columns, cells)
    minutes = (
        source.filter(signed_at__isnull=False)
        .annotate(minutes=MinutesBetween("created_at", "signed_at"))
        .values("day", "minutes")
        .annotate(n=Count("id"))
    )
    _insert_select(DashboardMinutes, {c: c for c in ("day", "minutes", "n")}, minutes)


def refresh(start: dt.date, end: dt.date) -> int:
    """Remake the roll-up of the days around [start, end] that the database marked as changed; how many marks."""
    marks = list(
        DashboardDirtyDay.objects.filter(day__gte=start - ONE_DAY, day__lte=end + ONE_DAY).values_list("day", "version")
    )
    if not marks:
        return 0
    # A mark is a UTC day; its screenings fall on that day or the one either side in the program's time zone.
    days = sorted({day + k * ONE_DAY for day, _ in marks for k in (-1, 0, 1)})
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REFRESH_LOCK])
        remake(days)
        # Only the marks as read: a write that marked a day again meanwhile raised its version, and keeps it.
        DashboardDirtyDay.objects.filter(reduce(or_, (Q(day=day, version=v) for day, v in marks))).delete()
    return len(marks)


def mark_all_dirty() -> None:
    """Mark every day that has a completed or signed screening, so the roll-up is remade as it is read."""
    DashboardDirtyDay.objects.all().delete()
    utc = dt.UTC
    days = Screening.objects.completed_or_signed().annotate(d=TruncDate("created_at", tzinfo=utc))
    DashboardDirtyDay.objects.bulk_create(
        [DashboardDirtyDay(day=day) for day in days.values_list("d", flat=True).distinct().order_by()]
    )


def build(start: dt.date, end: dt.date, *, today: dt.date | None = None) -> Dashboard:
    """The dashboard of the screenings started from `start` to `end` (program time zone, both included): the latest
    versions (`latest_versions`) of the completed or signed ones, read from the refreshed daily roll-up."""
    refresh(start, end)
    cells = DashboardCell.objects.filter(day__gte=start, day__lte=end).order_by()
    # Two small groupings in the database: weeks by recommended level, and the range's cells without the week
    # (a few hundred rows), rather than the cross product of both.
    weekly = list(
        cells.annotate(week=TruncWeek("day", output_field=DateField()))
        .values("week", "recommended_level")
        .annotate(total=Sum("n"))
        .values("week", "recommended_level", n=F("total"))
    )
    sums = {"total": Sum("n"), **{f"f_{code}": Sum(name) for code, name in FLAG_FIELDS.items()}}
    rows = list(cells.values(*CELL_KEYS).annotate(**sums))
    flags = Counter()
    for r in rows:
        r["n"] = r.pop("total")
        flags.update({code: r.pop(f"f_{code}") for code in FLAG_FIELDS})
    ids = {r["clinician_id"] for r in rows}
    usernames = dict(get_user_model().objects.filter(id__in=ids).values_list("id", "username")) if ids else {}
    d = summarize(rows, usernames, start, end, today=today or timezone.localdate(), weekly=weekly)
    d.flags = sorted(((FLAG_LABELS[code], flags[code]) for code in FLAG_FIELDS), key=lambda i: -i[1])
    histogram = Counter(
        dict(
            DashboardMinutes.objects.filter(day__gte=start, day__lte=end)
            .values("minutes")
            .annotate(total=Sum("n"))
            .order_by()
            .values_list("minutes", "total")
        )
    )
    d.signed = sum(histogram.values())
    middle = median_minutes(histogram)
    d.median_to_signature = None if middle is None else dt.timedelta(minutes=middle)
    return d
