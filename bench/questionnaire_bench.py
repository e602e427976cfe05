"""The questionnaire page's server time (issue 14 re-measures issue 9's figure with the new form and autosave):
p50/p95 of the GET of a draft's edit page, of the autosave POST, and — timed in the same rounds as the
reference — of the recommendation page, with Django's test client signed in as a clinician (middleware, view,
queries, template; no network, no browser).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME .venv/bin/python bench/questionnaire_bench.py

The database must be migrated. The script adds a clinician, a client, a draft with every answer given (the
vignette `iop_working_parent`, items made from its totals) and a completed screening, the first time it runs.
Each round requests every page once, in an order that rotates, so noise on a shared machine falls on all of
them alike; the CPU column (this process's CPU time, the median) moves less with other work on the machine than
the wall-clock percentiles do, and the last line gives the questionnaire's CPU as a ratio of the reference page's,
measured side by side. The same script runs at an older commit too (the autosave row is left out where there is none).
"""

import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iop_screening.settings")
os.environ.setdefault("MFA_REQUIRED", "false")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group, Permission  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client as TestClient  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402

from bench.machine import machine  # noqa: E402
from screening import answers  # noqa: E402
from screening.models import Client, Screening  # noqa: E402
from screening.permissions import ensure_roles  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 40))
WARM_UP = 3
# iop_working_parent, item by item (CIWA-Ar 4, PAWSS 1, PHQ-9 8, GAD-7 6), as the form posts it.
ANSWERS = {
    "substances": ["alcohol"],
    **{item.name: "4" if n == 0 else "0" for n, item in enumerate(answers.INSTRUMENTS["ciwa_ar"])},  # nausea 4
    "pawss": "1",
    "dsm5_criteria": ["larger_amounts", "cut_down", "craving", "role_failure"],
    **{f"phq9_{n}": v for n, v in enumerate(["3", "3", "2", "0", "0", "0", "0", "0", "0"], 1)},
    **{f"gad7_{n}": v for n, v in enumerate(["3", "3", "0", "0", "0", "0", "0"], 1)},
    "mental_health_condition": "none",
    "cssrs_behavior": "never",
    "readiness": "preparation",
    **dict.fromkeys(
        [
            "withdrawal_seizure_or_dt_history",
            "complicated_withdrawal_now",
            "unstable_medical_condition",
            "pregnant",
            "psychotic_symptoms",
            "cssrs_wish_dead",
            "cssrs_suicidal_thoughts",
            "homicidal_ideation",
            "relapse_after_outpatient_12mo",
            "recent_higher_level_care",
            "lives_with_substance_users",
            "family_commitments",
        ],
        "no",
    ),
    **dict.fromkeys(
        ["home_safe", "stable_housing", "supportive_network", "work_or_school_commitments", "can_attend_9h_week"],
        "yes",
    ),
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def setup(browser: TestClient):
    if not Group.objects.filter(name="clinician").exists():
        ensure_roles(Group, Permission)
    user, _ = get_user_model().objects.get_or_create(username="bench-questionnaire")
    user.groups.add(Group.objects.get(name="clinician"))
    browser.force_login(user)
    person, _ = Client.objects.get_or_create(
        record_number="BENCH-Q-1",
        defaults={
            "given_name": "Bench",
            "family_name": "Questionnaire",
            "date_of_birth": "1980-01-01",
            "created_by": user,
        },
    )
    found = {s.status: s for s in Screening.objects.filter(client=person)}
    for status in ("draft", "completed"):
        if status not in found:
            s = Screening.objects.create(client=person, clinician=user)
            post = {"version": s.version, **ANSWERS, ("complete" if status == "completed" else "save"): "1"}
            response = browser.post(reverse("screening_edit", args=[s.public_id]), post)
            assert response.status_code == 302, response.status_code
            found[status] = Screening.objects.get(pk=s.pk)
    return found["draft"], found["completed"]


def main() -> None:
    logging.getLogger("screening.requests").setLevel(logging.WARNING)  # one line per request otherwise
    setup_test_environment()  # the test client needs it for responses' templates; nothing else changes
    browser = TestClient()
    draft, completed = setup(browser)
    edit = reverse("screening_edit", args=[draft.public_id])
    try:
        autosave = reverse("screening_autosave", args=[draft.public_id])
    except NoReverseMatch:
        autosave = None

    def get(url):
        return lambda: browser.get(url)

    def save():
        current = Screening.objects.only("version").get(pk=draft.pk).version
        return browser.post(autosave, {"version": current, **ANSWERS})

    pages = [("questionnaire (draft's edit page)", get(edit))]
    if autosave:
        pages.append(("autosave (POST, every answer)", save))
    pages.append(("recommendation page (reference)", get(reverse("screening_detail", args=[completed.public_id]))))
    times = {name: [] for name, _ in pages}
    cpu = {name: [] for name, _ in pages}  # this process's CPU time: less moved by other work on the machine
    queries, size = {}, {}
    for r in range(WARM_UP + ROUNDS):
        order = pages[r % len(pages) :] + pages[: r % len(pages)]
        for name, call in order:
            reset_queries()
            connection.force_debug_cursor = True
            started, started_cpu = time.perf_counter(), time.process_time()
            response = call()
            elapsed, used = time.perf_counter() - started, time.process_time() - started_cpu
            connection.force_debug_cursor = False
            assert response.status_code == 200, (name, response.status_code)
            if r >= WARM_UP:
                times[name].append(elapsed * 1000)
                cpu[name].append(used * 1000)
            queries[name], size[name] = len(connection.queries), len(response.content)
    load = os.getloadavg()[0]
    print(f"machine: {machine()}; load average {load:.2f} at the end")
    print(f"database: {connection.vendor}; {ROUNDS} rounds after {WARM_UP} warm-up")
    print(f"{'request':40} {'p50':>8} {'p95':>8} {'CPU p50':>8} {'queries':>8} {'bytes':>8}")
    for name, values in times.items():
        print(
            f"{name:40} {statistics.median(values):6.1f}ms {percentile(values, 95):6.1f}ms "
            f"{statistics.median(cpu[name]):6.1f}ms {queries[name]:8} {size[name]:8}"
        )
    page, reference = (statistics.median(cpu[name]) for name in (pages[0][0], pages[-1][0]))
    print(f"CPU p50 questionnaire / reference: {page / reference:.2f}")


if __name__ == "__main__":
    main()
