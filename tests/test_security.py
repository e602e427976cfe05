import base64
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from screening.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.django_db


def env_example() -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return {k: v for k, v in pairs}


def test_check_deploy_is_clean_with_production_environment(tmp_path):
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    env = {**os.environ, **env_example()}
    # Keys of its own, never the developer's .env: production sets them in the environment.
    env.update(
        ENV_FILE=str(empty_env_file),
        SECRET_KEY=secrets.token_urlsafe(50),
        AUDIT_HMAC_KEY=secrets.token_urlsafe(32),
        AUDIT_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
    )
    env.pop("DATABASE_URL", None)  # the check needs no database; keep it on SQLite
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set in-process by the browser tests, never in deployment

    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


def test_check_deploy_warns_without_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in env_example()}

    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert proc.returncode != 0


def test_csp_header_forbids_inline_script_and_style(client):
    response = client.get(reverse("login"))

    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_pages_have_no_inline_scripts_or_styles(clinician_client):
    html = clinician_client.get(reverse("home")).content.decode()

    assert "<script>" not in html and " style=" not in html and " onclick=" not in html


def test_sign_in_and_failure_are_audited(client):
    UserFactory(username="nurse", role="clinician")

    client.post(reverse("login"), {"username": "nurse", "password": "wrong"})
    client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})

    actions = list(AuditEvent.objects.values_list("action", "actor_username"))
    assert actions == [("sign_in_failed", "nurse"), ("sign_in", "nurse")]


def test_lockout_after_repeated_failures(client, settings):
    UserFactory(username="nurse", role="clinician")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "nurse", "password": "wrong"})

    response = client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})

    assert response.status_code == 429
    assert "temporarily locked" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_idle_session_is_signed_out(clinician_client, settings):
    clinician_client.get(reverse("home"))
    session = clinician_client.session
    session["last_activity"] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT_MINUTES * 60 - 5
    session.save()

    response = clinician_client.get(reverse("client_list"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert clinician_client.get(reverse("home")).status_code == 302


def test_active_session_stays_signed_in(clinician_client):
    clinician_client.get(reverse("home"))

    assert clinician_client.get(reverse("client_list")).status_code == 200


def test_session_has_absolute_lifetime(settings):
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_ABSOLUTE_TIMEOUT_MINUTES * 60 <= 12 * 3600
