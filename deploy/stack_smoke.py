"""The production stack's smoke test (CI runs it through `make stack-smoke`): with the stack up (deploy/stack.sh),

1. makes a clinician and an auditor (`manage.py create_user`, as the owner, straight to PostgreSQL);
2. signs the clinician in through nginx and shows that the same session works on each app server directly;
3. drives the clinician's journey through nginx (new client, draft, complete, decide, sign);
4. exports an identified CSV as the auditor through nginx and finds the new client's screening in it;
5. finds the sign request's X-Request-ID (made by nginx) on its audit event;
6. runs `manage.py verify_audit` on the stack's database: the chain is intact.

Exit status 0 when every step held; otherwise the failing step is named and the status is 1.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import subprocess
import sys
import urllib.parse
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.load.journey import Http, JourneyError, auditor_export, clinician_steps, sign_in  # noqa: E402

STACK = f"http://127.0.0.1:{os.environ.get('STACK_PORT', '8080')}"
APP_PORTS = os.environ.get("STACK_APP_PORTS", "8101,8102").split(",")
PG = urllib.parse.urlsplit(os.environ.get("STACK_PG", "postgres://postgres@127.0.0.1:5432"))
DB = os.environ.get("STACK_DB", "iop_stack")
OWNER_URL = f"postgres://{DB}_owner@{PG.hostname}:{PG.port or 5432}/{DB}"


def manage(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": OWNER_URL, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise JourneyError(f"manage.py {args[0]}: exit {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def step(text: str) -> None:
    print(f"== {text}", flush=True)


def main() -> int:
    password = secrets.token_urlsafe(18)
    tag = secrets.token_hex(3)
    clinician, auditor = f"smoke_clin_{tag}", f"smoke_audit_{tag}"
    try:
        step("users: a clinician and an auditor (manage.py create_user)")
        manage(
            "create_user",
            clinician,
            "--role",
            "clinician",
            "--password-env",
            "SMOKE_PASSWORD",
            env={"SMOKE_PASSWORD": password},
        )
        manage(
            "create_user",
            auditor,
            "--role",
            "auditor",
            "--password-env",
            "SMOKE_PASSWORD",
            env={"SMOKE_PASSWORD": password},
        )

        step(f"sign in through nginx ({STACK}); the session works on each app server")
        session = requests.Session()
        http = Http(session, STACK)
        sign_in(http, clinician, password)
        for port in APP_PORTS:
            home = session.get(f"http://127.0.0.1:{port}/", allow_redirects=False, timeout=30)
            if home.status_code != 200 or "Sign out" not in home.text:
                raise JourneyError(f"the session from nginx is not signed in on the app server at port {port}")
            print(f"   app server {port}: signed in")

        step("clinician: new client, draft, complete, decide, sign — through nginx")
        signed_id = clinician_steps(http, password)
        last = http.get(f"/screenings/{signed_id}/")
        if "Signed" not in last.text:
            raise JourneyError("the screening's page does not say it is signed")
        print(f"   screening {signed_id}: signed")

        step("auditor: identified CSV export through nginx")
        audit_http = Http(requests.Session(), STACK)
        sign_in(audit_http, auditor, password)
        body = auditor_export(audit_http)
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
        if not any(signed_id in row.values() for row in rows):
            raise JourneyError("export: the signed screening is not in the identified CSV")
        print(f"   {len(rows)} rows, the signed screening among them")

        step("request ids: nginx's X-Request-ID is on the audit events of its request")
        probe = http.get(f"/screenings/{signed_id}/")
        sign_request_id = probe.headers.get("X-Request-ID", "")
        with psycopg2.connect(OWNER_URL) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM screening_auditevent WHERE request_id = %s", [sign_request_id])
            (events,) = cur.fetchone()
        if not sign_request_id or events < 1:
            raise JourneyError(f"no audit event carries the request id {sign_request_id!r} nginx made")
        print(f"   {sign_request_id}: {events} audit event(s)")

        step("verify_audit on the stack's database")
        print("   " + manage("verify_audit").strip().replace("\n", "\n   "))
    except (JourneyError, requests.RequestException) as e:
        print(f"stack smoke test FAILED: {e}", file=sys.stderr)
        return 1
    print("stack smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
