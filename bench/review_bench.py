"""Admin review pages on a large PostgreSQL database: p50/p95 server time of the history page
(first page, a filtered page, a deep page) and the 90-day dashboard, measured side by side in one
run with the Django admin changelist of the same model and filters (the Django admin is for
superusers only, so its side is signed in as one; ours as a user of the admin role).

The dashboard reads a daily roll-up (docs/review.md). It is measured twice: as it is read most of
the time (no screening changed since the last read), and right after a screening of today changed
(an UPDATE that rewrites nothing, so the trigger marks today and the page remakes three days first).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_bench \\
        .venv/bin/python bench/review_bench.py            # BENCH_ROUNDS=40 by default

The database is made with `manage.py migrate` and `manage.py generate_screenings 1000000 --seed 4
--days 730`. Each round requests every page once, in an order that rotates, so noise on the shared
machine falls on all of them alike. Server time is the Django test client's request-to-response
time in this process (middleware, view, queries, template), without network or a browser.
"""

import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")
os.environ["MFA_REQUIRED"] = "false"  # the bench's users have no second factor; the pages are the same

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.machine import machine  # noqa: E402
from screening import dashboard  # noqa: E402
from screening.models import FLAG_FIELDS, Screening  # noqa: E402
from screening.selectors import DateRange  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 40))
WARMUP = 3
# ScreeningAdmin.list_per_page is 50 too: compare like with like.
PER_PAGE = 50


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def admin_user():
    user, _ = get_user_model().objects.get_or_create(username="bench-admin")
    user.groups.add(Group.objects.get(name="admin"))
    return user


def superuser():
    user, _ = get_user_model().objects.get_or_create(
        username="bench-superuser", defaults={"is_staff": True, "is_superuser": True}
    )
    return user


def touch_today() -> None:
    """Rewrite one of today's completed or signed screenings unchanged: the trigger marks its day."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE screening_screening SET updated_at = updated_at WHERE id = "
            "(SELECT id FROM screening_screening WHERE status <> 'draft' ORDER BY created_at DESC LIMIT 1)"
        )


def two_passes(start, end) -> int:
    """The dashboard's numbers as issue 4 read them, for a same-run reference: two grouped passes over the
    screenings of the range (index-only scans of screening_review_idx), no roll-up."""
    from django.db.models import Count, DateField, Q
    from django.db.models.functions import TruncWeek

    qs = Screening.objects.created_in(DateRange(start, end)).completed_or_signed().order_by()
    keys = ("recommended_level", "final_level", "decision", "override_reason", "clinician_id")
    rows = list(
        qs.annotate(week=TruncWeek("created_at", output_field=DateField()))
        .values("week", *keys)
        .annotate(n=Count("id"))
    )
    flags = {code: Count("id", filter=Q(**{name: True})) for code, name in FLAG_FIELDS.items()}
    minutes = dashboard.MinutesBetween("created_at", "signed_at")
    buckets = list(qs.annotate(minutes=minutes).values("minutes").annotate(n=Count("id"), **flags))
    return sum(r["n"] for r in rows) + len(buckets)


def numbers_only(start, end) -> list[str]:
    """The dashboard's numbers alone, in process: the roll-up (dashboard.build) against the two passes of issue 4,
    alternating, so both see the same load."""
    runs: dict[str, list[float]] = {"roll-up": [], "two passes": []}
    for round_no in range(WARMUP + ROUNDS):
        for name, fn in (("roll-up", dashboard.build), ("two passes", two_passes)):
            t0 = time.perf_counter()
            fn(start, end)
            if round_no >= WARMUP:
                runs[name].append((time.perf_counter() - t0) * 1000)
    (r50, r95), (t50, t95) = ((statistics.median(v), percentile(v, 0.95)) for v in runs.values())
    return [
        f"dashboard numbers only, 90 days: roll-up p50 {r50:.1f} ms, p95 {r95:.1f} ms; two passes over the "
        f"screenings (issue 4) p50 {t50:.1f} ms, p95 {t95:.1f} ms; p95 ratio {t95 / r95:.1f}x"
    ]


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL (see the docstring).")
    load_before, started = os.getloadavg()[0], timezone.now()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    ours_client, admin_client = Client(), Client()
    ours_client.force_login(admin_user())
    admin_client.force_login(superuser())

    today = timezone.localdate()
    start = today - timedelta(days=89)
    since = f"{start.isoformat()} 00:00:00"
    history, changelist = reverse("history"), reverse("admin:screening_screening_changelist")
    deep_page = 10_000 // PER_PAGE  # the deepest page the history serves (offset 9,950)
    cases = [
        # (name, our URL and query, the admin changelist with the same filters)
        ("history, first page", (history, {"per_page": PER_PAGE}), (changelist, {})),
        (
            "history, filtered (inpatient, overridden, 90 days)",
            (
                history,
                {"per_page": PER_PAGE, "recommended": "inpatient", "overridden": "yes", "date_from": start.isoformat()},
            ),
            (changelist, {"recommended_level": "inpatient", "decision": "overridden", "created_at__gte": since}),
        ),
        (
            f"history, deep page ({deep_page})",
            (history, {"per_page": PER_PAGE, "page": deep_page}),
            (changelist, {"p": deep_page}),
        ),
        (
            "dashboard, 90 days",
            (reverse("dashboard"), {"start": start.isoformat(), "end": today.isoformat()}),
            (changelist, {"created_at__gte": since}),
        ),
        (
            "dashboard, 90 days, right after a change today",
            (reverse("dashboard"), {"start": start.isoformat(), "end": today.isoformat(), "changed": "1"}),
            (changelist, {"created_at__gte": since}),
        ),
    ]

    timings: dict[tuple[int, str], list[float]] = {}
    queries: dict[tuple[int, str], int] = {}
    for round_no in range(WARMUP + ROUNDS):
        order = list(range(len(cases)))
        order = order[round_no % len(order) :] + order[: round_no % len(order)]
        for i in order:
            _, ours, theirs = cases[i]
            for side, (url, params) in (("ours", ours), ("admin", theirs)):
                client = ours_client if side == "ours" else admin_client
                if params.get("changed"):
                    touch_today()  # outside the timing: what a clinician's signature does
                with CaptureQueriesContext(connection) as ctx:
                    t0 = time.perf_counter()
                    response = client.get(url, params)
                    elapsed = time.perf_counter() - t0
                assert response.status_code == 200, (url, params, response.status_code)
                if round_no >= WARMUP:
                    timings.setdefault((i, side), []).append(elapsed * 1000)
                    queries[(i, side)] = len(ctx.captured_queries)

    extra = numbers_only(start, today)
    total = Screening.objects.count()
    print(f"started {started:%Y-%m-%d %H:%M} UTC, load average {load_before:.2f}; ended {timezone.now():%H:%M} UTC")
    print(f"machine: {machine()}")
    print(
        f"database: PostgreSQL {connection.pg_version // 10000}, {total:,} screenings; {ROUNDS} rounds "
        f"after {WARMUP} warm-up; {PER_PAGE} rows per page on both sides"
    )
    print(
        f"{'page':<52} {'ours p50':>9} {'ours p95':>9} {'admin p50':>10} {'admin p95':>10} {'p95 ratio':>10}"
        f" {'queries':>9}"
    )
    for i, (name, _, _) in enumerate(cases):
        ours, theirs = timings[(i, "ours")], timings[(i, "admin")]
        o50, o95 = statistics.median(ours), percentile(ours, 0.95)
        a50, a95 = statistics.median(theirs), percentile(theirs, 0.95)
        print(
            f"{name:<52} {o50:>7.1f}ms {o95:>7.1f}ms {a50:>8.1f}ms {a95:>8.1f}ms {a95 / o95:>9.1f}x"
            f" {queries[(i, 'ours')]:>4}/{queries[(i, 'admin')]:<4}"
        )
    print("\n".join(extra))


if __name__ == "__main__":
    main()
