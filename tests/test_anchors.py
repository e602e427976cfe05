"""Signed checkpoints of the audit chain: made, stored, appended to a file, and checked with the public key."""

import base64
import datetime as dt
import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from screening import anchors, audit, exports
from screening.models import AuditAnchor, AuditEvent
from tests.factories import make_screening

pytestmark = pytest.mark.django_db
NOW = timezone.now()
ROOT = Path(__file__).resolve().parents[1]


def test_a_checkpoint_signs_the_chain_length_and_latest_hash_and_its_signature_holds(tmp_path):
    for _ in range(3):
        audit.record(action=AuditEvent.Action.VIEW, object_type="test")
    path = tmp_path / "anchors.jsonl"

    anchor = anchors.checkpoint(append=path)

    latest = AuditEvent.objects.order_by("-id").first()
    assert (anchor.length, anchor.event_id, anchor.event_hash) == (3, latest.pk, latest.hash)
    (line,) = path.read_text().splitlines()
    assert json.loads(line) == anchors.as_dict(AuditAnchor.objects.get())
    assert anchors.signature_holds(json.loads(line), anchors.known_public_keys())


@pytest.mark.parametrize("field", ["length", "event", "hash", "at", "signature"])
def test_a_changed_checkpoint_does_not_verify(field):
    audit.record(action=AuditEvent.Action.VIEW, object_type="test")
    forged = anchors.as_dict(anchors.checkpoint())
    forged[field] = {"length": 99, "event": 99, "hash": "f" * 64, "at": "2020-01-01T00:00:00+00:00"}.get(
        field, forged["signature"][::-1]
    )

    assert not anchors.signature_holds(forged, anchors.known_public_keys())


def test_an_empty_chain_has_no_checkpoint():
    assert anchors.checkpoint() is None


# --- Helpers


def _events(n: int) -> list[AuditEvent]:
    return [audit.record(action=AuditEvent.Action.VIEW, object_type="client", object_id=f"c{i}") for i in range(n)]


def _raw(sql: str, params=()) -> None:
    """Tamper as the table's owner would: raw SQL, on PostgreSQL with the append-only triggers bypassed
    (session_replication_role; the test database's user is a superuser)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


def _verify_audit(*args: str) -> tuple[int, str, str]:
    """Run verify_audit as from a shell: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    return code, out.getvalue(), err.getvalue()


def _run(*args: str) -> tuple[int, str, str]:
    """A command as from a shell: (exit status, stdout, stderr); a CommandError is its status and message, as
    manage.py prints it (manage.py itself would close the test's connection)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except CommandError as e:
        code = e.returncode
        err.write(f"CommandError: {e}\n")
    return code, out.getvalue(), err.getvalue()


def _write(path, checkpoints) -> None:
    path.write_text("".join(json.dumps(c, sort_keys=True) + "\n" for c in checkpoints))


def _signed_by(private: Ed25519PrivateKey, checkpoint: dict, *, claimed_key_id: str | None = None) -> dict:
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signed = anchors.message(
        length=checkpoint["length"], event_id=checkpoint["event"], event_hash=checkpoint["hash"], at=checkpoint["at"]
    )
    signature = base64.b64encode(private.sign(signed)).decode()
    return {**checkpoint, "key_id": claimed_key_id or anchors.key_id(public), "signature": signature}


# --- audit_anchor and audit_housekeeping


def test_audit_anchor_stores_appends_and_prints_the_checkpoint(tmp_path):
    _events(3)
    path = tmp_path / "anchors.jsonl"

    code, out, _ = _run("audit_anchor", "--append", str(path))

    anchor = AuditAnchor.objects.get()
    line = json.dumps(anchors.as_dict(anchor), sort_keys=True)
    assert code == 0
    assert path.read_text() == line + "\n"
    assert line in out
    assert f"checkpoint of 3 events up to #{anchor.event_id}" in out


def test_audit_anchor_without_append_stores_only():
    _events(1)

    code, out, _ = _run("audit_anchor")

    assert code == 0
    assert AuditAnchor.objects.count() == 1
    assert "stored." in out


def test_audit_anchor_unwritable_file_exit_2_naming_append_and_nothing_stored(tmp_path):
    _events(1)

    code, _, err = _run("audit_anchor", "--append", str(tmp_path / "no-such-dir" / "anchors.jsonl"))

    assert code == 2
    assert "--append" in err and "cannot be written" in err
    assert not AuditAnchor.objects.exists()


def test_audit_anchor_on_an_empty_chain_makes_none():
    code, out, _ = _run("audit_anchor")

    assert code == 0
    assert "empty" in out
    assert not AuditAnchor.objects.exists()


def test_housekeeping_makes_a_checkpoint_only_when_due():
    _events(2)

    first = _run("audit_housekeeping", "--every", "5")  # none yet: due
    _events(4)
    early = _run("audit_housekeeping", "--every", "5")
    _events(1)
    due = _run("audit_housekeeping", "--every", "5")

    assert [code for code, _, _ in (first, early, due)] == [0, 0, 0]
    assert "Not due: 4 events since the latest checkpoint (one every 5)" in early[1]
    assert list(AuditAnchor.objects.values_list("length", flat=True)) == [2, 7]


def test_housekeeping_with_append_counts_from_the_files_latest_checkpoint(tmp_path):
    _events(3)
    path = tmp_path / "anchors.jsonl"
    anchors.checkpoint(append=path)
    _events(3)
    anchors.checkpoint()  # stored only, as after an export: it does not make the file up to date

    code, out, _ = _run("audit_housekeeping", "--every", "3", "--append", str(path))

    assert code == 0
    assert [json.loads(line)["length"] for line in path.read_text().splitlines()] == [3, 6]
    assert "appended to" in out


def test_housekeeping_with_a_new_file_makes_one(tmp_path):
    _events(1)
    anchors.checkpoint()
    path = tmp_path / "anchors.jsonl"

    code, _, _ = _run("audit_housekeeping", "--append", str(path))

    assert code == 0
    assert len(path.read_text().splitlines()) == 1


def test_housekeeping_bad_every_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "audit_housekeeping", "--every", "0"]).execute()

    assert exit_info.value.code == 2
    assert "--every" in capsys.readouterr().err


# --- A checkpoint after every export


def test_every_export_ends_with_a_stored_checkpoint_of_its_end_event():
    for days in (1, 2):
        make_screening(created_at=NOW - dt.timedelta(days=days))

    for fmt in ("csv", "jsonl"):
        runner = exports.ExportRunner(fmt=fmt, deidentified=True, filters=exports.ExportFilters())
        b"".join(runner.stream())

    end_events = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT, details__phase="completed")
    assert list(AuditAnchor.objects.values_list("event_id", flat=True)) == [e.pk for e in end_events.order_by("id")]
    assert all(anchors.first_problem([anchors.as_dict(a)]) is None for a in AuditAnchor.objects.all())


def test_a_cut_short_export_ends_with_a_checkpoint_too():
    for days in range(1, 5):
        make_screening(created_at=NOW - dt.timedelta(days=days))
    runner = exports.ExportRunner(fmt="csv", deidentified=True, filters=exports.ExportFilters(), page=1)
    stream = runner.stream()

    next(stream)
    stream.close()

    assert AuditAnchor.objects.get().event_id == runner.event.pk


def test_a_failed_checkpoint_never_hides_the_export(monkeypatch, caplog):
    make_screening(created_at=NOW - dt.timedelta(days=1))

    def broken(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(anchors, "checkpoint", broken)
    runner = exports.ExportRunner(fmt="csv", deidentified=True, filters=exports.ExportFilters())
    body = b"".join(runner.stream())

    assert body
    assert runner.event.details["outcome"] == "completed"
    assert "no checkpoint of the audit chain was made" in caplog.text


# --- verify_audit --anchor FILE


def test_verify_audit_anchor_passes_on_an_intact_chain_and_says_so(tmp_path):
    path = tmp_path / "anchors.jsonl"
    _events(3)
    anchors.checkpoint(append=path)
    _events(2)
    anchors.checkpoint(append=path)
    anchors.checkpoint()
    _events(1)

    code, out, _ = _verify_audit("--anchor", str(path))

    assert code == 0
    assert "Audit trail intact: 6 events checked." in out
    assert f"Checkpoints hold: 2 in {path} and 3 stored" in out
    assert audit.last_verification().details["anchor_file"] == str(path)


def test_deleting_the_newest_events_passes_the_chain_check_but_not_the_anchor_check(tmp_path):
    path = tmp_path / "anchors.jsonl"
    events = _events(5)
    anchors.checkpoint(append=path)
    checkpoint = json.loads(path.read_text())
    _raw("DELETE FROM screening_auditevent WHERE id >= %s", [events[2].pk])  # the newest 3

    plain = _verify_audit("--no-record")  # the finding: what is left is still a valid chain
    code, _, err = _verify_audit("--anchor", str(path))

    assert plain[0] == 0 and "intact: 2 events" in plain[1]
    assert code == 1
    assert (
        f"checkpoint of 5 events up to #{events[4].pk} signed {checkpoint['at']} (in {path}) is missing from the chain"
    ) in err
    last = audit.last_verification().details
    assert last["ok"] is False and last["first_broken_id"] == events[4].pk


@pytest.mark.postgresql
def test_a_truncated_audit_table_is_caught_by_the_anchor_file(tmp_path):
    path = tmp_path / "anchors.jsonl"
    events = _events(4)
    anchors.checkpoint(append=path)

    with connection.cursor() as cursor:  # the table's owner: no trigger stands in the way
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction holds deferred FK checks
        cursor.execute("TRUNCATE screening_auditevent CASCADE")
    plain = _verify_audit("--no-record")
    code, _, err = _verify_audit("--no-record", "--anchor", str(path))

    assert plain[0] == 0 and "intact: 0 events" in plain[1]
    assert code == 1
    assert f"checkpoint of 4 events up to #{events[3].pk}" in err and "is missing from the chain" in err


def test_an_emptied_audit_table_is_caught_by_the_anchor_file(tmp_path):
    path = tmp_path / "anchors.jsonl"
    _events(2)
    anchors.checkpoint(append=path)

    _raw("DELETE FROM screening_auditevent")
    code, _, err = _verify_audit("--no-record", "--anchor", str(path))

    assert code == 1
    assert "checkpoint of 2 events" in err and "is missing from the chain" in err


def test_an_event_deleted_before_a_checkpoint_and_relinked_is_caught_by_its_count(tmp_path):
    """A chain rebuilt without an early event (by someone holding the HMAC key) still ends at the signed hash
    only if the count matches: here the checkpoint's event keeps its hash but fewer events lead to it."""
    path = tmp_path / "anchors.jsonl"
    events = _events(3)
    anchors.checkpoint(append=path)
    _raw("DELETE FROM screening_auditevent WHERE id = %s", [events[0].pk])

    problem = anchors.first_problem(anchors.read_file(path))

    assert "2 events lead to" in problem.text and "not 3" in problem.text


@pytest.mark.parametrize(
    "forge",
    [
        lambda c, other: {**c, "length": c["length"] - 1},
        lambda c, other: {**c, "hash": "0" * 64},
        lambda c, other: {**c, "event": c["event"] - 1},
        lambda c, other: {**c, "at": "2020-01-01T00:00:00+00:00"},
        lambda c, other: _signed_by(other, c, claimed_key_id=c["key_id"]),
        lambda c, other: _signed_by(other, c),
    ],
    ids=["length", "hash", "event", "time", "other-key-same-id", "other-key-own-id"],
)
def test_a_forged_checkpoint_line_fails(tmp_path, forge):
    path = tmp_path / "anchors.jsonl"
    _events(3)
    good = anchors.as_dict(anchors.checkpoint())
    forged = forge(good, Ed25519PrivateKey.generate())
    _write(path, [good, forged])

    code, _, err = _verify_audit("--no-record", "--anchor", str(path))

    assert code == 1
    assert f"{anchors.describe(forged)} (in {path})" in err
    assert ("not a known key" if forged["key_id"] != good["key_id"] else "does not verify") in err


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        '{"length": 3}',
        '{"at": "x", "event": 1, "hash": "zz", "key_id": "", "length": 1, "signature": ""}',
        '{"at": "x", "event": 1e3, "hash": "' + "0" * 64 + '", "key_id": "", "length": 1, "signature": ""}',
        '{"at": "x", "event": ' + str(10**30) + ', "hash": "' + "0" * 64 + '", "key_id": "", "length": 1, '
        '"signature": ""}',
        '{"at": "x", "event": 1, "hash": "' + "0" * 64 + '", "key_id": "", "length": true, "signature": ""}',
    ],
    ids=["text", "list", "fields-missing", "bad-hash", "float-event", "huge-event", "bool-length"],
)
def test_a_line_that_is_not_a_checkpoint_fails_naming_it(tmp_path, line):
    path = tmp_path / "anchors.jsonl"
    _events(1)
    good = anchors.as_dict(anchors.checkpoint())
    path.write_text(json.dumps(good) + "\n\n" + line + "\n")

    code, _, err = _verify_audit("--no-record", "--anchor", str(path))

    assert code == 1
    assert f"line 3 of {path} is not" in err


def test_a_forged_stored_checkpoint_fails_the_anchor_check(tmp_path):
    path = tmp_path / "anchors.jsonl"
    _events(2)
    anchors.checkpoint(append=path)
    good = AuditAnchor.objects.get()
    AuditAnchor.objects.create(
        length=good.length + 5,
        event_id=good.event_id,
        event_hash=good.event_hash,
        at=good.at,
        key_id=good.key_id,
        signature=good.signature,
    )

    code, _, err = _verify_audit("--no-record", "--anchor", str(path))

    assert code == 1
    assert f"checkpoint of {good.length + 5} events" in err and "(stored) does not verify" in err


def test_verify_audit_anchor_file_missing_exit_2(tmp_path):
    code, _, err = _run("verify_audit", "--no-record", "--anchor", str(tmp_path / "none.jsonl"))

    assert code == 2
    assert "--anchor" in err and "cannot be read" in err


def test_verify_audit_without_anchor_is_unchanged():
    _events(2)
    anchors.checkpoint()
    _raw("DELETE FROM screening_auditevent WHERE id = (SELECT max(id) FROM screening_auditevent)")

    code, out, _ = _verify_audit("--no-record")

    assert code == 0
    assert out == "Audit trail intact: 1 events checked.\n"


# --- The page's "Verify now": from the latest signed checkpoint


def test_web_verify_without_a_checkpoint_checks_the_whole_chain(auditor_client):
    _events(3)
    n = AuditEvent.objects.count()  # with the auditor's sign-in

    response = auditor_client.post(reverse("audit_verify"), follow=True)

    assert f"The audit trail is intact: {n} events checked (the whole chain" in response.content.decode()
    assert audit.last_verification().details["checkpoint"] is None


def test_web_verify_checks_the_events_after_the_latest_checkpoint_and_says_from_which(auditor_client):
    _events(4)
    anchors.checkpoint()
    _events(2)
    anchor = anchors.checkpoint()
    _events(3)

    response = auditor_client.post(reverse("audit_verify"), follow=True)

    body = response.content.decode()
    assert (
        f"The audit trail is intact: 3 events checked (after the checkpoint of {anchor.length} events up to "
        f"#{anchor.event_id} "
        f"signed {anchor.at.isoformat()})."
    ) in body
    details = audit.last_verification().details
    assert details["ok"] is True and details["checked"] == 3 and details["via"] == "web"
    assert details["checkpoint"]["id"] == anchor.pk and details["checkpoint"]["length"] == anchor.length
    # and the "last verified" line
    assert f"3 events checked after the checkpoint of {anchor.length} events up to #{anchor.event_id}" in body


def test_web_verify_still_catches_a_changed_event_after_the_checkpoint(auditor_client):
    _events(2)
    anchors.checkpoint()
    events = _events(3)
    _raw("UPDATE screening_auditevent SET object_id = 'x' WHERE id = %s", [events[1].pk])

    response = auditor_client.post(reverse("audit_verify"), follow=True)

    assert f"broken at event #{events[1].pk}: content does not match its hash" in response.content.decode()
    assert audit.last_verification().details["first_broken_id"] == events[1].pk


def test_web_verify_catches_a_changed_checkpoint_event(auditor_client):
    events = _events(3)
    anchors.checkpoint()
    _raw("UPDATE screening_auditevent SET object_id = 'x' WHERE id = %s", [events[2].pk])

    result = audit.verify_from_checkpoint()

    assert not result.ok and result.first_broken_id == events[2].pk and "content" in result.problem


def test_web_verify_catches_deleted_newest_events_through_the_stored_checkpoint(auditor_client):
    events = _events(5)
    anchors.checkpoint()
    _raw("DELETE FROM screening_auditevent WHERE id >= %s", [events[2].pk])

    response = auditor_client.post(reverse("audit_verify"), follow=True)

    assert "is missing from the chain" in response.content.decode()
    assert audit.last_verification().details["ok"] is False


@pytest.mark.parametrize("forged", [1, 25], ids=["one", "more-than-a-page"])
def test_web_verify_passes_over_forged_newer_stored_checkpoints(auditor_client, forged):
    _events(2)
    good = anchors.checkpoint()
    events = _events(2)
    for _ in range(forged):
        AuditAnchor.objects.create(
            length=good.length + 2,
            event_id=events[1].pk,
            event_hash=events[1].hash,
            at=good.at,
            key_id=good.key_id,
            signature=good.signature,
        )

    response = auditor_client.post(reverse("audit_verify"), follow=True)

    body = response.content.decode()
    assert f"2 events checked (after the checkpoint of {good.length} events up to #{good.event_id}" in body
    assert f"{forged} newer stored checkpoint(s) did not verify" in body


def test_web_verify_with_only_forged_stored_checkpoints_checks_the_whole_chain():
    events = _events(2)
    AuditAnchor.objects.create(
        length=2, event_id=events[1].pk, event_hash=events[1].hash, at=NOW, key_id="0" * 16, signature="AAAA"
    )

    result = audit.verify_from_checkpoint()

    assert result == audit.Verification(True, 2)


@pytest.mark.parametrize("before", [3, 30])
def test_web_verify_reads_only_from_the_checkpoint_however_long_the_chain(django_assert_num_queries, before):
    _events(before)
    anchors.checkpoint()
    _events(2)

    # The checkpoint, its event's hash, the count up to it, one page of the events from it, the empty page.
    with django_assert_num_queries(5):
        result = audit.verify_from_checkpoint()

    assert result.ok and result.checked == 2


def test_audit_log_page_shows_the_public_key_its_id_and_the_latest_checkpoint(auditor_client):
    _events(2)
    anchor = anchors.checkpoint()

    response = auditor_client.get(reverse("audit_log"))

    body = response.content.decode()
    assert response.status_code == 200
    assert anchors.public_key_b64() in body and anchors.public_key_id() in body
    assert f"Latest: {anchor.length} events up to #{anchor.event_id}" in body


@pytest.mark.parametrize("tamper", ["none", "forged-stored", "emptied"])
def test_audit_log_page_and_verify_never_fail_with_a_500(auditor_client, tamper):
    _events(2)
    good = anchors.checkpoint()
    if tamper == "forged-stored":
        AuditAnchor.objects.create(
            length=1, event_id=10**12, event_hash="f" * 64, at=good.at, key_id="0" * 16, signature="AAAA"
        )
    elif tamper == "emptied":
        _raw("DELETE FROM screening_auditevent")

    verified = auditor_client.post(reverse("audit_verify"), follow=True)
    page = auditor_client.get(reverse("audit_log"))

    assert verified.status_code == 200 and page.status_code == 200


# --- The third party's check in docs/audit.md


def _docs_checker() -> str:
    text = (ROOT / "docs" / "audit.md").read_text()
    section = text[text.index("### Checking a checkpoint with the public key alone") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    return code[: code.index("\n```")]


def test_the_documented_checker_verifies_checkpoints_with_the_public_key_alone(tmp_path):
    path, script = tmp_path / "anchors.jsonl", tmp_path / "check_checkpoints.py"
    _events(2)
    anchors.checkpoint(append=path)
    _events(1)
    anchors.checkpoint(append=path)
    script.write_text(_docs_checker())
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": ""}  # no Django settings, no HMAC key

    good = subprocess.run(
        [sys.executable, str(script), anchors.public_key_b64(), str(path)], capture_output=True, text=True, env=env
    )
    lines = path.read_text().splitlines()
    forged = {**json.loads(lines[1]), "length": 99}
    _write(path, [json.loads(lines[0]), forged])
    bad = subprocess.run(
        [sys.executable, str(script), anchors.public_key_b64(), str(path)], capture_output=True, text=True, env=env
    )
    other_key = base64.b64encode(
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    stranger = subprocess.run([sys.executable, str(script), other_key, str(path)], capture_output=True, text=True)

    assert good.returncode == 0, good.stderr
    assert good.stdout.count("signed") == 2
    assert bad.returncode == 1 and "line 2: NOT signed by this key" in bad.stderr
    assert stranger.returncode == 1 and "line 1: NOT signed by this key" in stranger.stderr


def test_checkpoints_signed_before_a_key_rotation_still_verify_with_the_retired_public_key(settings):
    audit.record(action=AuditEvent.Action.VIEW, object_type="test")
    old = anchors.as_dict(anchors.checkpoint())
    retired = anchors.public_key_b64()
    settings.AUDIT_SIGNING_KEY = base64.b64encode(secrets.token_bytes(32)).decode()  # the rotation

    assert not anchors.signature_holds(old, anchors.known_public_keys())
    settings.AUDIT_RETIRED_PUBLIC_KEYS = [retired]
    assert anchors.signature_holds(old, anchors.known_public_keys())
