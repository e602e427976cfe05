"""Settings: secrets fail closed, .env is read under the environment, booleans and numbers are strict.

Each settings test starts the settings in a new process with a controlled environment and its own
.env file (named by ENV_FILE), never this checkout's .env.
"""

import base64
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[1]
SHOW = "from django.conf import settings as s; print(*(repr(getattr(s, n)) for n in {names!r}), sep='\\n')"
OLD_PLACEHOLDERS = [
    ("SECRET_KEY", "insecure-placeholder-key-for-local-development-only"),
    ("AUDIT_HMAC_KEY", "insecure-placeholder-audit-key"),
    ("SECRET_KEY", "change-me-to-50-or-more-random-characters-from-a-secrets-manager-xxxxxxxx"),
    ("AUDIT_HMAC_KEY", "change-me-to-a-second-long-random-secret-kept-with-the-database-backups"),
]


def keys() -> dict[str, str]:
    made = {name: secrets.token_urlsafe(50) for name in settings.REQUIRED_SECRETS}
    return made | {"AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_an_audit_signing_key_that_is_not_32_bytes_stops_naming_it(tmp_path, value):
    proc = start(tmp_path, {**keys(), "AUDIT_SIGNING_KEY": value})

    assert proc.returncode != 0
    assert "ImproperlyConfigured: AUDIT_SIGNING_KEY is not the base64 of 32 bytes" in proc.stderr


def start(tmp_path, env: dict[str, str], env_file: str = "", *, show=(), args=None) -> subprocess.CompletedProcess:
    """Load the settings in a new process that has only `env` (and PATH) and reads `env_file` as its .env."""
    dotenv = tmp_path / "test.env"
    dotenv.write_text(env_file)
    process_env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "iop_screening.settings",
        "ENV_FILE": str(dotenv),
    }
    return subprocess.run(
        [sys.executable, *(args or ["-c", SHOW.format(names=list(show) or ["SECRET_KEY"])])],
        cwd=ROOT,
        env={**process_env, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def lines(env_values: dict[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in env_values.items())


# --- Secrets


@pytest.mark.parametrize("missing", ["SECRET_KEY", "AUDIT_HMAC_KEY"])
def test_start_without_a_secret_stops_naming_it(tmp_path, missing):
    env = {name: value for name, value in keys().items() if name != missing}

    proc = start(tmp_path, env, args=["manage.py", "check"])

    assert proc.returncode != 0
    assert f"ImproperlyConfigured: {missing} not set." in proc.stderr
    assert proc.stdout == ""


def test_start_without_any_secret_names_every_missing_one(tmp_path):
    proc = start(tmp_path, {})

    assert proc.returncode != 0
    assert f"ImproperlyConfigured: {', '.join(settings.REQUIRED_SECRETS)} not set." in proc.stderr


@pytest.mark.parametrize(("name", "value"), OLD_PLACEHOLDERS, ids=[f"{n}-{v[:12]}" for n, v in OLD_PLACEHOLDERS])
def test_start_with_a_published_placeholder_stops_naming_it(tmp_path, name, value):
    proc = start(tmp_path, {**keys(), name: value})

    assert proc.returncode != 0
    assert f"ImproperlyConfigured: {name} set to a value published in this repository" in proc.stderr


def test_env_example_as_the_env_file_does_not_start(tmp_path):
    proc = start(tmp_path, {"ENV_FILE": str(ROOT / ".env.example")})

    assert proc.returncode != 0
    assert f"ImproperlyConfigured: {', '.join(settings.REQUIRED_SECRETS)} not set." in proc.stderr


# --- The .env file


def test_env_file_is_read(tmp_path):
    values = keys()

    proc = start(tmp_path, {}, lines({**values, "AXES_FAILURE_LIMIT": "7"}), show=["SECRET_KEY", "AXES_FAILURE_LIMIT"])

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [repr(values["SECRET_KEY"]), "7"]


def test_environment_wins_over_env_file(tmp_path):
    in_file, in_env = keys(), keys()

    proc = start(
        tmp_path,
        {"SECRET_KEY": in_env["SECRET_KEY"], "AXES_FAILURE_LIMIT": "3"},
        lines({**in_file, "AXES_FAILURE_LIMIT": "7"}),
        show=["SECRET_KEY", "AUDIT_HMAC_KEY", "AXES_FAILURE_LIMIT"],
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [repr(in_env["SECRET_KEY"]), repr(in_file["AUDIT_HMAC_KEY"]), "3"]


def test_empty_environment_value_counts_as_unset(tmp_path):
    values = keys()

    proc = start(tmp_path, {"SECRET_KEY": ""}, lines(values))

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [repr(values["SECRET_KEY"])]


def test_env_file_comments_export_and_quotes_are_understood(tmp_path):
    values = keys()
    text = f"# development\n\nexport SECRET_KEY='{values['SECRET_KEY']}'\n"
    text += lines({"AUDIT_HMAC_KEY": "x" * 60, "AUDIT_SIGNING_KEY": values["AUDIT_SIGNING_KEY"]})

    proc = start(tmp_path, {}, text)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [repr(values["SECRET_KEY"])]


def test_env_file_line_without_equals_stops_naming_the_line(tmp_path):
    proc = start(tmp_path, keys(), "# keys\nSECRET_KEY\n")

    assert proc.returncode != 0
    assert "test.env, line 2: expected NAME=value." in proc.stderr


def test_named_env_file_that_does_not_exist_stops(tmp_path):
    proc = start(tmp_path, {**keys(), "ENV_FILE": str(tmp_path / "missing.env")})

    assert proc.returncode != 0
    assert "missing.env does not exist." in proc.stderr


# --- Booleans and whole numbers


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("Yes", True), ("on", True)]
    + [("false", False), ("False", False), ("0", False), ("no", False), ("OFF", False)],
)
def test_boolean_setting_reads_its_words(tmp_path, value, expected):
    proc = start(tmp_path, {**keys(), "DEBUG": value}, show=["DEBUG"])

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [repr(expected)]


@pytest.mark.parametrize(("name", "value"), [("SECURE", "ture"), ("DEBUG", "maybe"), ("SECURE_PROXY_SSL_HEADER", "y")])
def test_boolean_setting_it_cannot_read_stops_naming_it(tmp_path, name, value):
    proc = start(tmp_path, {**keys(), name: value})

    assert proc.returncode != 0
    assert f"ImproperlyConfigured: {name}={value!r} is not a boolean" in proc.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AXES_FAILURE_LIMIT", "five", "AXES_FAILURE_LIMIT='five' is not a whole number."),
        ("AXES_COOLOFF_MINUTES", "2.5", "AXES_COOLOFF_MINUTES='2.5' is not a whole number."),
        ("SESSION_IDLE_TIMEOUT_MINUTES", "15m", "SESSION_IDLE_TIMEOUT_MINUTES='15m' is not a whole number."),
        ("AXES_FAILURE_LIMIT", "0", "AXES_FAILURE_LIMIT=0 is below its minimum, 1."),
    ],
)
def test_integer_setting_it_cannot_read_stops_naming_it(tmp_path, name, value, message):
    proc = start(tmp_path, {**keys(), name: value})

    assert proc.returncode != 0
    assert f"ImproperlyConfigured: {message}" in proc.stderr


def test_integer_setting_reads_its_value(tmp_path):
    proc = start(tmp_path, {**keys(), "AXES_FAILURE_LIMIT": " 4 "}, show=["AXES_FAILURE_LIMIT"])

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["4"]


# --- Production


def test_check_deploy_is_clean_with_production_settings_from_the_environment_alone(tmp_path):
    production = {
        **keys(),
        "DEBUG": "false",
        "SECURE": "true",
        "ALLOWED_HOSTS": "iop.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://iop.example.org",
    }

    proc = start(tmp_path, production, args=["manage.py", "check", "--deploy", "--fail-level", "WARNING"])

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


# --- make's development keys


def test_make_writes_development_keys_and_keeps_an_existing_env_file(tmp_path):
    (tmp_path / "iop_screening").mkdir()
    shutil.copy(ROOT / "iop_screening" / "settings.py", tmp_path / "iop_screening" / "settings.py")
    dotenv = tmp_path / ".env"
    make = ["make", "-s", "-C", str(tmp_path), "-f", str(ROOT / "Makefile"), ".env"]

    subprocess.run(make, check=True, capture_output=True)
    first = dotenv.read_text()
    dotenv.write_text(first.replace("SECRET_KEY=", "SECRET_KEY=kept-") + "EXTRA=1\n")
    os.utime(dotenv, (0, 0))  # older than settings.py, so make runs the rule again
    subprocess.run(make, check=True, capture_output=True)

    written = dict(line.split("=", 1) for line in first.splitlines() if not line.startswith("#"))
    assert sorted(written) == sorted(settings.REQUIRED_SECRETS)
    assert all(len(value) >= 44 for value in written.values())  # the signing key: base64 of 32 bytes
    assert len(base64.b64decode(written["AUDIT_SIGNING_KEY"], validate=True)) == 32
    assert dotenv.read_text() == first.replace("SECRET_KEY=", "SECRET_KEY=kept-") + "EXTRA=1\n"
    assert oct(dotenv.stat().st_mode & 0o777) == "0o600"


# --- The suite's password hashing


@pytest.mark.django_db
def test_suite_hashes_passwords_with_md5():
    user = UserFactory()

    assert user.password.startswith("md5$")
    assert check_password(PASSWORD, user.password)


@pytest.mark.django_db
@pytest.mark.real_password_hashing
def test_real_password_hashing_marker_uses_the_projects_hasher():
    user = UserFactory()

    assert user.password.startswith("argon2$argon2id$v=19$m=47104,t=1,p=1$")
    assert check_password(PASSWORD, user.password)


@pytest.mark.django_db
@pytest.mark.real_password_hashing
def test_a_pbkdf2_password_from_before_argon2id_still_signs_in_and_is_rehashed(client):
    user = UserFactory(username="nurse")
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])

    response = client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=47104,t=1,p=1$")
    assert check_password(PASSWORD, user.password)


@pytest.mark.django_db
@pytest.mark.real_password_hashing
def test_an_argon2_hash_at_weaker_parameters_is_rehashed_at_sign_in(client):
    # Django's own Argon2 parameters differ from the project's: the stored hash is brought to the project's.
    user = UserFactory(username="nurse")
    weak = Argon2PasswordHasher()
    weak.memory_cost, weak.time_cost, weak.parallelism = 8192, 1, 1
    user.password = weak.encode(PASSWORD, weak.salt())
    user.save(update_fields=["password"])

    client.post(reverse("login"), {"username": "nurse", "password": PASSWORD})

    user.refresh_from_db()
    assert "m=47104,t=1,p=1" in user.password


def test_server_side_cursors_can_be_turned_off_for_pgbouncer(tmp_path):
    proc = start(tmp_path, {**keys(), "DISABLE_SERVER_SIDE_CURSORS": "true"}, show=["DATABASES"])

    assert proc.returncode == 0, proc.stderr
    assert "'DISABLE_SERVER_SIDE_CURSORS': True" in proc.stdout
