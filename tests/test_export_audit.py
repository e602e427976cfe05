"""An export's audit event is written and committed before its first byte leaves (DESIGN.md §7, issue 10).

The three ways an identified export left without its event — the audit insert failing, the database
going away mid-export, the server process dying mid-export — each reproduced.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, OperationalError, connection
from django.utils import timezone

from screening import audit, exports
from screening.models import AuditEvent, ExportDisclosure, ExportRun
from tests.factories import make_screening
from tests.test_exports import _post_export

ROOT = Path(__file__).resolve().parents[1]
NOW = timezone.now()


def _export_events(phase: str):
    return AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT, details__phase=phase)


@pytest.mark.django_db
def test_nothing_is_sent_when_the_started_event_cannot_be_written(auditor_client, monkeypatch):
    make_screening(created_at=NOW - dt.timedelta(days=1))

    def refuse(**kwargs):
        raise DatabaseError("audit table refused the insert")

    monkeypatch.setattr(audit, "record", refuse)

    response = _post_export(auditor_client)

    assert response.status_code == 503
    assert not response.streaming
    body = response.content.decode()
    assert "nothing was exported" in body
    assert "record_number" not in body  # no CSV header, no row
    assert not ExportRun.objects.exists() and not ExportDisclosure.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_started_event_is_committed_before_the_first_byte_and_survives_a_database_lost_mid_export(monkeypatch):
    for days in range(1, 8):
        make_screening(created_at=NOW - dt.timedelta(days=days))
    runner = exports.ExportRunner(fmt="jsonl", deidentified=False, filters=exports.ExportFilters(), page=2)

    runner.start()
    started = _export_events("started").get()  # committed: this test runs outside any transaction
    stream = runner.stream()
    first = next(stream)

    # The database goes away: the next page cannot be read, nor the end event written.
    def gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(exports.writers, "read", gone)
    monkeypatch.setattr(audit, "record", gone)
    with pytest.raises(OperationalError):
        list(stream)
    monkeypatch.undo()

    assert first  # bytes left
    assert started.details["format"] == "jsonl" and started.details["deidentified"] is False
    assert not _export_events("completed").exists()
    run = ExportRun.objects.get(public_id=runner.export_id)
    assert run.started_event == started and run.event is None
    assert run.outcome == "interrupted"


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_started_event_survives_the_server_process_killed_mid_export(tmp_path):
    for days in range(1, 400):
        make_screening(created_at=NOW - dt.timedelta(days=days % 300 + 1))
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": settings.SECRET_KEY,
        "AUDIT_HMAC_KEY": settings.AUDIT_HMAC_KEY,
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "export_records", "--format", "jsonl"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        first = proc.stdout.read(4096)  # bytes have left; the pipe then fills and the export waits on it
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()

    assert first
    started = _export_events("started").get()
    assert started.details["via"] == "command"
    assert not _export_events("completed").exists()
    assert ExportRun.objects.get(started_event=started).outcome == "interrupted"


@pytest.mark.django_db
def test_completed_export_has_a_started_and_a_completed_event_linked(auditor_client, auditor):
    for days in (1, 2):
        make_screening(created_at=NOW - dt.timedelta(days=days))

    response = _post_export(auditor_client, format="jsonl")
    started = _export_events("started").get()  # before the body is read
    body = b"".join(response.streaming_content)

    completed = _export_events("completed").get()
    assert started.actor == completed.actor == auditor
    assert started.pk < completed.pk
    assert completed.details["started_event"] == started.pk
    assert completed.details["rows"] == 2 and completed.details["bytes"] == len(body)
    run = ExportRun.objects.get()
    assert (run.started_event, run.event, run.outcome) == (started, completed, "completed")
