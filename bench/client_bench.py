"""Clinician pages on a large PostgreSQL database: p50/p95 server time of the client list (first page and a
page deep in the table), the client search (a name prefix, "Family, Given", a record-number prefix), the
questionnaire (GET of a draft's edit page) and, as the reference timed in the same run, the recommendation
page (GET of a completed screening's detail page).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iop_bench \\
        .venv/bin/python bench/client_bench.py            # BENCH_ROUNDS=40 by default

The database is made with `manage.py migrate` and `manage.py generate_screenings 1000000 --seed 4
--days 730` (one client per screening), then `VACUUM ANALYZE`. The script adds one clinician, one
client, a draft and a completed screening of that client, the first time it runs. Each round requests
every page once, in an order that rotates, so noise on the shared machine falls on all of them alike.
Server time is the Django test client's request-to-response time in this process (middleware, view,
queries, template), signed in as a clinician, without network or a browser.
"""

import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")
os.environ.setdefault("MFA_REQUIRED", "false")  # signed in by the test client; the second factor has its own tests

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client as WebClient  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.machine import machine  # noqa: E402
from screening import questionnaire, rules, synthetic  # noqa: E402
from screening.models import Client, Screening  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 40))
WARMUP = 3
GOAL_MS = 60  # p95, the list, the search and the questionnaire (the recommendation page is the reference)
DEEP_ROW = 500_000  # the later page starts after this many clients, newest first


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def clinician():
    user, _ = get_user_model().objects.get_or_create(username="bench-clinician")
    user.groups.add(Group.objects.get(name="clinician"))
    return user


def screenings(user) -> tuple[Screening, Screening]:
    """A draft with most answers given (the questionnaire shows them) and a completed, undecided screening."""
    person, _ = Client.objects.get_or_create(
        record_number="BENCH-0001",
        defaults={
            "given_name": "Bench",
            "family_name": "Clinician-Page",
            "date_of_birth": timezone.localdate().replace(year=1980),
            "created_by": user,
        },
    )
    found = {s.status: s for s in Screening.objects.filter(client=person, clinician=user)}
    rng = random.Random(5)
    for status in (Screening.Status.DRAFT, Screening.Status.COMPLETED):
        if status in found:
            continue
        raw = synthetic.answer_set(rng)
        items = raw.pop("_items")
        s = Screening(client=person, clinician=user)
        s.assign_answers(raw, items)
        s.compute_totals()
        if status == Screening.Status.COMPLETED:
            parsed = questionnaire.parse(raw)
            s.assign_recommendation(rules.evaluate(parsed), questionnaire.to_json(parsed))
            s.status, s.completed_at = status, timezone.now()
        s.save()
        found[status] = s
    return found[Screening.Status.DRAFT], found[Screening.Status.COMPLETED]


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: set DATABASE_URL (see the docstring).")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user = clinician()
    draft, completed = screenings(user)
    web = WebClient()
    web.force_login(user)

    clients = reverse("client_list")
    prefix = reverse("client_detail", args=[draft.client.public_id]).split(str(draft.client.public_id))[0]
    client_link = re.compile(f'href="{re.escape(prefix)}[0-9a-f-]{{36}}/"')
    deep = Client.objects.newest_first().values_list("public_id", flat=True)[DEEP_ROW]
    sample = Client.objects.filter(record_number__startswith="SYN-").order_by("id")[DEEP_ROW]
    family, given = sample.family_name, sample.given_name
    cases = [
        # (name, method, URL, data, held to the goal)
        ("client list, first page", "get", clients, {}, True),
        (f"client list, page after row {DEEP_ROW:,}", "get", clients, {"after": deep}, True),
        (f'search, name prefix "{given[:4].lower()}"', "post", clients, {"q": given[:4].lower()}, True),
        (f'search, "{family}, {given}"', "post", clients, {"q": f"{family}, {given}"}, True),
        (
            f'search, record prefix "{sample.record_number[:-1].lower()}"',
            "post",
            clients,
            {"q": sample.record_number[:-1].lower()},
            True,
        ),
        ("questionnaire (draft's edit page)", "get", reverse("screening_edit", args=[draft.public_id]), {}, True),
        ("recommendation page (reference)", "get", reverse("screening_detail", args=[completed.public_id]), {}, False),
    ]

    load_before = os.getloadavg()[0]
    timings: dict[int, list[float]] = {}
    queries: dict[int, int] = {}
    matches: dict[int, int] = {}
    for round_no in range(WARMUP + ROUNDS):
        order = list(range(len(cases)))
        order = order[round_no % len(order) :] + order[: round_no % len(order)]
        for i in order:
            _, method, url, data, _ = cases[i]
            with CaptureQueriesContext(connection) as ctx:
                t0 = time.perf_counter()
                response = getattr(web, method)(url, data)
                elapsed = time.perf_counter() - t0
            assert response.status_code == 200, (url, response.status_code)
            if round_no >= WARMUP:
                timings.setdefault(i, []).append(elapsed * 1000)
                queries[i] = len(ctx.captured_queries)
                if url == clients:  # clients listed or found
                    matches[i] = len(client_link.findall(response.content.decode()))

    print(f"machine: {machine()}; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(
        f"database: PostgreSQL {connection.pg_version // 10000}, {Screening.objects.count():,} screenings, "
        f"{Client.objects.count():,} clients; {ROUNDS} rounds after {WARMUP} warm-up; goal p95 < {GOAL_MS} ms"
    )
    print(f"{'page':<46} {'p50':>8} {'p95':>8} {'queries':>8} {'rows':>5}  goal")
    for i, (name, _, _, _, goal) in enumerate(cases):
        p50, p95 = statistics.median(timings[i]), percentile(timings[i], 0.95)
        verdict = ("met" if p95 < GOAL_MS else "MISSED") if goal else "(reference)"
        rows = str(matches[i]) if i in matches else ""
        print(f"{name:<46} {p50:>6.1f}ms {p95:>6.1f}ms {queries[i]:>8} {rows:>5}  {verdict}")


if __name__ == "__main__":
    main()
