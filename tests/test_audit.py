import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import ManagementUtility, call_command
from django.db import IntegrityError, InternalError, ProgrammingError, connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from screening import audit
from screening.models import AppendOnlyError, AuditEvent
from tests.factories import ClientFactory, make_screening

pytestmark = pytest.mark.django_db
NOW = timezone.now()
ROOT = Path(__file__).resolve().parents[1]


def _events(n: int) -> list[AuditEvent]:
    return [
        audit.record(
            action=AuditEvent.Action.VIEW, object_type="client", object_id=f"c{i}", details={"i": i, "note": "é"}
        )
        for i in range(n)
    ]


def _raw(sql: str, params=()) -> None:
    """Tamper the way an attacker with database access would: raw SQL, past the model (and the trigger)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # superuser: triggers off
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


# --- The chain


def test_record_chains_each_event_to_the_one_before():
    first, second = _events(2)

    assert first.prev_hash == audit.GENESIS_HASH
    assert second.prev_hash == first.hash
    assert audit.event_hash(AuditEvent.objects.get(pk=second.pk)) == second.hash
    assert audit.verify() == audit.Verification(True, 2)


@pytest.mark.parametrize(
    ("tamper", "broken", "problem"),
    [
        ("UPDATE screening_auditevent SET details = %s WHERE id = {id}", 2, "content"),
        ("UPDATE screening_auditevent SET actor_username = 'someone-else' WHERE id = {id}", 2, "content"),
        ("DELETE FROM screening_auditevent WHERE id = {id}", 3, "link"),
    ],
    ids=["details-changed", "actor-changed", "event-deleted"],
)
def test_verify_tampered_event_named(tamper, broken, problem):
    events = _events(4)
    params = ['{"i": 99}'] if "%s" in tamper else []

    _raw(tamper.format(id=events[1].pk), params)
    result = audit.verify()

    assert not result.ok
    assert result.first_broken_id == events[broken - 1].pk
    assert result.checked == 1 if broken == 2 else 2
    assert ("does not link" if problem == "link" else "does not match") in result.problem


def test_verify_reordered_events_detected():
    events = _events(3)

    # Swap the content of events 2 and 3, hashes included: each still matches its own hash, not its place.
    a, b = events[1], events[2]
    for target, source in ((a, b), (b, a)):
        _raw(
            "UPDATE screening_auditevent SET object_id = %s, details = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [
                source.object_id,
                f'{{"i": {source.details["i"]}, "note": "é"}}',
                source.prev_hash,
                "x" * 64 if target is a else source.hash,
                target.pk,
            ],
        )
    _raw("UPDATE screening_auditevent SET hash = %s WHERE id = %s", [b.hash, a.pk])
    result = audit.verify()

    assert not result.ok
    assert result.first_broken_id == a.pk


def test_verify_audit_command_intact_exit_0_and_recorded(capsys):
    _events(3)

    call_command("verify_audit")

    assert "intact: 3 events" in capsys.readouterr().out
    last = audit.last_verification()
    assert last.details["ok"] is True and last.details["checked"] == 3
    assert audit.verify().ok  # the verify event itself chains on


def test_verify_audit_command_broken_exit_1_naming_event(capsys):
    events = _events(3)
    _raw("UPDATE screening_auditevent SET action = 'sign' WHERE id = %s", [events[1].pk])

    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit")

    assert exit_info.value.code == 1
    assert f"BROKEN at event #{events[1].pk}" in capsys.readouterr().err
    assert audit.last_verification().details["first_broken_id"] == events[1].pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("sql", "tampered"),
    [
        (None, None),
        ("DELETE FROM screening_auditevent WHERE id = %s", 5),
        ("DELETE FROM screening_auditevent WHERE id = %s", 17),
        ("UPDATE screening_auditevent SET object_id = 'x' WHERE id = %s", 30),
    ],
    ids=["intact", "deleted-early", "deleted-mid", "changed-last"],
)
def test_verify_with_workers_gives_the_same_answer_as_alone(sql, tampered):
    events = _events(30)
    if tampered:
        _raw(sql, [events[tampered - 1].pk])

    alone = audit.verify(chunk=4)
    parallel = audit.verify(chunk=4, workers=2)  # spans of about 4 events; forked processes on PostgreSQL

    assert parallel == alone
    assert alone.ok is (tampered is None)


def test_verify_audit_command_bad_workers_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "verify_audit", "--workers", "0"]).execute()

    assert exit_info.value.code == 2
    assert "--workers" in capsys.readouterr().err


# --- Append-only


def test_model_refuses_update_and_delete():
    event = _events(1)[0]

    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="sign")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


@pytest.mark.parametrize(
    "sql",
    ["UPDATE screening_auditevent SET action = 'sign'", "DELETE FROM screening_auditevent WHERE id = %s"],
    ids=["update", "delete"],
)
def test_raw_update_and_delete_are_refused_or_detected(sql):
    """PostgreSQL's trigger refuses raw changes; SQLite has no trigger, and verification names the break."""
    events = _events(3)
    params = [events[1].pk] if "%s" in sql else []

    if connection.vendor == "postgresql":
        with (
            pytest.raises((InternalError, ProgrammingError, IntegrityError)) as error,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)
        assert "append-only" in str(error.value)
        assert AuditEvent.objects.count() == 3
        assert audit.verify().ok
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        result = audit.verify()
        assert not result.ok and result.first_broken_id == (events[0].pk if "UPDATE" in sql else events[2].pk)


# --- Concurrent writers


@pytest.mark.django_db(transaction=True)
def test_concurrent_threads_leave_an_intact_chain(tmp_path):
    if connection.vendor == "sqlite":
        # The SQLite test database is a shared-cache in-memory one, which has no busy wait for threads;
        # deployed SQLite is a file, so concurrent writers are checked as processes on a file there.
        _check_concurrent_processes(tmp_path, processes_n=6, each=15)
        return
    threads_n, each = 6, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_n)

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(each):
                audit.record(action=AuditEvent.Action.VIEW, object_type="thread", object_id=f"{n}-{i}")
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert AuditEvent.objects.count() == threads_n * each
    assert len(set(AuditEvent.objects.values_list("prev_hash", flat=True))) == threads_n * each  # no fork
    assert audit.verify() == audit.Verification(True, threads_n * each)


WRITER = (
    "import sys; from screening import audit\n"
    "for i in range(int(sys.argv[1])):\n"
    "    audit.record(action='view', object_type='process', object_id=f'{sys.argv[2]}-{i}')\n"
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_processes_leave_an_intact_chain(tmp_path):
    _check_concurrent_processes(tmp_path, processes_n=4, each=25)


def _check_concurrent_processes(tmp_path, *, processes_n: int, each: int) -> None:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"  # a file: the deployed SQLite set-up
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=_env(url), check=True)
    else:
        url = (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:"
            f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
        )
    script = tmp_path / "writer.py"
    script.write_text(
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'iop_screening.settings');"
        " django.setup()\n" + WRITER
    )

    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(each), str(n)], cwd=ROOT, env=_env(url), stderr=subprocess.PIPE
        )
        for n in range(processes_n)
    ]
    failures = [
        err.decode() for p, (_, err) in zip(procs, [p.communicate() for p in procs], strict=True) if p.returncode != 0
    ]
    verify = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--no-record"],
        cwd=ROOT,
        env=_env(url),
        capture_output=True,
        text=True,
    )

    assert failures == []
    assert verify.returncode == 0, verify.stderr
    assert f"intact: {processes_n * each} events" in verify.stdout


def _env(url: str) -> dict:
    return {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}


# --- Pages


@pytest.mark.parametrize("name", ["audit_log", "audit_disclosures"])
def test_audit_pages_anonymous_redirected_to_sign_in(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("fixture", ["clinician_client", "admin_client_"])
def test_audit_pages_other_roles_forbidden(request, fixture):
    client = request.getfixturevalue(fixture)
    person = ClientFactory()

    responses = [
        client.get(reverse("audit_log")),
        client.post(reverse("audit_verify")),
        client.get(reverse("audit_disclosures")),
        client.get(reverse("audit_client_disclosures", args=[person.public_id])),
    ]

    assert [r.status_code for r in responses] == [403] * 4
    assert audit.last_verification() is None


def test_audit_log_lists_and_filters_events(auditor_client):
    _events(3)
    audit.record(action=AuditEvent.Action.SIGN, actor_username="clin", object_type="screening", object_id="s1")

    everything = auditor_client.get(reverse("audit_log"))
    signs = auditor_client.get(reverse("audit_log"), {"action": "sign", "actor": "clin"})
    by_object = auditor_client.get(reverse("audit_log"), {"object_type": "client", "object_id": "c1"})
    future = auditor_client.get(reverse("audit_log"), {"since": (timezone.localdate() + dt.timedelta(days=1))})

    assert everything.context["page"].paginator.count == AuditEvent.objects.count() >= 4
    assert [e.object_id for e in signs.context["page"]] == ["s1"]
    assert [e.object_id for e in by_object.context["page"]] == ["c1"]
    assert future.context["page"].paginator.count == 0


def test_audit_log_extreme_dates_are_not_an_error(auditor_client):
    _events(1)

    response = auditor_client.get(reverse("audit_log"), {"since": "0001-01-01", "until": "9999-12-31"})

    assert response.status_code == 200
    assert response.context["page"].paginator.count == AuditEvent.objects.count()


def test_audit_log_bad_dates_show_field_errors(auditor_client):
    response = auditor_client.get(reverse("audit_log"), {"since": "2026-02-31", "until": "2026-01-01"})

    assert response.status_code == 200
    assert "since" in response.context["form"].errors
    assert 'href="#id_since"' in response.content.decode()


def test_audit_log_reversed_range_is_a_field_error_and_lists_nothing(auditor_client):
    _events(3)

    response = auditor_client.get(reverse("audit_log"), {"since": "2026-03-01", "until": "2026-02-01"})

    assert response.status_code == 200
    assert response.context["form"].errors["until"] == ["The end date must be on or after the start date."]
    assert 'href="#id_until"' in response.content.decode()
    # The events are not shown unfiltered under filters that did not apply.
    assert response.context["page"].paginator.count == 0
    assert "correct the filters above" in response.content.decode()
    assert "Please correct 1 field below." in response.content.decode()
    assert response.context["form"]["since"].value() == "2026-03-01"


def test_audit_log_query_count_does_not_grow_with_events(auditor_client, django_assert_num_queries):
    _events(60)
    auditor_client.get(reverse("audit_log"))

    # The page's own four (count, page of events, last verification, latest checkpoint) plus the framework's
    # five: session, user, two permission reads, the roles shown in the nav.
    with django_assert_num_queries(9):
        response = auditor_client.get(reverse("audit_log"))

    assert len(response.context["page"].object_list) == 50


def test_audit_verify_button_records_and_shows_result(auditor_client, auditor):
    _events(2)

    response = auditor_client.post(reverse("audit_verify"), follow=True)

    checked = AuditEvent.objects.count() - 1  # all but the verify event: no checkpoint yet, the whole chain
    assert f"The audit trail is intact: {checked} events checked (the whole chain" in response.content.decode()
    last = audit.last_verification()
    assert last.actor == auditor and last.details["ok"] is True
    assert 'data-testid="last-verification"' in response.content.decode()


def test_audit_verify_button_reports_broken_event(auditor_client):
    events = _events(3)
    _raw("UPDATE screening_auditevent SET object_id = 'x' WHERE id = %s", [events[2].pk])

    response = auditor_client.post(reverse("audit_verify"), follow=True)

    assert f"broken at event #{events[2].pk}" in response.content.decode()


def test_audit_disclosures_lookup_by_record_number_redirects_to_uuid(auditor_client):
    person = ClientFactory(record_number="R-1234")

    found = auditor_client.post(reverse("audit_disclosures"), {"record_number": "R-1234"})
    missing = auditor_client.post(reverse("audit_disclosures"), {"record_number": "R-0000"})

    assert found.status_code == 302
    assert found.url == reverse("audit_client_disclosures", args=[person.public_id])
    assert "R-1234" not in found.url
    assert missing.status_code == 400
    assert "record_number" in missing.context["form"].errors


def test_audit_client_disclosures_lists_exports_containing_client(auditor_client, auditor):
    person, other = ClientFactory(), ClientFactory()
    make_screening(client=person, created_at=NOW - dt.timedelta(days=1))
    make_screening(client=other, created_at=NOW - dt.timedelta(days=40))
    for since, fmt in (("2026-01-01", "csv"), (timezone.localdate().isoformat(), "jsonl")):
        response = auditor_client.post(
            reverse("export"),
            {"since": since, "until": timezone.localdate().isoformat(), "format": fmt, "deidentified": "yes"},
        )
        b"".join(response.streaming_content)

    mine = auditor_client.get(reverse("audit_client_disclosures", args=[person.public_id]))
    theirs = auditor_client.get(reverse("audit_client_disclosures", args=[other.public_id]))

    assert [r.format for r in mine.context["runs"]] == ["csv"]  # the JSONL export held only today's
    assert [r.format for r in theirs.context["runs"]] == ["csv"]
    assert mine.context["runs"][0].event.details["rows"] == 2
    viewed = AuditEvent.objects.filter(action=AuditEvent.Action.VIEW, object_id=str(person.public_id))
    assert viewed.get().actor == auditor


@pytest.mark.parametrize("typed", ["r-1234", " R-1234 ", "r- 1234"])
def test_audit_disclosures_lookup_ignores_case_and_spaces_like_the_client_search(auditor_client, typed):
    person = ClientFactory(record_number="R-1234")

    found = auditor_client.post(reverse("audit_disclosures"), {"record_number": typed})

    assert found.status_code == 302
    assert found.url == reverse("audit_client_disclosures", args=[person.public_id])


@pytest.mark.django_db
def test_the_audit_log_shows_an_export_that_only_started_as_started(auditor_client):
    from screening import exports

    exports.ExportRunner(fmt="csv", deidentified=True, filters=exports.ExportFilters()).start()

    page = auditor_client.get(reverse("audit_log")).content.decode()

    assert "csv, de-identified, started" in page and "rows, ," not in page
