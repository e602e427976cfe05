"""`make load`: load and fault runs through the local production stack (nginx → two gunicorn → PgBouncer →
PostgreSQL), started by the Makefile on a fresh database with the second factor off. Loopback only; every run is
bounded in users and time. Prints the figures bench/README.md quotes, with the machine.

1. paced: LOAD_CLINICIANS clinicians (each its own user) doing the whole journey, a page every 5–15 s, two admins
   on history and the dashboard, an auditor exporting, and a probe posting the minimal signed-in request once a
   second — for LOAD_SECONDS. Failed requests, and p95 of pages, of writes (save/complete/sign and the rest), of
   sign-in and of the minimal request.
2. saturation: LOAD_SAT_USERS users without pauses reloading a questionnaire page, then posting the minimal
   signed-in request, alternating LOAD_SAT_ROUNDS times LOAD_SAT_SECONDS each: requests per second per core of
   each, and their ratio.
3. fault: the paced run again; LOAD_KILL_AFTER seconds after the ramp-up one app server (its gunicorn master and workers) is
   killed with SIGKILL. Failed requests; every screening whose signature was answered "signed" must be signed in
   the database; `verify_audit` must pass.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.load.journey import CSRF, SCREENING_ID, VERSION, Http, sign_in  # noqa: E402
from bench.machine import machine  # noqa: E402

PY = sys.executable
LOCUST = str(Path(PY).with_name("locust"))
STACK = f"http://127.0.0.1:{os.environ.get('STACK_PORT', '8080')}"
APP_PORTS = os.environ.get("STACK_APP_PORTS", "8101,8102").split(",")
STACK_DIR = Path(os.environ.get("STACK_DIR", "var/stack"))
PG = urllib.parse.urlsplit(os.environ.get("STACK_PG", "postgres://postgres@127.0.0.1:5432"))
DB = os.environ.get("STACK_DB", "iop_load")
OWNER_URL = f"postgres://{DB}_owner@{PG.hostname}:{PG.port or 5432}/{DB}"
CLINICIANS = int(os.environ.get("LOAD_CLINICIANS", "40"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "120"))
SAT_USERS = int(os.environ.get("LOAD_SAT_USERS", "8"))
SAT_SECONDS = int(os.environ.get("LOAD_SAT_SECONDS", "30"))
SAT_ROUNDS = int(os.environ.get("LOAD_SAT_ROUNDS", "3"))
KILL_AFTER = int(os.environ.get("LOAD_KILL_AFTER", "40"))
# Users start SPAWN_RATE a second; the run lasts the ramp-up plus SECONDS of steady load.
SPAWN_RATE = float(os.environ.get("LOAD_SPAWN_RATE", "1"))
RAMP = int((CLINICIANS + 4) / SPAWN_RATE) + 10
PARTS = os.environ.get("LOAD_PARTS", "paced,saturation,fault").split(",")
HISTORY_SCREENINGS = int(os.environ.get("LOAD_HISTORY_SCREENINGS", "20000"))
OUT = ROOT / "bench" / "out"
WRITES = ("new client", "start screening", "save draft", "complete", "decide", "sign")
SAVE_COMPLETE_SIGN = ("save draft", "complete", "sign")
PAGES = ("sign-in page", "home", "new client page", "history", "dashboard", "export page")


def manage(*args: str, env: dict | None = None) -> None:
    subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env={**os.environ, "DATABASE_URL": OWNER_URL, **(env or {})}, check=True
    )


def p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else (values or [float("nan")])[0]
    )


def locust(mode: str, users: int, seconds: int, env: dict, *, spawn_rate: float) -> list[dict]:
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", dir=OUT, delete=False) as out:
        path = out.name
    cmd = [
        LOCUST,
        "-f",
        "bench/load/locustfile.py",
        "--headless",
        "--host",
        STACK,
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
    ]
    cmd += ["-t", f"{seconds}s", "--stop-timeout", "20", "--only-summary", "--loglevel", "WARNING"]
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env, "LOAD_MODE": mode, "LOAD_OUT": path}, check=False)
    with open(path) as f:
        records = [json.loads(line) for line in f]
    os.unlink(path)
    return records


def summarize(records: list[dict]) -> dict:
    """Failures over the whole run; response times once every user has signed in (the ramp-up is password
    hashing, reported apart as "sign in"), so the figures are those of the steady paced load."""
    by_name = defaultdict(list)
    failed = defaultdict(int)
    signed_in = max((r["t"] for r in records if r.get("name") == "sign in"), default=0)
    for r in records:
        if "name" in r:
            failed[r["name"]] += r["failed"]
            if r["t"] > signed_in or r["name"] == "sign in":
                by_name[r["name"]].append(r["ms"])

    def group(names) -> dict:
        times = [ms for n in names for ms in by_name.get(n, [])]
        return {"n": len(times), "p95_ms": round(p95(times), 1) if times else None}

    return {
        "requests": sum(1 for r in records if "name" in r),
        "steady_seconds": round(max(r["t"] for r in records if "name" in r) - signed_in, 1),
        "failed": sum(failed.values()),
        "failed_by_name": {k: v for k, v in failed.items() if v},
        "pages": group(PAGES),
        "save/complete/sign": group(SAVE_COMPLETE_SIGN),
        "all writes": group(WRITES),
        "sign in": group(("sign in",)),
        "minimal (keep-alive)": group(("minimal (keep-alive)",)),
        "export": group(("export",)),
        "signed": [r["signed"] for r in records if "signed" in r],
        "journeys": sum(1 for r in records if "signed" in r),
    }


def make_drafts(password: str, n: int) -> list[str]:
    """n drafts (through the stack, as a clinician would) for the saturation run's questionnaire page."""
    http = Http(requests.Session(), STACK)
    sign_in(http, "load_clinician_001", password)
    drafts = []
    for i in range(n):
        page = http.get("/clients/new/")
        made = http.post(
            "/clients/new/",
            data={
                "csrfmiddlewaretoken": CSRF.search(page.text).group(1),
                "record_number": f"SAT-{secrets.token_hex(4).upper()}",
                "given_name": "Synthetic",
                "family_name": f"Saturation{i}",
                "date_of_birth": "1979-09-09",
            },
            headers={"Referer": STACK + "/clients/new/"},
        )
        start = made.url.replace(STACK, "") + "screenings/new/"
        started = http.post(
            start, data={"csrfmiddlewaretoken": CSRF.search(made.text).group(1)}, headers={"Referer": STACK + start}
        )
        sid = SCREENING_ID.search(started.url).group(1)
        assert VERSION.search(started.text), "the questionnaire did not open"
        drafts.append(sid)
    return drafts


def gunicorn_pids(port: str) -> list[int]:
    master = int((STACK_DIR / "app" / f"app-{port}.pid").read_text())
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False).stdout.split()
    return [master, *map(int, children)]


def fault_run(env: dict, password: str) -> dict:
    victim = APP_PORTS[-1]
    killed = {}

    def kill():
        time.sleep(RAMP + KILL_AFTER)
        pids = gunicorn_pids(victim)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        killed.update(port=victim, pids=len(pids), at_s=RAMP + KILL_AFTER)

    threading.Thread(target=kill, daemon=True).start()
    result = summarize(locust("paced", CLINICIANS + 4, SECONDS + RAMP, env, spawn_rate=SPAWN_RATE))
    with psycopg2.connect(OWNER_URL) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM screening_screening WHERE public_id::text = ANY(%s) AND signed_at IS NOT NULL",
            [result["signed"]],
        )
        (found,) = cur.fetchone()
    verify = subprocess.run(
        [PY, "manage.py", "verify_audit"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": OWNER_URL},
        capture_output=True,
        text=True,
    )
    result.update(
        killed=killed,
        signed_answered=len(result["signed"]),
        signed_in_database=found,
        lost_writes=len(result["signed"]) - found,
        verify_audit=(verify.returncode, verify.stdout.strip() or verify.stderr.strip()),
    )
    return result


def main() -> int:
    OUT.mkdir(exist_ok=True)
    password = secrets.token_urlsafe(18)
    env = {"LOAD_PASSWORD": password}
    print("machine:", machine())
    for role, n in (("clinician", max(CLINICIANS, SAT_USERS) + 1), ("admin", 2), ("auditor", 1)):
        names = [f"load_{role}_{i:03d}" for i in range(1, n + 1)]
        manage("create_user", *names, "--role", role, "--password-env", "LOAD_PASSWORD", env=env)
    if HISTORY_SCREENINGS:
        manage("generate_screenings", str(HISTORY_SCREENINGS), "--seed", "5", "--days", "365")
    report: dict = {"machine": machine(), "cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    print("load average (1, 5, 15 min):", os.getloadavg())

    if "paced" in PARTS:
        paced(report, env)
    if "saturation" in PARTS:
        saturation(report, env, password)
    if "fault" in PARTS:
        print(f"== fault: the paced run; app server {APP_PORTS[-1]} killed (SIGKILL) after {KILL_AFTER} s")
        report["fault"] = fault_run(env, password)
        report["fault"].pop("signed")
        print(json.dumps(report["fault"], indent=1))
    (OUT / "load.json").write_text(json.dumps(report, indent=1))
    failures = "fault" in report and (report["fault"]["lost_writes"] or report["fault"]["verify_audit"][0])
    return 1 if failures else 0


def paced(report: dict, env: dict) -> None:
    print(f"== paced: {CLINICIANS} clinicians, 2 admins, 1 auditor, 1 probe; {RAMP} s ramp-up, then {SECONDS} s")
    report["paced"] = summarize(locust("paced", CLINICIANS + 4, SECONDS + RAMP, env, spawn_rate=SPAWN_RATE))
    report["paced"].pop("signed")
    print(json.dumps(report["paced"], indent=1))


def saturation(report: dict, env: dict, password: str) -> None:
    print(f"== saturation: {SAT_USERS} users without pauses, {SAT_ROUNDS} rounds of {SAT_SECONDS} s each side")
    drafts = make_drafts(password, 4)
    rates = defaultdict(list)
    for _ in range(SAT_ROUNDS):
        for mode, name in (("form", "questionnaire page"), ("minimal", "minimal (keep-alive)")):
            records = locust(
                mode, SAT_USERS, SAT_SECONDS, {**env, "LOAD_DRAFTS": ",".join(drafts)}, spawn_rate=SAT_USERS
            )
            # Counted once every user has signed in (sign-in is password hashing, not the page): from the first
            # request of the page to the last, over that time.
            signed_in = max(r["t"] for r in records if r.get("name") == "sign in")
            times = sorted(r["t"] for r in records if r.get("name") == name and not r["failed"] and r["t"] > signed_in)
            rates[mode].append((len(times) - 1) / (times[-1] - signed_in) / os.cpu_count())
    report["saturation"] = {
        "per_core_per_s": {m: [round(v, 1) for v in vs] for m, vs in rates.items()},
        "median_per_core_per_s": {m: round(statistics.median(vs), 1) for m, vs in rates.items()},
        "questionnaire_vs_minimal": round(statistics.median(rates["form"]) / statistics.median(rates["minimal"]), 3),
        # Each round's two sides ran one after the other; the machine's other load drifts between rounds.
        "per_round_ratios": [round(f / m, 3) for f, m in zip(rates["form"], rates["minimal"], strict=True)],
    }
    print(json.dumps(report["saturation"], indent=1))


if __name__ == "__main__":
    sys.exit(main())
