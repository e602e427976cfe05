"""Locust users for `make load` (bench/load/run.py starts Locust with this file; see bench/README.md).

LOAD_MODE picks who runs:
- `paced`: clinicians doing the whole journey paced like people (a page every 5–15 s), admins opening history and
  the dashboard, an auditor exporting, and a probe posting the minimal signed-in request (the keep-alive: same
  middleware, session and user loading, no screening data) once a second, for its p95 beside the others;
- `form` / `minimal`: the saturation runs, without pauses: each user reloads its own draft's questionnaire page
  (`form`) or posts the keep-alive (`minimal`).

Every request's name, time and outcome is written to LOAD_OUT (JSON Lines) for run.py's figures; the ids of the
screenings whose signature was answered "signed" go there too, so run.py can check none was lost.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
from pathlib import Path

from locust import HttpUser, between, constant, events, task

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.load.journey import CSRF, Http, admin_pages, auditor_export, clinician_steps, sign_in  # noqa: E402

MODE = os.environ.get("LOAD_MODE", "paced")
PASSWORD = os.environ["LOAD_PASSWORD"]
OUT = open(os.environ["LOAD_OUT"], "a", buffering=1)  # noqa: SIM115 (open for the run's life)
_lock = threading.Lock()
_names = {role: itertools.count(1) for role in ("clinician", "admin", "auditor")}


def _user(role: str) -> str:
    return f"load_{role}_{next(_names[role]):03d}"


def _write(record: dict) -> None:
    with _lock:
        OUT.write(json.dumps(record) + "\n")


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, exception, **kwargs):
    _write({"name": name, "ms": response_time, "failed": exception is not None, "t": time.time()})


class Signed(HttpUser):
    abstract = True
    role = "clinician"

    def on_start(self):
        self.http = Http(self.client, named=True)
        self.username = _user(self.role)
        sign_in(self.http, self.username, PASSWORD)


class Clinician(Signed):
    weight = 40
    wait_time = between(5, 15)

    @task
    def journey(self):
        sid = clinician_steps(self.http, PASSWORD, pause=self.wait)
        _write({"signed": sid})
        self.wait()


class Admin(Signed):
    weight = 2
    fixed_count = 2
    role = "admin"
    wait_time = between(5, 15)

    @task
    def review(self):
        admin_pages(self.http)


class Auditor(Signed):
    fixed_count = 1
    role = "auditor"
    wait_time = between(30, 60)

    @task
    def export(self):
        auditor_export(self.http, since="2000-01-01", until="2999-12-31")


class Probe(Signed):
    """The minimal signed-in request, paced, for its p95 beside the pages' in the same run."""

    fixed_count = 1
    wait_time = constant(1)

    def on_start(self):
        super().on_start()
        self.token = CSRF.search(self.client.get("/", name="home").text).group(1)

    @task
    def keep_alive(self):
        self.client.post("/session/keep-alive/", headers={"X-CSRFToken": self.token}, name="minimal (keep-alive)")


class FormReload(Signed):
    """Saturation: the questionnaire page of the user's own draft, again and again."""

    wait_time = constant(0)

    def on_start(self):
        super().on_start()
        drafts = os.environ["LOAD_DRAFTS"].split(",")
        self.draft = drafts[int(self.username.rsplit("_", 1)[1]) % len(drafts)]

    @task
    def form(self):
        self.client.get(f"/screenings/{self.draft}/edit/", name="questionnaire page")


class MinimalPage(Probe):
    wait_time = constant(0)
    fixed_count = 0


USERS = {"paced": [Clinician, Admin, Auditor, Probe], "form": [FormReload], "minimal": [MinimalPage]}[MODE]
for _cls in (Clinician, Admin, Auditor, Probe, FormReload, MinimalPage):
    if _cls not in USERS:
        _cls.abstract = True
del _cls
