"""Interactions a clinician needs, in Chromium, from "Start a new screening" to "Complete" for each of the ten
vignettes (../shared/examples/vignettes.json), from a blank questionnaire (issue 14's goal: median ≤ 60); and again
with PHQ-9 and GAD-7 self-reported (goal: median ≤ 45 by the clinician): right after Start the clinician presses
"Hand to the patient", the person answers the 16 items and "I have finished" on the hand-over page (their clicks
are counted apart, not as the clinician's), then the clinician types their password (one, as typing a number) and
presses Unlock, and enters the rest. Then, for the same client, an unchanged **reassessment** (goal: median ≤ 40; ≤ 25
with self-report): the screening is decided and signed (not counted), "Start a new screening" carries its history and
circumstances over, and the clinician answers only what the page asks afresh (the questions not marked carried over)
and ticks each carried section's Confirm box; signed again, the same once more with PHQ-9 and GAD-7 self-reported.

    .venv/bin/python bench/clicks.py            # PORT=8221 by default; needs /usr/bin/chromium

Counting, as the issue sets it: a click or a tick counts one, a dropdown choice two (open, choose), typing a
number one; focus moves do not count. Every answer a vignette gives is entered the way the page asks for it —
every applicable question answered, nothing skipped that the page would otherwise need — and the script
checks that the screening then completes with exactly the vignette's answers (its stored snapshot) and expected
level, so a count is never bought with a wrong screening. A vignette gives instrument totals, not items: the items are made from the total by filling
each item up to its maximum in order (PHQ-9 item 9 is given); each item is one click whatever its value.

It runs its own server (`manage.py runserver --insecure` on PORT, with a fresh SQLite database in a temporary
directory, MFA off) and stops it at the end. The "before" column is computed, not driven: the same answers
counted with the page of 4b28815 (instrument items, the optional PAWSS and the stage of change were
dropdowns: two each).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402

PORT = int(os.environ.get("PORT", "8221"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "bench-clicks-password-2026"
GOAL = 60
GOAL_SELF_REPORT = 45  # by the clinician, with PHQ-9 and GAD-7 self-reported
GOAL_REASSESS, GOAL_REASSESS_SELF_REPORT = 40, 25  # an unchanged reassessment, without and with self-report
SELF_REPORTED = ("phq9_", "gad7_")  # the items the person answers during the hand-over

# Item keys and maxima, in page order (screening/instruments.py; checked against the page below).
ITEMS = {
    "ciwa_ar": [
        ("ciwa_" + k, 7)
        for k in ["nausea", "tremor", "sweats", "anxiety", "agitation", "tactile", "auditory", "visual", "headache"]
    ]
    + [("ciwa_orientation", 4)],
    "cows": [
        ("cows_pulse", 4),
        ("cows_sweating", 4),
        ("cows_restlessness", 5),
        ("cows_pupils", 5),
        ("cows_aches", 4),
        ("cows_runny_nose", 4),
        ("cows_gi", 5),
        ("cows_tremor", 4),
        ("cows_yawning", 4),
        ("cows_anxiety", 4),
        ("cows_gooseflesh", 5),
    ],
    "phq9": [(f"phq9_{n}", 3) for n in range(1, 10)],
    "gad7": [(f"gad7_{n}", 3) for n in range(1, 8)],
}
YES_NO = [
    "withdrawal_seizure_or_dt_history",
    "complicated_withdrawal_now",
    "unstable_medical_condition",
    "pregnant",
    "psychotic_symptoms",
    "homicidal_ideation",
    "relapse_after_outpatient_12mo",
    "recent_higher_level_care",
    "lives_with_substance_users",
    "home_safe",
    "stable_housing",
    "supportive_network",
    "work_or_school_commitments",
    "family_commitments",
    "can_attend_9h_week",
]


def vignettes() -> list[dict]:
    shared = Path(os.environ.get("IOP_SHARED_DIR", ROOT.parent / "shared"))
    return json.loads((shared / "examples" / "vignettes.json").read_text())


def spread(total: int, maxima: list[int]) -> list[int]:
    """Item values adding up to `total`: each item filled up to its maximum, in order."""
    values = []
    for top in maxima:
        values.append(min(top, total))
        total -= values[-1]
    assert total == 0, "total beyond the items' maxima"
    return values


def entries(a: dict) -> list[tuple[str, str]]:
    """(input name, value) of every choice the page needs for these §2 answers, in page order."""
    out = [("substances", s) for s in a["substances"]]
    if a["ciwa_ar"] is not None:
        keys = ITEMS["ciwa_ar"]
        out += [(k, str(v)) for (k, _), v in zip(keys, spread(a["ciwa_ar"], [m for _, m in keys]), strict=True)]
    if a["cows"] is not None:
        keys = ITEMS["cows"]
        out += [(k, str(v)) for (k, _), v in zip(keys, spread(a["cows"], [m for _, m in keys]), strict=True)]
    if a["pawss"] is not None:
        out.append(("pawss", str(a["pawss"])))
    yn = lambda name, value: (name, "yes" if value else "no")  # noqa: E731
    out.append(yn("withdrawal_seizure_or_dt_history", a["withdrawal_seizure_or_dt_history"]))
    if "sedatives" in a["substances"]:
        out.append(yn("daily_sedative_use", a["daily_sedative_use"]))
    out.append(yn("complicated_withdrawal_now", a["complicated_withdrawal_now"]))
    out.append(yn("unstable_medical_condition", a["unstable_medical_condition"]))
    out.append(yn("pregnant", a["pregnant"]))
    out += [("dsm5_criteria", c) for c in a["dsm5_criteria"]] or [("dsm5_criteria_none", "on")]
    phq = spread(a["phq9_total"] - a["phq9_item9"], [3] * 8) + [a["phq9_item9"]]
    out += [(f"phq9_{n}", str(v)) for n, v in enumerate(phq, 1)]
    out += [(f"gad7_{n}", str(v)) for n, v in enumerate(spread(a["gad7_total"], [3] * 7), 1)]
    out.append(("mental_health_condition", a["mental_health_condition"]))
    out.append(yn("psychotic_symptoms", a["psychotic_symptoms"]))
    c = a["cssrs"]
    out.append(yn("cssrs_wish_dead", c["wish_dead"]))
    out.append(yn("cssrs_suicidal_thoughts", c["suicidal_thoughts"]))
    if c["suicidal_thoughts"]:
        out += [yn("cssrs_method", c["method"]), yn("cssrs_intent", c["intent"]), yn("cssrs_plan", c["plan"])]
    out.append(("cssrs_behavior", c["behavior"]))
    out.append(yn("homicidal_ideation", a["homicidal_ideation"]))
    out.append(("readiness", a["readiness"]))
    out += [yn(n, a[n]) for n in YES_NO[6:]]
    return out


def before(a: dict) -> int:
    """The same entries counted on the page of 4b28815: item scales, PAWSS and the stage of change were
    dropdowns (two each); no "None of these" (none ticked was none)."""
    dropdowns = {"pawss", "readiness", *(k for keys in ITEMS.values() for k, _ in keys)}
    counted = [2 if name in dropdowns else 1 for name, _ in entries(a) if name != "dsm5_criteria_none"]
    return 1 + sum(counted) + 1  # Start a new screening, the answers, Complete


def free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def server(env: dict) -> subprocess.Popen:
    py = str(ROOT / ".venv" / "bin" / "python")
    manage = [py, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)
    setup = (
        "from tests.factories import UserFactory;"
        f"u = UserFactory(username='bench', role='clinician'); u.set_password('{PASSWORD}'); u.save()"
    )
    subprocess.run([*manage, "shell", "-v", "0", "-c", setup], env=env, check=True, cwd=ROOT)
    proc = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{PORT}", "--noreload", "--insecure"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if not free(PORT):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


class Counter:
    """Performs and counts the clinician's interactions (a click or tick: one)."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def click(self, locator):
        locator.click()
        self.count += 1

    def choose(self, name: str, value: str):
        box = self.page.locator(f'input[name="{name}"][value="{value}"]')
        if box.get_attribute("class") == "btn-check":  # a scale's numbered button: its label takes the click
            self.click(self.page.locator(f'input[name="{name}"][value="{value}"] + label'))
        else:
            self.click(box)


def hand_over(page, counter: Counter, answers: dict) -> int:
    """The hand-over: the clinician's button, the person's answers (counted apart: returned), the clinician's
    password and Unlock."""
    counter.click(page.get_by_role("button", name="Hand to the patient for PHQ-9 and GAD-7"))
    page.wait_for_selector("#handover-form")
    person = Counter(page)
    for name, value in entries(answers):
        if name.startswith(SELF_REPORTED):
            person.click(page.locator(f'label[for="id_{name}_{value}"]'))
    person.click(page.get_by_role("button", name="I have finished"))
    page.get_by_label("Clinician: your password").fill(PASSWORD)
    counter.count += 1  # typing the password
    counter.click(page.get_by_role("button", name="Unlock and return to the screening"))
    page.wait_for_selector("#screening-form")
    return person.count


def run_one(page, base: str, vignette: dict, self_report: bool = False) -> tuple[int, str, int]:
    """The clinician's interactions, the level shown, and the person's interactions (with `self_report`)."""
    page.goto(f"{base}/clients/new/")
    n = vignette["name"] + ("_self_report" if self_report else "")
    page.get_by_label("Program record number").fill(f"B-{abs(hash(n)) % 10**6:06d}")
    page.get_by_label("Given name").fill("Bench")
    page.get_by_label("Family name").fill(n.replace("_", " ").title())
    page.get_by_label("Date of birth").fill("1980-01-01")
    page.get_by_role("button", name="Add client").click()
    counter = Counter(page)  # from "Start a new screening" (setting up the client is not the screening)
    counter.click(page.get_by_role("button", name="Start a new screening"))
    page.wait_for_selector("#screening-form")
    person = hand_over(page, counter, vignette["answers"]) if self_report else 0
    for name, value in entries(vignette["answers"]):
        if self_report and name.startswith(SELF_REPORTED):
            continue  # answered by the person
        if name == "dsm5_criteria_none":
            counter.click(page.locator("#id_dsm5_criteria_none"))
        else:
            counter.choose(name, value)
    counter.click(page.get_by_role("button", name="Complete and see recommendation"))
    page.wait_for_load_state()
    shown = page.locator("#recommended-level")
    level = " ".join(shown.inner_text().split()) if shown.count() else "?"
    return counter.count, level, person


def sign(page) -> str:
    """Accept the recommendation and sign, on the recommendation page (not counted: the screening before the
    reassessment); any safety flag acknowledged. The client's page, where the reassessment starts."""
    client_url = page.locator('nav[aria-label="Breadcrumb"] a').nth(1).get_attribute("href")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_load_state()
    if page.locator('input[name="emergency_action"]').count():
        page.locator('input[name="emergency_action"]').first.check()
        page.get_by_label("What was done").fill("Bench: the crisis team was contacted.")
    if page.locator('input[name="safety_review_confirmed"]').count():
        page.locator('input[name="safety_review_confirmed"]').check()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign screening").click()
    page.wait_for_load_state()
    assert page.get_by_text("Screening signed.").count(), "not signed"
    return client_url


def reassess_one(page, base: str, client_url: str, vignette: dict, self_report: bool) -> tuple[int, str, int]:
    """An unchanged reassessment of a client whose screening of the same answers was signed: the questions the page
    asks afresh, then each carried section's Confirm box. As `run_one`, what is carried over is read from the page
    (the questions it marks carried over), and the stored answers are checked against the vignette afterwards."""
    page.goto(base + client_url)
    counter = Counter(page)
    counter.click(page.get_by_role("button", name="Start a new screening"))
    page.wait_for_selector("#screening-form")
    carried = {
        i.removeprefix("id_") for i in page.eval_on_selector_all("fieldset[data-carried]", "f => f.map(e => e.id)")
    }
    assert carried, "nothing carried over"
    person = hand_over(page, counter, vignette["answers"]) if self_report else 0
    for name, value in entries(vignette["answers"]):
        if (self_report and name.startswith(SELF_REPORTED)) or name.removesuffix("_none") in carried:
            continue  # answered by the person, or carried over (confirmed below)
        if name == "dsm5_criteria_none":
            counter.click(page.locator("#id_dsm5_criteria_none"))
        else:
            counter.choose(name, value)
    for box in page.locator("input[data-confirm-section]").all():
        counter.click(box)
    counter.click(page.get_by_role("button", name="Complete and see recommendation"))
    page.wait_for_load_state()
    shown = page.locator("#recommended-level")
    level = " ".join(shown.inner_text().split()) if shown.count() else "?"
    return counter.count, level, person


def stored_answers(database: Path) -> dict:
    """The answers the last completed screening was computed from (its stored snapshot)."""
    with sqlite3.connect(database) as db:
        (snapshot,) = db.execute(
            "SELECT answers_snapshot FROM screening_screening WHERE answers_snapshot IS NOT NULL ORDER BY id DESC"
        ).fetchone()
    return json.loads(snapshot)


def same_answers(a: dict, b: dict) -> bool:
    """Equal §2 answers (a list is a set: the stored one is in the questionnaire's order)."""
    norm = lambda d: {k: sorted(v) if isinstance(v, list) else v for k, v in d.items()}  # noqa: E731
    return norm(a) == norm(b)


LEVEL_TEXT = {"iop": "IOP (intensive outpatient)", "residential": "Residential", "inpatient": "Inpatient"}


def main() -> int:
    from playwright.sync_api import sync_playwright

    if not free(PORT):
        raise SystemExit(f"port {PORT} is in use: PORT=… another of 8221-8229")
    database = Path(tempfile.mkdtemp(prefix="iop_clicks_")) / "clicks.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "MFA_REQUIRED": "false",
        "DEBUG": "false",
        "SESSION_IDLE_TIMEOUT_MINUTES": "60",
    }
    proc = server(env)
    base = f"http://127.0.0.1:{PORT}"
    rows, reassessed, ok = [], [], True
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            page.goto(f"{base}/accounts/login/")
            page.get_by_label("Username").fill("bench")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            for v in vignettes():
                expected = LEVEL_TEXT[v["expected"]["level"]]
                shown = []
                for self_report in (False, True):
                    count, level, person = run_one(page, base, v, self_report)
                    same = same_answers(stored_answers(database), v["answers"])  # entered as the vignette gives them
                    ok &= level == expected and same
                    shown.append((count, level if same else f"{level}, answers differ", person))
                (count, level, _), (own, level_sr, person) = shown
                rows.append((v["name"], before(v["answers"]), count, level, expected, own, person, level_sr))
                client_url = sign(page)  # the self-report run's client: its screening signed, then reassessed
                again = []
                for self_report in (False, True):
                    count_r, level_r, _ = reassess_one(page, base, client_url, v, self_report)
                    same = same_answers(stored_answers(database), v["answers"])  # carried over unchanged
                    ok &= level_r == expected and same
                    again.append((count_r, level_r if same else f"{level_r}, answers differ"))
                    sign(page)
                reassessed.append((v["name"], *again[0], *again[1], expected))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(database.parent, ignore_errors=True)
    print(f"machine: {machine()}")
    print(f"{'vignette':32} {'before':>6} {'now':>4} {'self-report':>11} {'person':>6}  level (expected)")
    for name, was, now, level, expected, own, person, level_sr in rows:
        mark = "" if level == expected == level_sr else f"  ≠ {expected} (self-report: {level_sr})"
        print(f"{name:32} {was:6} {now:4} {own:11} {person:6}  {level}{mark}")
    now_median = statistics.median(r[2] for r in rows)
    before_median = statistics.median(r[1] for r in rows)
    own_median = statistics.median(r[5] for r in rows)
    print(
        f"median: before {before_median:g} (computed), now {now_median:g} (driven); goal ≤ {GOAL}: "
        f"{'met' if now_median <= GOAL else 'NOT met'}; every level as expected: {'yes' if ok else 'NO'}"
    )
    print(
        f"median with PHQ-9 and GAD-7 self-reported: {own_median:g} by the clinician (the person: "
        f"{statistics.median(r[6] for r in rows):g}); goal ≤ {GOAL_SELF_REPORT}: "
        f"{'met' if own_median <= GOAL_SELF_REPORT else 'NOT met'}"
    )
    print(f"{'reassessment, unchanged':32} {'now':>4} {'self-report':>11}  level (expected)")
    for name, count_r, level_r, count_rs, level_rs, expected in reassessed:
        mark = "" if level_r == expected == level_rs else f"  ≠ {expected} (self-report: {level_rs})"
        print(f"{name:32} {count_r:4} {count_rs:11}  {level_r}{mark}")
    re_median = statistics.median(r[1] for r in reassessed)
    re_own_median = statistics.median(r[3] for r in reassessed)
    print(
        f"median of an unchanged reassessment: {re_median:g}; goal ≤ {GOAL_REASSESS}: "
        f"{'met' if re_median <= GOAL_REASSESS else 'NOT met'}; with PHQ-9 and GAD-7 self-reported: "
        f"{re_own_median:g} by the clinician; goal ≤ {GOAL_REASSESS_SELF_REPORT}: "
        f"{'met' if re_own_median <= GOAL_REASSESS_SELF_REPORT else 'NOT met'}"
    )
    met = now_median <= GOAL and own_median <= GOAL_SELF_REPORT
    met &= re_median <= GOAL_REASSESS and re_own_median <= GOAL_REASSESS_SELF_REPORT
    return 0 if ok and met else 1


if __name__ == "__main__":
    sys.exit(main())
