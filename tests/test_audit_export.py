"""The audit-log export (issue 12, item 4): filters, formats, its own audit events, the auditor's page, the command,
and the standalone checker run on real exports and on tampered copies."""

import ast
import base64
import csv
import datetime as dt
import hashlib
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import ManagementUtility, base, call_command
from django.db import DatabaseError, connection
from django.urls import reverse
from django.utils import timezone

from screening import anchors, audit
from screening.exports import audit_log
from screening.models import AuditAnchor, AuditEvent
from tests.factories import ClientFactory, make_screening

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "tools" / "verify_audit_export.py"
UTC = dt.UTC


def _event(monkeypatch, at: dt.datetime | None = None, **kwargs) -> AuditEvent:
    kwargs.setdefault("action", AuditEvent.Action.VIEW)
    kwargs.setdefault("object_type", "test")
    if at is None:
        return audit.record(**kwargs)
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: at)
        return audit.record(**kwargs)


def _export(fmt="jsonl", page=None, **filters) -> tuple[bytes, audit_log.AuditLogExport]:
    export = audit_log.AuditLogExport(fmt=fmt, filters=audit_log.AuditExportFilters(**filters), page=page)
    return b"".join(export.stream()), export


def _jsonl(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.decode().splitlines()]


def _csv(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode(), newline="")))


def _sequences(records: list[dict]) -> list[int]:
    return [int(r["sequence"]) for r in records if r["record_type"] == "event"]


def _public_key() -> str:
    return anchors.public_key_b64()


def _check(path: Path, key: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECKER), str(path), "--public-key", key or _public_key()],
        capture_output=True,
        text=True,
        cwd=path.parent,  # not the project: the checker must not need it
        timeout=60,
    )


# --- The file


def test_jsonl_export_has_a_notice_then_every_event_with_its_hashes_and_the_checkpoints(monkeypatch):
    first = _event(monkeypatch, actor_username="nurse", details={"page": "client_detail"})
    anchor = anchors.checkpoint()
    second = _event(monkeypatch, object_id="abc")

    body, export = _export("jsonl")

    notice, *records = _jsonl(body)
    assert notice["record_type"] == "notice" and notice["export_id"] == str(export.export_id)
    assert notice["filters"] == {"since": None, "until": None, "actor": "", "action": "", "client": ""}
    assert notice["contiguous"] is True
    kinds = [(r["record_type"], r.get("sequence", r.get("event"))) for r in records]
    started = export.started.pk
    assert kinds == [
        ("event", first.pk),
        ("checkpoint", first.pk),
        ("event", second.pk),
        ("event", started),
        ("checkpoint", started),
    ]
    row = records[0]
    assert row == {
        "record_type": "event",
        "sequence": first.pk,
        "at": timezone.localtime(first.at).isoformat(timespec="microseconds"),
        "actor_username": "nurse",
        "action": "view",
        "object_type": "test",
        "object_id": "",
        "ip_address": None,
        "details": {"page": "client_detail"},
        "prev_hash": audit.GENESIS_HASH,
        "hash": first.hash,
    }
    assert records[1] == {"record_type": "checkpoint", **anchors.as_dict(anchor)}
    assert records[2]["prev_hash"] == first.hash


def test_csv_export_has_a_header_a_notice_row_and_lf_line_endings(monkeypatch):
    event = _event(monkeypatch, actor_username="nurse", details={"n": 1})

    body, export = _export("csv")

    assert b"\r\n" not in body
    assert body.decode().splitlines()[0] == ",".join(audit_log.CSV_COLUMNS)
    notice, *rows = _csv(body)
    assert notice["record_type"] == "notice"
    assert json.loads(notice["details"])["export_id"] == str(export.export_id)
    assert _sequences(rows) == [event.pk, export.started.pk]
    assert json.loads(rows[0]["details"]) == {"n": 1}
    assert (rows[0]["prev_hash"], rows[0]["hash"]) == (audit.GENESIS_HASH, event.hash)
    checkpoint = rows[-1]
    assert checkpoint["record_type"] == "checkpoint" and checkpoint["sequence"] == ""
    assert int(checkpoint["checkpoint_event"]) == export.started.pk


def test_csv_text_cells_are_escaped_against_formulas(monkeypatch):
    _event(monkeypatch, actor_username="=HYPERLINK(1)", object_id="+1", object_type="@x")

    body, _ = _export("csv")

    row = _csv(body)[1]
    assert (row["actor_username"], row["object_id"], row["object_type"]) == ("'=HYPERLINK(1)", "'+1", "'@x")


def _awkward_events(monkeypatch):
    awkward = 'a "b", c\nd\\e\r\t\x01\x1f\x7f é 😀 \u2028 </script>'
    _event(monkeypatch, actor_username="-x" + awkward, details={"quote": awkward, "é": [1, None, 2.5, True]})
    _event(monkeypatch, context=audit.AuditContext(address="2001:db8::1"), actor_username="", object_id='\\"')
    _event(monkeypatch, context=audit.AuditContext(address="203.0.113.9"), details={})


@pytest.mark.postgresql
def test_copy_and_python_jsonl_writers_write_the_same_bytes(monkeypatch):
    _awkward_events(monkeypatch)
    events = AuditEvent.objects.order_by("id")

    with connection.cursor():
        python, n = audit_log.JsonlWriter().page(events)
        copied, m = audit_log.CopyJsonlWriter().page(events)

    assert isinstance(audit_log.writer_for("jsonl"), audit_log.CopyJsonlWriter)
    assert (copied, m) == (python, n) and n == 3
    assert json.loads(python.splitlines()[0])["details"]["quote"].startswith('a "b", c\nd\\e')


@pytest.mark.postgresql
def test_copy_and_python_csv_writers_write_the_same_rows(monkeypatch):
    _awkward_events(monkeypatch)
    events = AuditEvent.objects.order_by("id")

    def parsed(writer) -> list[dict]:
        with connection.cursor():
            piece, n = writer.page(events)
        rows = list(csv.reader(io.StringIO(piece.decode(), newline="")))
        return [r[:8] + [json.loads(r[8])] + r[9:] for r in rows]

    assert isinstance(audit_log.writer_for("csv"), audit_log.CopyCsvWriter)
    assert parsed(audit_log.CopyCsvWriter()) == parsed(audit_log.CsvWriter())


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_export_uses_its_own_connection_only_and_no_thread(monkeypatch, fmt):
    for i in range(11):
        _event(monkeypatch, details={"i": i})
        if i in (3, 4, 8):
            anchors.checkpoint()
    export = audit_log.AuditLogExport(fmt=fmt, filters=audit_log.AuditExportFilters(), page=2)
    export.start()
    before, threads = _backends(), threading.active_count()

    body = b"".join(p for p, *_ in export.pieces(audit_log.writer_for(fmt)))

    assert body.count(b"\n") > 11 and threading.active_count() == threads and _backends() == before


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_small_pages_give_the_same_file_as_one_page(monkeypatch, fmt):
    for i in range(7):
        _event(monkeypatch, details={"i": i})
        if i in (2, 3):
            anchors.checkpoint()
    export = audit_log.AuditLogExport(fmt=fmt, filters=audit_log.AuditExportFilters(), page=2)
    export.start()
    whole = audit_log.AuditLogExport(fmt=fmt, filters=audit_log.AuditExportFilters(), page=1000)
    whole.started, whole.export_id = export.started, export.export_id

    assert b"".join(p for p, *_ in export.pieces(audit_log.writer_for(fmt))) == b"".join(
        p for p, *_ in whole.pieces(audit_log.writer_for(fmt))
    )


# --- Filters


def test_dates_are_local_days_both_included_and_checkpoints_follow_them(monkeypatch, settings):
    settings.TIME_ZONE = "America/New_York"
    before = _event(monkeypatch, at=dt.datetime(2026, 10, 31, 3, 59, tzinfo=UTC))  # Oct 30, 23:59 EDT
    first = _event(monkeypatch, at=dt.datetime(2026, 10, 31, 4, 0, tzinfo=UTC))  # Oct 31, 00:00 EDT
    anchors.checkpoint()
    last = _event(monkeypatch, at=dt.datetime(2026, 11, 2, 4, 59, tzinfo=UTC))  # Nov 1, 23:59 EST
    after = _event(monkeypatch, at=dt.datetime(2026, 11, 2, 5, 0, tzinfo=UTC))  # Nov 2, 00:00 EST
    anchors.checkpoint()

    body, _ = _export("jsonl", since=dt.date(2026, 10, 31), until=dt.date(2026, 11, 1))

    records = _jsonl(body)[1:]
    assert _sequences(records) == [first.pk, last.pk]
    assert [r["event"] for r in records if r["record_type"] == "checkpoint"] == [first.pk]
    assert before.pk not in _sequences(records) and after.pk not in _sequences(records)
    assert records[0]["at"] == "2026-10-31T00:00:00.000000-04:00"


def test_actor_and_action_filters(monkeypatch):
    mine = _event(monkeypatch, actor_username="nurse", action=AuditEvent.Action.SIGN)
    _event(monkeypatch, actor_username="nurse", action=AuditEvent.Action.VIEW)
    _event(monkeypatch, actor_username="other", action=AuditEvent.Action.SIGN)

    body, export = _export("jsonl", actor="nurse", action="sign")

    notice, *records = _jsonl(body)
    assert _sequences(records) == [mine.pk]
    assert notice["contiguous"] is False and notice["filters"]["actor"] == "nurse"


@pytest.mark.parametrize("page", [1, 2, 1000])
def test_a_filtered_export_keeps_the_checkpoints_in_event_order(monkeypatch, page):
    other = _event(monkeypatch, actor_username="other")
    anchors.checkpoint()
    mine = [_event(monkeypatch, actor_username="nurse") for _ in range(3)]
    _event(monkeypatch, actor_username="other")

    body, export = _export("jsonl", page=page, actor="nurse")

    records = [(r["record_type"], r.get("sequence", r.get("event"))) for r in _jsonl(body)[1:]]
    assert records == [
        ("checkpoint", other.pk),
        *(("event", e.pk) for e in mine),
        ("checkpoint", export.started.pk),
    ]


def test_a_filter_that_matches_nothing_still_lists_the_checkpoints(monkeypatch):
    _event(monkeypatch, actor_username="other")

    body, export = _export("csv", actor="nobody")

    assert [r["record_type"] for r in _csv(body)] == ["notice", "checkpoint"]
    assert export.event.details["rows"] == 0


def test_client_filter_takes_the_client_and_its_screenings(monkeypatch):
    screening = make_screening()
    client = screening.client
    other = make_screening()
    about_client = _event(monkeypatch, object_type="client", object_id=str(client.public_id))
    about_screening = _event(monkeypatch, object_type="screening", object_id=str(screening.public_id))
    _event(monkeypatch, object_type="screening", object_id=str(other.public_id))
    _event(monkeypatch, object_type="client", object_id=str(other.client.public_id))

    body, export = _export("csv", client=client)

    assert _sequences(_csv(body)[1:]) == [about_client.pk, about_screening.pk]
    # The export's own events name the client by its public id, never its record number.
    assert export.started.details["filters"]["client"] == str(client.public_id)
    assert client.record_number not in json.dumps(export.event.details)


# --- Its own audit events


@pytest.mark.django_db(transaction=True)
def test_the_started_event_and_its_checkpoint_are_committed_before_the_first_byte(monkeypatch):
    _event(monkeypatch)
    export = audit_log.AuditLogExport(fmt="jsonl", filters=audit_log.AuditExportFilters())
    stream = export.stream()

    first = next(stream)

    started = AuditEvent.objects.get(pk=export.started.pk)
    assert first.startswith(b'{"record_type":"notice"')
    assert started.details["phase"] == "started" and started.object_type == "audit_log"
    assert AuditAnchor.objects.order_by("-id").first().event_id == started.pk
    assert not connection.in_atomic_block  # committed: no transaction is open while the bytes leave
    stream.close()


def test_the_end_event_has_the_rows_and_the_sha256_of_what_was_sent(monkeypatch):
    _event(monkeypatch)
    _event(monkeypatch)

    body, export = _export("csv")

    d = export.event.details
    assert (d["phase"], d["rows"], d["checkpoints"]) == ("completed", 3, 1)  # two events and the started one
    assert d["sha256"] == hashlib.sha256(body).hexdigest() and d["bytes"] == len(body)
    assert d["started_event"] == export.started.pk
    assert AuditAnchor.objects.order_by("-id").first().event_id == export.event.pk
    assert audit.verify().ok


def test_a_checkpoint_that_fails_after_the_stream_leaves_the_end_event(monkeypatch, caplog):
    export = audit_log.AuditLogExport(fmt="jsonl", filters=audit_log.AuditExportFilters())
    export.start()

    def refuse():
        raise DatabaseError("anchor table refused the insert")

    monkeypatch.setattr(anchors, "checkpoint", refuse)

    b"".join(export.stream())

    assert AuditEvent.objects.get(pk=export.event.pk).details["outcome"] == "completed"
    assert "no checkpoint was made after it" in caplog.text


def test_an_export_cut_short_is_recorded_as_cut_short(monkeypatch):
    _event(monkeypatch)
    export = audit_log.AuditLogExport(fmt="jsonl", filters=audit_log.AuditExportFilters())
    stream = export.stream()
    next(stream)

    stream.close()

    assert export.event.details["outcome"] == "cut_short"


# --- The page


def _post(client, **changes):
    data = {"format": "jsonl", "since": "", "until": "", "actor": "", "action": "", "record_number": ""} | changes
    return client.post(reverse("audit_export"), data)


def test_page_anonymous_goes_to_sign_in(client):
    response = client.get(reverse("audit_export"))

    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.parametrize("user_client", ["clinician_client", "admin_client_"])
def test_page_other_roles_get_403(request, user_client):
    response = _post(request.getfixturevalue(user_client))

    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_page_shows_the_form_and_the_public_key(auditor_client):
    response = auditor_client.get(reverse("audit_export"))

    assert response.status_code == 200
    assert _public_key() in response.content.decode()


def test_page_streams_the_export_and_records_it(auditor_client, auditor):
    client = ClientFactory(record_number="MRN-77")
    audit.record(action=AuditEvent.Action.VIEW, obj=client, actor=auditor)

    response = _post(auditor_client, format="csv", record_number="mrn-77")

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    body = b"".join(response.streaming_content)
    assert len(_sequences(_csv(body)[1:])) == 1
    started = AuditEvent.objects.get(object_type="audit_log", details__phase="started")
    assert started.actor == auditor and started.details["filters"]["client"] == str(client.public_id)
    assert "MRN-77" not in json.dumps(started.details).upper()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"since": "2026-13-01"}, "since"),
        ({"since": "2026-11-02", "until": "2026-11-01"}, "until"),
        ({"format": "xml"}, "format"),
        ({"action": "explode"}, "action"),
        ({"record_number": "NO-SUCH"}, "record_number"),
        ({"actor": "x" * 151}, "actor"),
    ],
    ids=["bad-date", "reversed", "format", "action", "unknown-client", "long-actor"],
)
def test_page_bad_input_shows_the_error_at_the_field(auditor_client, changes, field):
    response = _post(auditor_client, **changes)

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_page_sends_nothing_when_the_started_event_cannot_be_written(auditor_client, monkeypatch):
    def refuse(**kwargs):
        raise DatabaseError("audit table refused the insert")

    monkeypatch.setattr(audit, "record", refuse)

    response = _post(auditor_client)

    assert response.status_code == 503 and not response.streaming
    assert "could not be recorded" in response.content.decode()


# --- The command


def test_command_writes_the_file_and_says_what_it_wrote(tmp_path, capsys, monkeypatch):
    _event(monkeypatch)
    out = tmp_path / "audit.jsonl"

    call_command("export_audit", "--format", "jsonl", "--output", str(out))

    err = capsys.readouterr().err
    assert "Exported 2 audit events and 1 checkpoints" in err
    event = AuditEvent.objects.get(object_type="audit_log", details__phase="completed")
    assert event.details["via"] == "command" and event.details["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--format", "xml"], "--format"),
        ([], "--format"),
        (["--format", "csv", "--since", "yesterday"], "--since"),
        (["--format", "csv", "--until", "2026-02-30"], "--until"),
        (["--format", "csv", "--since", "2026-11-02", "--until", "2026-11-01"], "--until"),
        (["--format", "csv", "--output", "/nonexistent-dir/x.csv"], "--output"),
    ],
    ids=["format", "no-format", "since", "until", "reversed", "output"],
)
def test_command_bad_arguments_exit_2_naming_the_option(capsys, monkeypatch, argv, option):
    # A command's CommandError closes the connections, which would end this test's transaction.
    monkeypatch.setattr(base.connections, "close_all", lambda: None)

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "export_audit", *argv]).execute()

    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


# --- The standalone checker


def test_checker_imports_only_the_standard_library_and_cryptography():
    tree = ast.parse(CHECKER.read_text())

    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

    assert {m.split(".")[0] for m in modules} <= set(sys.stdlib_module_names) | {"cryptography"}


def test_checker_message_is_the_programs():
    spec = {"length": 3, "event_id": 9, "event_hash": "ab" * 32, "at": "2026-12-01T00:00:00+00:00"}
    sys.path.insert(0, str(CHECKER.parent))
    try:
        import verify_audit_export
    finally:
        sys.path.remove(str(CHECKER.parent))

    assert verify_audit_export.message(**spec) == anchors.message(**spec)
    assert verify_audit_export.key_id(anchors.public_key_bytes()) == anchors.known_public_keys().popitem()[0]


@pytest.fixture
def exported(tmp_path, monkeypatch):
    """A real export of a chain with checkpoints inside it, in both formats."""
    for i in range(6):
        _event(monkeypatch, actor_username="=nurse" if i == 1 else "nurse", details={"i": i})
        if i in (1, 4):
            anchors.checkpoint()
    paths = {}
    for fmt in ("jsonl", "csv"):
        body, _ = _export(fmt)
        paths[fmt] = tmp_path / f"audit.{fmt}"
        paths[fmt].write_bytes(body)
    return paths


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_checker_passes_a_real_export(exported, fmt):
    result = _check(exported[fmt])

    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout and "not checked: the events' HMACs" in result.stdout
    # The two made between the events and the export's own; the CSV, made second, also has the first export's two.
    assert f"checkpoints: {3 if fmt == 'jsonl' else 5}" in result.stdout


def test_checker_passes_a_date_range_that_links_to_an_earlier_event(tmp_path, monkeypatch):
    _event(monkeypatch, at=dt.datetime(2026, 1, 5, 12, tzinfo=UTC))
    _event(monkeypatch, at=dt.datetime(2026, 3, 5, 12, tzinfo=UTC))
    anchors.checkpoint()
    body, _ = _export("jsonl", since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 31))
    path = tmp_path / "march.jsonl"
    path.write_bytes(body)

    result = _check(path)

    assert result.returncode == 0, result.stdout + result.stderr


def _tamper_jsonl(path: Path, change) -> Path:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    change(lines)
    out = path.with_name("tampered.jsonl")
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return out


def _nth(lines, kind, n):
    return [line for line in lines if line["record_type"] == kind][n]


def _change_hash(lines):
    _nth(lines, "event", 2)["hash"] = "f" * 64


def _remove_row(lines):
    lines.remove(_nth(lines, "event", 3))


def _swap_rows(lines):
    a, b = lines.index(_nth(lines, "event", 2)), lines.index(_nth(lines, "event", 3))
    lines[a], lines[b] = lines[b], lines[a]


def _add_row(lines):
    forged = dict(_nth(lines, "event", 2), hash="e" * 64, sequence=_nth(lines, "event", 2)["sequence"])
    lines.insert(lines.index(_nth(lines, "event", 2)) + 1, forged)


def _change_checkpoint(lines):
    _nth(lines, "checkpoint", 0)["length"] += 1


def _checkpoint_names_another_hash(lines):
    _nth(lines, "checkpoint", 1)["hash"] = _nth(lines, "event", 0)["hash"]


LINK = "prev_hash is not the hash of the event before it"
SIGNATURE = "the signature does not verify"


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        (_change_hash, LINK),
        (_remove_row, LINK),
        (_swap_rows, LINK),
        (_add_row, LINK),
        (_change_checkpoint, SIGNATURE),
        (_checkpoint_names_another_hash, "its hash is not the hash of event"),
    ],
    ids=["changed-hash", "removed-row", "swapped-rows", "added-row", "changed-checkpoint", "checkpoint-other-hash"],
)
def test_checker_fails_a_tampered_jsonl_export(exported, change, failure):
    result = _check(_tamper_jsonl(exported["jsonl"], change))

    assert result.returncode == 1, result.stdout
    assert failure in result.stdout and result.stdout.rstrip().endswith("FAILED")


def test_checker_fails_a_csv_export_with_a_removed_row(exported):
    lines = exported["csv"].read_text().splitlines(keepends=True)
    event_lines = [i for i, line in enumerate(lines) if line.startswith("event,")]
    del lines[event_lines[2]]
    path = exported["csv"].with_name("tampered.csv")
    path.write_text("".join(lines))

    result = _check(path)

    assert result.returncode == 1 and "prev_hash is not the hash" in result.stdout


def test_checker_fails_with_another_key(exported):
    other = anchors.public_key_bytes(anchors.Ed25519PrivateKey.generate())

    result = _check(exported["jsonl"], base64.b64encode(other).decode())

    assert result.returncode == 1 and "not by this public key" in result.stdout


def test_checker_refuses_a_filtered_export(tmp_path, monkeypatch):
    _event(monkeypatch, actor_username="nurse")
    body, _ = _export("jsonl", actor="nurse")
    path = tmp_path / "filtered.jsonl"
    path.write_bytes(body)

    result = _check(path)

    assert result.returncode == 2 and "filtered" in result.stderr
