"""Production plumbing (issue 13, items 2-4): health endpoints, the client address behind trusted proxies, the
request id, and one JSON log line per request without PHI."""

import io
import json
import logging
from pathlib import Path

import pytest
from django.db import DatabaseError
from django.urls import reverse

from screening.logs import JsonFormatter
from screening.models import AuditEvent
from tests.factories import PASSWORD, ClientFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_the_database_or_a_sign_in(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    assert not AuditEvent.objects.exists()


def test_readyz_is_ok_when_the_database_answers_and_every_migration_is_applied(client):
    assert client.get("/readyz").json() == {"status": "ok"}


def test_readyz_is_503_when_the_database_does_not_answer(client, monkeypatch):
    def down(*args, **kwargs):
        raise DatabaseError("could not connect")

    monkeypatch.setattr("screening.views.health.MigrationExecutor", down)

    response = client.get("/readyz")

    assert response.status_code == 503 and response.json()["database"] == "unreachable"


def test_readyz_is_503_with_a_migration_not_applied(client, monkeypatch):
    monkeypatch.setattr(
        "django.db.migrations.executor.MigrationExecutor.migration_plan", lambda self, targets: [("m", False)]
    )

    response = client.get("/readyz")

    assert response.status_code == 503 and response.json()["pending"] == 1


def test_health_is_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get(reverse("login")).status_code == 301


@pytest.mark.parametrize(
    ("count", "forwarded", "seen"),
    [
        (0, "203.0.113.9", "127.0.0.1"),  # no proxy: the header is the client's to write, never read
        (1, "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the left entry was written by the client
        (2, "198.51.100.7, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "10.0.0.2", "127.0.0.1"),  # fewer entries than proxies: not through them
    ],
)
def test_the_client_address_comes_through_trusted_proxies_only(client, settings, count, forwarded, seen):
    settings.TRUSTED_PROXY_COUNT = count
    UserFactory(username="nurse", role="clinician")

    client.post(reverse("login"), {"username": "nurse", "password": PASSWORD}, HTTP_X_FORWARDED_FOR=forwarded)

    assert AuditEvent.objects.get(action="sign_in").ip_address == seen


def test_the_lockout_counts_by_the_address_behind_the_proxy(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(username="nurse", role="clinician")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "nurse", "password": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.9")

    locked = client.post(
        reverse("login"), {"username": "nurse", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.9"
    )
    elsewhere = client.post(
        reverse("login"), {"username": "nurse", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="198.51.100.7"
    )

    assert locked.status_code == 429 and elsewhere.status_code == 302


@pytest.mark.parametrize(("count", "kept"), [(0, False), (1, True)])
def test_the_request_id_is_a_trusted_proxys_or_made_and_returned(client, settings, count, kept):
    settings.TRUSTED_PROXY_COUNT = count

    response = client.get(reverse("login"), HTTP_X_REQUEST_ID="lb-0123456789abcdef")

    assert (response["X-Request-ID"] == "lb-0123456789abcdef") is kept
    assert len(response["X-Request-ID"]) >= 8


def test_each_request_is_one_json_log_line_without_phi(clinician_client, clinician, caplog):
    person = ClientFactory(given_name="Quintessa", record_number="P-77777")

    with caplog.at_level(logging.INFO, logger="screening.requests"):
        response = clinician_client.get(reverse("client_detail", args=[person.public_id]) + "?q=Quintessa")

    (record,) = [r for r in caplog.records if r.name == "screening.requests"]
    line = json.loads(JsonFormatter().format(record))
    assert line["path"] == reverse("client_detail", args=[person.public_id])  # never the query string
    assert line["status"] == 200 and line["method"] == "GET" and line["user_id"] == clinician.pk
    assert line["request_id"] == response["X-Request-ID"]
    assert {"time", "level", "duration_ms"} <= set(line)
    assert "Quintessa" not in json.dumps(line) and "P-77777" not in json.dumps(line)


def test_audit_events_carry_the_request_id_hashed_and_events_without_one_verify_as_before(client, settings):
    from screening import audit

    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(username="nurse", role="clinician")
    audit.record(action=AuditEvent.Action.VIEW, object_type="test")  # no request: no id, hashed as before

    response = client.post(
        reverse("login"), {"username": "nurse", "password": PASSWORD}, HTTP_X_REQUEST_ID="lb-req-000000000042"
    )

    event = AuditEvent.objects.get(action="sign_in")
    assert response["X-Request-ID"] == event.request_id == "lb-req-000000000042"
    assert AuditEvent.objects.get(object_type="test").request_id == ""
    assert audit.verify().ok
    _raw_set_request_id(event.pk, "someone-else-0001")
    result = audit.verify()
    assert not result.ok and result.first_broken_id == event.pk


def _raw_set_request_id(pk: int, value: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # past the append-only guards, as the table's owner with SQL could
        if connection.vendor == "postgresql":  # its trigger off for this transaction (replica role)
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE screening_auditevent SET request_id = %s WHERE id = %s", [value, pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def test_release_migrates_and_collects_static_files(settings, tmp_path):
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path / "static"
    out = io.StringIO()

    call_command("release", stdout=out)

    assert "migrations applied, static files collected" in out.getvalue()
    assert (tmp_path / "static" / "css").is_dir()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_release_steps_started_at_once_wait_for_each_other():
    import threading
    import time

    from django.core.management import call_command
    from django.db import connection, connections

    from screening.management.commands.release import RELEASE_LOCK

    with connection.cursor() as cursor:  # another release step holds the lock
        cursor.execute("SELECT pg_advisory_lock(%s)", [RELEASE_LOCK])
    done = threading.Event()

    def release():
        try:
            call_command("release", "--skip-static", stdout=io.StringIO())
            done.set()
        finally:
            connections.close_all()

    worker = threading.Thread(target=release)
    worker.start()
    time.sleep(1.0)
    waited = not done.is_set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [RELEASE_LOCK])
    worker.join(timeout=60)

    assert waited and done.is_set()


# Behind PgBouncer in transaction mode nothing may depend on a database session outliving a transaction
# (docs/operations.md): this reads the code for the ways that could creep in.
SESSION_STATE = {
    "pg_advisory_lock(": "a session advisory lock (use pg_advisory_xact_lock)",
    "PREPARE ": "a session-level prepared statement",
    "DECLARE ": "a cursor outside a transaction",
    ".iterator(": "a server-side cursor (read in keyset pages)",
    "SET SESSION": "a session setting (set_config(..., true) inside a transaction)",
}
# The release step goes straight to PostgreSQL, never through PgBouncer: its session lock is the point.
STRAIGHT_TO_POSTGRESQL = {"screening/management/commands/release.py"}


def test_no_code_keeps_database_session_state_that_pgbouncer_transaction_mode_would_lose():
    root = Path(__file__).resolve().parent.parent
    found = []
    for path in sorted((root / "screening").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "/migrations/" in rel or rel in STRAIGHT_TO_POSTGRESQL:
            continue
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        found += [f"{rel}: {why}" for needle, why in SESSION_STATE.items() if needle in code]
    assert found == []
    # …and the check can fail: the release step holds exactly such a lock.
    assert "pg_advisory_lock(" in (root / "screening/management/commands/release.py").read_text()
