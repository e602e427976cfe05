"""The scripted journeys through the production stack, over HTTP only (no Django import): a clinician's (sign in,
new client, draft, complete, decide, sign), an admin's (history, dashboard) and an auditor's (an export).

Used by `deploy/stack_smoke.py` (CI) with a plain `requests.Session`, and by `bench/load/locustfile.py` with
Locust's client (a `requests.Session` too, which also times each request under the `name` given). Every step
checks what came back and raises `JourneyError` naming the step, so a failure is never silent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import re
import struct
import time
import urllib.parse
import uuid

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')
SCREENING_ID = re.compile(r"/screenings/([0-9a-f-]{36})/")
CLIENT_ID = re.compile(r"/clients/([0-9a-f-]{36})/")
MFA_SECRET = re.compile(r'id="mfa-secret"[^>]*>([A-Z2-7 ]+)<')
_records = itertools.count(1)


class JourneyError(AssertionError):
    """A step of a journey did not get the page it expected."""


def _check(response, step: str, *, status: int = 200, contains: str | None = None):
    if response.status_code != status:
        raise JourneyError(f"{step}: HTTP {response.status_code}, expected {status}")
    if contains is not None and contains not in response.text:
        raise JourneyError(f"{step}: the page does not say {contains!r}")
    return response


def _csrf(response, step: str) -> str:
    found = CSRF.search(response.text)
    if not found:
        raise JourneyError(f"{step}: no CSRF token on the page")
    return found.group(1)


def _post(session, path: str, data: dict, *, token: str, name: str, referer: str):
    return session.post(
        path, data={"csrfmiddlewaretoken": token, **data}, headers={"Referer": referer}, allow_redirects=True, name=name
    )


class Http:
    """A requests.Session with a base URL and Locust's `name=` keyword accepted (and dropped) when plain."""

    def __init__(self, session, base: str = "", *, named: bool = False):
        self.session, self.base, self.named = session, base.rstrip("/"), named

    def get(self, path: str, *, name: str | None = None, **kwargs):
        kwargs.setdefault("allow_redirects", True)
        if self.named:
            kwargs["name"] = name or path
        return self.session.get(self.base + path, **kwargs)

    def post(self, path: str, *, name: str | None = None, **kwargs):
        if self.named:
            kwargs["name"] = name or path
        return self.session.post(self.base + path, **kwargs)

    def referer(self, path: str) -> str:
        # Locust's client carries its host itself (base ""): the Referer then names the stack's default address.
        return (self.base or os.environ.get("STACK_URL", "http://127.0.0.1:8080")) + path


def totp(secret_b32: str, at: float | None = None) -> str:
    """RFC 6238's code (SHA-1, 6 digits, 30 s) for a base32 key — what an authenticator app shows."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int((time.time() if at is None else at) // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def sign_in(http: Http, username: str, password: str) -> None:
    """Sign in; where the second factor is required, enrol an authenticator at the first sign-in (as a new user
    does) with a code computed here."""
    page = _check(http.get("/accounts/login/", name="sign-in page"), "sign-in page")
    done = _post(
        http,
        "/accounts/login/",
        {"username": username, "password": password},
        token=_csrf(page, "sign-in page"),
        name="sign in",
        referer=http.referer("/accounts/login/"),
    )
    _check(done, "sign in")
    if "/accounts/mfa/setup/" in done.url:
        secret = MFA_SECRET.search(done.text)
        if not secret:
            raise JourneyError("second factor set-up: no key on the page")
        code = totp(secret.group(1).replace(" ", ""))
        enrolled = _post(
            http,
            "/accounts/mfa/setup/",
            {"code": code},
            token=_csrf(done, "second factor set-up"),
            name="second factor set-up",
            referer=http.referer("/accounts/mfa/setup/"),
        )
        _check(enrolled, "second factor set-up", contains="recovery")
        done = http.get("/", name="home")
    if urllib.parse.urlsplit(done.url).path != "/":
        raise JourneyError(f"sign in: landed on {urllib.parse.urlsplit(done.url).path}, not the home page")
    _check(done, "sign in", contains="Sign out")


# A complete questionnaire that yields IOP (moderate alcohol use, mild withdrawal, safe supportive home):
# the same answers as tests/test_views_clinician.py's answers_post.
def iop_answers(version: str) -> dict:
    data: dict = {
        "version": version,
        "substances": ["alcohol"],
        "pawss": "1",
        "dsm5_criteria": ["craving", "cut_down", "tolerance"],
        "mental_health_condition": "none",
        "readiness": "action",
        "cssrs_behavior": "never",
    }
    ciwa = (
        "nausea",
        "tremor",
        "sweats",
        "anxiety",
        "agitation",
        "tactile",
        "auditory",
        "visual",
        "headache",
        "orientation",
    )
    data.update({f"ciwa_{item}": "0" for item in ciwa})
    data.update({f"phq9_{n}": "1" if n < 4 else "0" for n in range(1, 10)})
    data.update({f"gad7_{n}": "1" for n in range(1, 8)})
    no = (
        "withdrawal_seizure_or_dt_history complicated_withdrawal_now unstable_medical_condition pregnant "
        "psychotic_symptoms cssrs_wish_dead cssrs_suicidal_thoughts homicidal_ideation relapse_after_outpatient_12mo "
        "recent_higher_level_care lives_with_substance_users family_commitments work_or_school_commitments"
    )
    data.update(dict.fromkeys(no.split(), "no"))
    data.update(dict.fromkeys(["home_safe", "stable_housing", "supportive_network", "can_attend_9h_week"], "yes"))
    return data


def clinician_steps(http: Http, password: str, pause=lambda: None):
    """The clinician's journey after sign-in, one page at a time; `pause()` runs between pages, so Locust can pace
    it like a person. Returns the signed screening's id."""
    new_client = _check(http.get("/clients/new/", name="new client page"), "new client page")
    pause()
    record = f"LOAD-{uuid.uuid4().hex[:10].upper()}"
    made = _post(
        http,
        "/clients/new/",
        {
            "record_number": record,
            "given_name": "Synthetic",
            "family_name": f"Load{next(_records)}",
            "date_of_birth": "1985-04-02",
        },
        token=_csrf(new_client, "new client page"),
        name="new client",
        referer=http.referer("/clients/new/"),
    )
    _check(made, "new client")
    client_id = CLIENT_ID.search(made.url)
    if not client_id:
        raise JourneyError(f"new client: landed on {made.url}, not the client's page")
    pause()
    start_path = f"/clients/{client_id.group(1)}/screenings/new/"
    started = _post(
        http, start_path, {}, token=_csrf(made, "client page"), name="start screening", referer=http.referer(start_path)
    )
    _check(started, "start screening", contains='name="version"')
    screening = SCREENING_ID.search(started.url)
    if not screening:
        raise JourneyError(f"start screening: landed on {started.url}, not the questionnaire")
    sid = screening.group(1)
    edit = f"/screenings/{sid}/edit/"
    pause()
    draft = {"version": VERSION.search(started.text).group(1), "substances": ["alcohol"], "save": "1"}
    saved = _post(
        http, edit, draft, token=_csrf(started, "questionnaire"), name="save draft", referer=http.referer(edit)
    )
    _check(saved, "save draft", contains='name="version"')
    pause()
    answers = {**iop_answers(VERSION.search(saved.text).group(1)), "complete": "1"}
    completed = _post(
        http, edit, answers, token=_csrf(saved, "questionnaire"), name="complete", referer=http.referer(edit)
    )
    _check(completed, "complete", contains='id="sign"')
    if f"/screenings/{sid}/" not in completed.url or completed.url.endswith("/edit/"):
        raise JourneyError("complete: the questionnaire came back (an answer was refused)")
    pause()
    decide = f"/screenings/{sid}/decide/"
    decided = _post(
        http,
        decide,
        {"final_level": "iop"},
        token=_csrf(completed, "recommendation"),
        name="decide",
        referer=http.referer(decide),
    )
    _check(decided, "decide", contains="Decision recorded")
    pause()
    sign = f"/screenings/{sid}/sign/"
    signed = _post(
        http,
        sign,
        {"password": password},
        token=_csrf(decided, "recommendation"),
        name="sign",
        referer=http.referer(sign),
    )
    _check(signed, "sign", contains="Screening signed")
    return sid


def admin_pages(http: Http) -> None:
    _check(http.get("/review/history/", name="history"), "history")
    _check(http.get("/review/dashboard/", name="dashboard"), "dashboard")


def auditor_export(http: Http, *, since: str = "2000-01-01", until: str = "2999-12-31") -> bytes:
    """An identified CSV of every screening in the range, through the export page; returns the bytes."""
    page = _check(http.get("/audit/exports/", name="export page"), "export page")
    data = {"format": "csv", "deidentified": "no", "since": since, "until": until}
    got = _post(
        http,
        "/audit/exports/",
        data,
        token=_csrf(page, "export page"),
        name="export",
        referer=http.referer("/audit/exports/"),
    )
    _check(got, "export")
    if not got.headers.get("Content-Disposition", "").startswith("attachment"):
        raise JourneyError("export: not a download")
    return got.content
