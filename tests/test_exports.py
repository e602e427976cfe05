import csv
import datetime as dt
import hashlib
import io
import json
import threading
import uuid

import pytest
from django.core.management import ManagementUtility, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from screening import exports
from screening.exports.columns import FIELDS, summary_sql
from screening.exports.writers import read
from screening.models import AuditEvent, ExportDisclosure, ExportRun, Screening
from tests.factories import ClientFactory, UserFactory, make_screening

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _post_export(client, **changes):
    data = {
        "since": (NOW - dt.timedelta(days=30)).date().isoformat(),
        "until": timezone.localdate().isoformat(),
        "format": "csv",
        "deidentified": "no",
    } | changes
    return client.post(reverse("export"), data)


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _csv_rows(body: bytes) -> list[dict]:
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith('"NOTICE (42 CFR Part 2)')
    return list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))


def _jsonl(body: bytes) -> tuple[dict, list[dict]]:
    header, *rows = [json.loads(line) for line in body.decode().splitlines()]
    return header, rows


# --- Access


@pytest.mark.parametrize("name", ["export", "fhir_questionnaire"])
def test_export_pages_anonymous_redirected_to_sign_in(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("fixture", ["clinician_client", "admin_client_"])
def test_export_other_roles_forbidden(request, fixture):
    client = request.getfixturevalue(fixture)

    get = client.get(reverse("export"))
    post = _post_export(client)

    assert get.status_code == 403
    assert post.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_export_page_auditor_sees_form(auditor_client):
    response = auditor_client.get(reverse("export"))

    assert response.status_code == 200
    assert b"Download export" in response.content


# --- Bad input


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"since": "2026-13-40"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-11-20", "until": "2026-11-01"}, "until"),
        ({"format": "xlsx"}, "format"),
        ({"deidentified": "maybe"}, "deidentified"),
    ],
    ids=["bad-since", "bad-until", "until-before-since", "unknown-format", "bad-identifiers"],
)
def test_export_invalid_input_rerenders_with_field_error(auditor_client, changes, field):
    response = _post_export(auditor_client, **changes)

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert f'href="#id_{field}' in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


# --- Content


def test_export_csv_identified_has_every_column_and_values(auditor_client):
    s = make_screening(created_at=NOW - dt.timedelta(days=2), substances=["alcohol", "opioids"], cows=14)

    response = _post_export(auditor_client, format="csv")
    rows = _csv_rows(_body(response))

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == list(exports.columns(False))
    assert row["screening_id"] == str(s.public_id)
    assert row["record_number"] == s.client.record_number
    assert row["substances"] == "alcohol;opioids"
    assert row["cows"] == "14"
    assert row["recommended_level"] == s.recommended_level
    assert row["reasons"] == ";".join(r["code"] for r in s.recommendation["reasons"])
    assert row["band_cows"] == s.recommendation["bands"]["cows"]
    assert row["home_safe"] == "true"
    assert row["signed_by"] == s.signed_by.username


def test_export_csv_and_jsonl_carry_the_same_values(auditor_client):
    make_screening(created_at=NOW - dt.timedelta(days=1))
    make_screening(created_at=NOW - dt.timedelta(days=3), substances=["opioids"], ciwa_ar=None, pawss=None, cows=7)

    csv_rows = _csv_rows(_body(_post_export(auditor_client, format="csv")))
    _, json_rows = _jsonl(_body(_post_export(auditor_client, format="jsonl")))

    def as_csv(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return ";".join(v)
        return str(v)

    by_id = {r["screening_id"]: r for r in json_rows}
    assert len(csv_rows) == len(json_rows) == 2
    for row in csv_rows:
        typed = by_id[row["screening_id"]]
        assert row == {k: as_csv(typed[k]) for k in exports.columns(False)}


def test_export_jsonl_is_typed_and_starts_with_notice(auditor_client):
    make_screening(created_at=NOW - dt.timedelta(days=2))

    header, rows = _jsonl(_body(_post_export(auditor_client, format="jsonl")))

    assert header["record_type"] == "notice"
    assert header["notice"] == exports.REDISCLOSURE_NOTICE
    row = rows[0]
    assert row["record_type"] == "screening"
    assert row["substances"] == ["alcohol"]
    assert row["home_safe"] is True
    assert isinstance(row["phq9_total"], int)
    assert row["cows"] is None


def test_export_date_range_is_inclusive_by_local_day(auditor_client):
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    inside_start = dt.datetime.combine(today - dt.timedelta(days=5), dt.time(0, 0, 1), tzinfo=tz)
    inside_end = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(23, 59), tzinfo=tz)
    before = dt.datetime.combine(today - dt.timedelta(days=6), dt.time(23, 59), tzinfo=tz)
    kept = {make_screening(created_at=inside_start).public_id, make_screening(created_at=inside_end).public_id}
    make_screening(created_at=before)
    make_screening(created_at=inside_end, status=Screening.Status.DRAFT)

    rows = _csv_rows(
        _body(
            _post_export(
                auditor_client,
                since=(today - dt.timedelta(days=5)).isoformat(),
                until=(today - dt.timedelta(days=1)).isoformat(),
            )
        )
    )

    assert {r["screening_id"] for r in rows} == {str(k) for k in kept}


@pytest.mark.parametrize("danger", ['=HYPERLINK("http://x")', "+1+2", "-3+4", "@SUM(A1)", "\tTAB"])
def test_export_csv_escapes_formula_cells(auditor_client, danger):
    person = ClientFactory(given_name=danger, family_name=danger, record_number=danger[:30])
    make_screening(client=person, created_at=NOW - dt.timedelta(days=1), final_level="inpatient")
    Screening.objects.update(override_text=danger)

    rows = _csv_rows(_body(_post_export(auditor_client)))

    row = rows[0]
    for column in ("given_name", "family_name", "override_text"):
        assert row[column] == "'" + danger
    assert row["record_number"] == "'" + danger[:30]
    assert row["final_level"] == "inpatient"


def test_export_is_logged_with_rows_and_sha256_of_bytes_sent(auditor_client, auditor):
    for days in (1, 2, 3):
        make_screening(created_at=NOW - dt.timedelta(days=days))

    response = _post_export(auditor_client, format="jsonl", deidentified="yes")
    # Started before any byte; the end with its figures only once the stream has ended.
    assert AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT, details__phase="started").exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT, details__phase="completed").exists()
    body = _body(response)

    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT, details__phase="completed")
    assert event.actor == auditor
    assert event.details["rows"] == 3
    assert event.details["bytes"] == len(body)
    assert event.details["sha256"] == hashlib.sha256(body).hexdigest()
    assert event.details["format"] == "jsonl"
    assert event.details["deidentified"] is True
    assert event.details["outcome"] == "completed"
    assert event.details["filters"]["until"] == timezone.localdate().isoformat()
    assert ExportRun.objects.get().event == event


def test_export_cut_short_is_still_logged(auditor_client):
    for days in range(1, 6):
        make_screening(created_at=NOW - dt.timedelta(days=days))
    runner = exports.ExportRunner(fmt="csv", deidentified=False, filters=exports.ExportFilters(), page=2)
    stream = runner.stream()

    first = next(stream)
    second = next(stream)  # the first page is handed on, then the download stops
    stream.close()

    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT, details__phase="cut_short")
    assert event.details["outcome"] == "cut_short"
    # Everything handed on is counted, the last piece too (it may have reached the client): over, never under.
    assert event.details["bytes"] == len(first) + len(second)
    assert event.details["rows"] == 2
    assert ExportDisclosure.objects.count() == 2  # the page that was about to go counts as disclosed


def test_export_records_disclosures_per_client(auditor_client):
    alice, bob, carol = ClientFactory(), ClientFactory(), ClientFactory()
    make_screening(client=alice, created_at=NOW - dt.timedelta(days=1))
    make_screening(client=alice, created_at=NOW - dt.timedelta(days=2))
    make_screening(client=bob, created_at=NOW - dt.timedelta(days=2))
    make_screening(client=carol, created_at=NOW - dt.timedelta(days=90))

    _body(_post_export(auditor_client))

    run = ExportRun.objects.get()
    assert set(run.disclosures.values_list("client_id", flat=True)) == {alice.pk, bob.pk}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_client_on_several_pages_is_noted_once_per_export(fmt):
    alice, bob = ClientFactory(), ClientFactory()
    for client in (alice, bob, alice, bob, alice):  # every page of 2 holds a client an earlier page noted
        make_screening(client=client, created_at=NOW - dt.timedelta(days=1))

    for _ in range(2):  # and a second export notes them again, for itself
        b"".join(exports.ExportRunner(fmt=fmt, deidentified=False, filters=exports.ExportFilters(), page=2).stream())

    noted = sorted(ExportDisclosure.objects.values_list("export_id", "client_id"))
    first, second = ExportRun.objects.order_by("id").values_list("id", flat=True)
    assert noted == sorted([(first, alice.pk), (first, bob.pk), (second, alice.pk), (second, bob.pk)])


def test_export_streams_in_pages_with_bounded_queries(django_assert_num_queries, clinician):
    for days in range(1, 8):
        make_screening(created_at=NOW - dt.timedelta(days=days), clinician=clinician)
    runner = exports.ExportRunner(fmt="csv", deidentified=False, filters=exports.ExportFilters(), page=3)
    audit_queries = (
        5 if connection.vendor == "postgresql" else 4
    )  # savepoint, (advisory lock), last hash, insert, release
    # The first and last ids exported; then per page of 3 ids (7 screenings: 3 pages), in a savepoint (2), on
    # PostgreSQL the page's settings read, set and put back (3), the page (a COPY there, a select elsewhere) and
    # the note of its clients.
    per_page = 2 + (3 if connection.vendor == "postgresql" else 0) + 1 + 1
    export_queries = 1 + 3 * per_page

    runner.start()  # the run and its started event, before any byte (tests/test_export_audit.py)

    # The pages, then the end event and the run's link to it, together (a savepoint and its release inside
    # the test's transaction), then the checkpoint of the chain (a savepoint, the latest event, the chain's
    # length, the insert, the release). Independent of the number of rows.
    with django_assert_num_queries(export_queries + 2 + audit_queries + 1 + 5):
        pieces = list(runner.stream())

    assert len(pieces) == 1 + 3  # header, then one piece per page


# --- CSV: the database's writer and Python's give the same bytes

# Text that CSV and spreadsheets treat specially: separators, quotes, line breaks, formula starts, non-ASCII.
NASTY = [
    'Comma, "quoted"',
    "two\nlines",
    "carriage\rreturn",
    "=1+1",
    "-dash",
    "+plus",
    "@at",
    "\tTab",
    "\rCR first",
    "Zoë O'Brien-Ñúñez 🙂",
    '"',
    ",",
    "plain",
]


def _people_with_nasty_text():
    """Screenings whose every free-text cell, age, date and optional field takes its awkward values."""
    tz = timezone.get_current_timezone()
    staff = [UserFactory(username=name, role="clinician") for name in ("-lead", "@nurse", "plain.name")]
    today = timezone.localdate()
    created = [
        # Late on New Year's Eve locally is already next year in UTC; the years must be local.
        dt.datetime(today.year - 1, 12, 31, 23, 30, tzinfo=tz),
        dt.datetime.combine(today - dt.timedelta(days=3), dt.time(9, 0), tzinfo=tz),  # no microseconds
        NOW - dt.timedelta(days=1, microseconds=123457),
    ]
    births = [dt.date(1936, 1, 1), dt.date(2000, 2, 29), dt.date(1999, 12, 31), dt.date(1940, 6, 15)]
    screenings = []
    for i, text in enumerate(NASTY):
        person = ClientFactory(
            given_name=text, family_name=NASTY[-1 - i], record_number=f"{text[:20]}#{i}", date_of_birth=births[i % 4]
        )
        clinician = staff[i % 3]
        status = Screening.Status.COMPLETED if i % 4 == 0 else Screening.Status.SIGNED
        final = None if status == Screening.Status.COMPLETED else ("inpatient" if i % 2 else None)
        s = make_screening(
            client=person, clinician=clinician, created_at=created[i % 3], status=status, final_level=final
        )
        if s.override_reason:
            Screening.objects.filter(pk=s.pk).update(override_text=NASTY[(i + 3) % len(NASTY)])
        screenings.append(s)
    # An amendment (the amends/amends_ref columns) of the first signed one, a reassessment of it too, its emergency
    # acknowledged at signing: the action taken and the reason for the amendment are free text.
    first_signed = next(s for s in screenings if s.status == Screening.Status.SIGNED)
    amendment = make_screening(
        client=first_signed.client, clinician=staff[2], created_at=NOW - dt.timedelta(hours=2), homicidal_ideation=True
    )
    Screening.objects.filter(pk=amendment.pk).update(
        amends=first_signed,
        carried_from=first_signed,
        amendment_reason=NASTY[1],
        emergency_action="other",
        emergency_action_text=NASTY[3],
        gad7_self_reported=True,
    )
    Screening.objects.filter(pk=screenings[1].pk).update(phq9_self_reported=True)
    return screenings


def _csv_export(deidentified: bool) -> list[list[str]]:
    """The parsed rows (header first) of a CSV export."""
    runner = exports.ExportRunner(fmt="csv", deidentified=deidentified, filters=exports.ExportFilters(), page=4)
    body = b"".join(runner.stream())
    notice, rest = body.split(b"\n", 1)  # the notice names the export, different each time
    assert notice.startswith(b'\xef\xbb\xbf"NOTICE (42 CFR Part 2)')
    assert b"\r\n" not in rest
    return list(csv.reader(io.StringIO(rest.decode(), newline="")))


@pytest.mark.postgresql
@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Paris", "CET", "UTC", "Pacific/Chatham"])
def test_export_csv_copy_and_python_writer_give_the_same_rows(monkeypatch, settings, zone):
    # PostgreSQL's COPY writes the identified CSV; Python's writer is its reference. Compared on parsed rows:
    # COPY quotes an empty string where Python writes nothing, and both read back the same. "CET" is a zone
    # with summer time, not PostgreSQL's fixed +01:00 abbreviation: the session time zone takes zone names.
    settings.TIME_ZONE = zone
    people = _people_with_nasty_text()

    copied = _csv_export(deidentified=False)
    monkeypatch.setattr(exports.runner, "writer_class", lambda fmt, deidentified: exports.writers.CsvWriter)
    python = _csv_export(deidentified=False)

    assert exports.writer_class("csv", False) is exports.writers.CopyCsvWriter
    assert copied[0] == python[0]
    for a, b in zip(copied, python, strict=True):
        assert len(a) == len(b), (len(a), len(b), a[-12:], b[-12:])
        assert {k: (x, y) for k, x, y in zip(python[0], a, b, strict=True) if x != y} == {}
    assert len(python) == 1 + len(people) + 1
    rows = [dict(zip(python[0], r, strict=True)) for r in python[1:]]
    assert {r["given_name"] for r in rows} == {exports.escape_cell(t) for t in NASTY}
    assert {r["emergency_action_text"] for r in rows} == {"", "'=1+1"}
    assert {r["amendment_reason"] for r in rows} == {"", "two\nlines"}
    assert sum(bool(r["carried_from"]) for r in rows) == 1
    assert {r["override_text"] for r in rows} - {""} <= {exports.escape_cell(t) for t in NASTY}
    assert {r["clinician"] for r in rows} == {"'-lead", "'@nurse", "plain.name"}
    assert all(r["age_at_screening"].isdigit() for r in rows)  # identified: the age itself, 90 and over too
    assert {r["date_of_birth"] for r in rows} >= {"1936-01-01", "2000-02-29"}


def test_export_csv_deidentified_rows():
    _people_with_nasty_text()
    rows = _csv_export(deidentified=True)
    rows = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]

    assert len(rows) == len(NASTY) + 1
    assert {r["created_year"] for r in rows} >= {str(timezone.localdate().year - 1)}
    assert "90+" in {r["age_at_screening"] for r in rows}
    assert all(r["birth_year"] == "" for r in rows if r["age_at_screening"] == "90+")


def test_export_csv_pseudonym_key_never_reaches_sql(monkeypatch):
    # SQL text can be logged (log_statement, log_min_duration_statement, Django's debug log): the key
    # that makes de-identified pseudonyms must never be part of it.
    _people_with_nasty_text()
    key = bytes(range(32))
    monkeypatch.setattr("screening.exports.deidentify.secrets.token_bytes", lambda n: key)
    pads = [bytes(b ^ x for b in key.ljust(64, b"\0")).hex() for x in (0x36, 0x5C)]

    with CaptureQueriesContext(connection) as queries:
        runner = exports.ExportRunner(fmt="csv", deidentified=True, filters=exports.ExportFilters(), page=4)
        body = b"".join(runner.stream())

    sql = "\n".join(q["sql"] for q in queries.captured_queries).lower()
    for secret in (key.hex(), *pads):
        assert secret not in sql
    assert body.count(b"\nscreening-") == len(NASTY) + 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_export_csv_copy_leaves_no_session_state():
    # Behind PgBouncer in transaction mode a server connection is shared between clients: nothing may
    # outlive a transaction (no session-level PREPARE or SET), and no second connection or thread is used.
    make_screening(created_at=NOW - dt.timedelta(days=1))
    make_screening(created_at=NOW - dt.timedelta(days=2))
    with CaptureQueriesContext(connection) as queries:
        runner = exports.ExportRunner(fmt="csv", deidentified=False, filters=exports.ExportFilters(), page=1)
        threads = threading.active_count()
        body = b"".join(runner.stream())
        assert threading.active_count() == threads

    sql = "\n".join(q["sql"] for q in queries.captured_queries).upper()
    assert "PREPARE" not in sql and "SET TIME ZONE" not in sql
    assert sql.count("SET_CONFIG('TIMEZONE'") == 2 * 2  # set and reset, inside each page's transaction
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('TimeZone'), count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (connection.timezone_name, 0)
    assert body.count(b"\n") == 2 + 2


_PLANNER = "SELECT current_setting('jit'), current_setting('enable_hashjoin'), current_setting('enable_mergejoin')"


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "fhir"])
def test_every_page_is_read_without_jit_or_hash_joins_and_the_session_is_left_as_it_was(monkeypatch, fmt):
    # A page's plan costs more than jit_above_cost: JIT compiled each page's expressions anew (bench/README.md).
    make_screening(created_at=NOW - dt.timedelta(days=1))
    make_screening(created_at=NOW - dt.timedelta(days=2))
    writer = exports.runner.writer_class(fmt, deidentified=False)
    seen, page = [], writer.page

    def spy(self, window):
        with connection.cursor() as cursor:
            cursor.execute(_PLANNER)
            seen.append(cursor.fetchone())
        return page(self, window)

    monkeypatch.setattr(writer, "page", spy)
    with connection.cursor() as cursor:
        cursor.execute(_PLANNER)
        before = cursor.fetchone()

    b"".join(exports.ExportRunner(fmt=fmt, deidentified=False, filters=exports.ExportFilters(), page=1).stream())

    assert seen == [("off", "off", "off")] * 2
    with connection.cursor() as cursor:
        cursor.execute(_PLANNER)
        assert cursor.fetchone() == before != ("off", "off", "off")


def test_escape_cell_prefixes_formula_starts_only():
    assert [exports.escape_cell(t) for t in ("=1+1", "+1", "-1", "@a", "\tx", "\rx")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@a",
        "'\tx",
        "'\rx",
    ]
    assert exports.escape_cell("plain -") == "plain -"


# --- Command


def test_export_command_writes_file_and_logs(tmp_path):
    make_screening(created_at=NOW - dt.timedelta(days=1))
    out = tmp_path / "export.json"

    call_command("export_records", "--format", "fhir", "--deidentified", "--output", str(out))

    body = out.read_bytes()
    bundle = json.loads(body)
    assert bundle["resourceType"] == "Bundle"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]].count("QuestionnaireResponse") == 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT, details__phase="completed")
    assert event.details["via"] == "command"
    assert event.details["sha256"] == hashlib.sha256(body).hexdigest()
    assert event.actor is None and event.actor_username.endswith("(command line)")


def test_export_command_stdout_by_default(capfdbinary):
    make_screening(created_at=NOW - dt.timedelta(days=1))

    call_command("export_records", "--format", "jsonl", "--since", "2026-01-01")

    out = capfdbinary.readouterr().out
    assert out.startswith(b'{"record_type":"notice"')
    assert out.count(b'"record_type":"screening"') == 1


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--format", "xlsx"], "--format"),
        (["--format", "csv", "--since", "2026-02-30"], "--since"),
        (["--format", "csv", "--until", "soon"], "--until"),
        (["--since", "2026-01-01"], "--format"),
    ],
    ids=["unknown-format", "bad-since", "bad-until", "missing-format"],
)
def test_export_command_bad_arguments_exit_2_naming_option(capsys, argv, option):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "export_records", *argv]).execute()

    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_export_command_until_before_since_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(
            ["manage.py", "export_records", "--format", "csv", "--since", "2026-11-02", "--until", "2026-11-01"]
        ).execute()

    assert exit_info.value.code == 2
    assert "--until" in capsys.readouterr().err


def test_export_command_unwritable_output_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(
            ["manage.py", "export_records", "--format", "csv", "--output", str(tmp_path / "missing-dir" / "x.csv")]
        ).execute()

    assert exit_info.value.code == 2
    assert "--output" in capsys.readouterr().err


def test_export_extreme_dates_are_not_an_error(auditor_client):
    make_screening(created_at=NOW - dt.timedelta(days=1))

    response = _post_export(auditor_client, since="0001-01-01", until="9999-12-31")

    assert len(_csv_rows(_body(response))) == 1
    assert AuditEvent.objects.get(action=AuditEvent.Action.EXPORT, details__phase="completed").details["rows"] == 1


@pytest.mark.parametrize("deidentified", ["no", "yes"])
def test_csv_and_jsonl_carry_the_six_domain_ratings_from_the_summary_beside_the_record(auditor_client, deidentified):
    s = make_screening(created_at=NOW - dt.timedelta(days=1), pregnant=True, lives_with_substance_users=True)
    expected = {f"domain_{k}": v["rating"] for k, v in s.domains.items()}

    (csv_row,) = _csv_rows(_body(_post_export(auditor_client, deidentified=deidentified)))
    _, (json_row,) = _jsonl(_body(_post_export(auditor_client, format="jsonl", deidentified=deidentified)))

    assert {k: int(csv_row[k]) for k in exports.DOMAIN_COLUMNS} == expected
    assert {k: json_row[k] for k in exports.DOMAIN_COLUMNS} == expected
    assert expected["domain_physical"] == 3 and expected["domain_environment"] == 2


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_identified_times_are_local_iso_8601_with_their_offset(auditor_client, settings, fmt):
    # An auditor compared exported times (UTC) with the screens (local time) and found them hours apart.
    settings.TIME_ZONE = "America/New_York"
    created = dt.datetime(2026, 7, 4, 14, 30, 5, 123456, tzinfo=dt.UTC)  # 10:30:05.123456 in New York (EDT)
    make_screening(created_at=created)

    body = _body(_post_export(auditor_client, format=fmt, since="2026-07-01", until="2026-07-31"))

    row = _csv_rows(body)[0] if fmt == "csv" else _jsonl(body)[1][0]
    assert row["created_at"] == "2026-07-04T10:30:05.123456-04:00"
    assert dt.datetime.fromisoformat(row["signed_at"]).utcoffset() == dt.timedelta(hours=-4)


def test_csv_lines_end_with_lf_like_copy(auditor_client):
    make_screening(created_at=NOW - dt.timedelta(days=1))

    body = _body(_post_export(auditor_client))

    assert b"\r\n" not in body
    assert body.count(b"\n") == 3  # notice, header, one row


# --- The record beyond the answers (issue 14): the safety acknowledgements kept with the signature, an amendment's
# reason, the instruments the person answered themselves, the screening a reassessment carried its history from.

RECORD_COLUMNS = ("emergency_action", "safety_review_confirmed", "phq9_self_reported", "gad7_self_reported")


def _acknowledged_reassessment():
    """A signed screening, and its amendment: an emergency acknowledged, PHQ-9 self-reported, a reassessment of it."""
    source = make_screening(created_at=NOW - dt.timedelta(days=5))
    later = make_screening(
        client=source.client, clinician=source.clinician, created_at=NOW - dt.timedelta(days=1), homicidal_ideation=True
    )
    Screening.objects.filter(pk=later.pk).update(
        amends=source,
        amendment_reason="Homicidal ideation was entered as no.",
        carried_from=source,
        emergency_action="crisis_team",
        emergency_action_text="Crisis team came within the hour.",
        phq9_self_reported=True,
    )
    return source, later


def test_export_columns_carry_the_record_beyond_the_answers():
    identified, deidentified = exports.columns(False), exports.columns(True)

    assert set(RECORD_COLUMNS) <= set(identified) and set(RECORD_COLUMNS) <= set(deidentified)
    assert {"emergency_action_text", "amendment_reason", "carried_from"} <= set(identified)
    assert "carried_from_ref" in deidentified
    assert not {"emergency_action_text", "amendment_reason", "carried_from"} & set(deidentified)  # free text, ids


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_identified_export_carries_acknowledgements_amendment_reason_self_report_and_origin(auditor_client, fmt):
    source, later = _acknowledged_reassessment()

    body = _body(_post_export(auditor_client, format=fmt))

    rows = _csv_rows(body) if fmt == "csv" else _jsonl(body)[1]
    by_id = {r["screening_id"]: r for r in rows}
    row, first = by_id[str(later.public_id)], by_id[str(source.public_id)]
    yes, no, empty = ("true", "false", "") if fmt == "csv" else (True, False, None)
    assert row["emergency_action"] == "crisis_team"
    assert row["emergency_action_text"] == "Crisis team came within the hour."
    assert row["safety_review_confirmed"] == no
    assert row["amendment_reason"] == "Homicidal ideation was entered as no."
    assert (row["phq9_self_reported"], row["gad7_self_reported"]) == (yes, no)
    assert row["carried_from"] == str(source.public_id)
    assert first["carried_from"] == first["emergency_action"] == empty
    assert first["emergency_action_text"] == first["amendment_reason"] == ""  # text as typed: none typed


def test_identified_export_carries_a_safety_review_confirmation(auditor_client):
    s = make_screening(created_at=NOW - dt.timedelta(days=1), phq9_item9=2, phq9_total=8)
    Screening.objects.filter(pk=s.pk).update(safety_review_confirmed=True, gad7_self_reported=True)

    (row,) = _jsonl(_body(_post_export(auditor_client, format="jsonl")))[1]

    assert row["safety_review_confirmed"] is True and row["gad7_self_reported"] is True
    assert row["emergency_action"] is None


def test_deidentified_export_keeps_the_codes_and_links_the_origin_by_pseudonym(auditor_client):
    source, later = _acknowledged_reassessment()

    body = _body(_post_export(auditor_client, format="jsonl", deidentified="yes"))

    rows = _jsonl(body)[1]
    row = next(r for r in rows if r["carried_from_ref"])
    first = next(r for r in rows if r is not row)
    assert row["carried_from_ref"] == first["screening_ref"] == row["amends_ref"]
    assert row["emergency_action"] == "crisis_team" and row["phq9_self_reported"] is True
    assert b"Crisis team came" not in body and b"Homicidal ideation was entered" not in body
    assert str(source.public_id).encode() not in body


@pytest.mark.parametrize("danger", ["=cmd()", "@SUM(A1)"])
def test_export_csv_escapes_formula_starts_in_action_taken_and_amendment_reason(auditor_client, danger):
    _, later = _acknowledged_reassessment()
    Screening.objects.filter(pk=later.pk).update(emergency_action_text=danger, amendment_reason=danger)

    row = next(r for r in _csv_rows(_body(_post_export(auditor_client))) if r["screening_id"] == str(later.public_id))

    assert row["emergency_action_text"] == row["amendment_reason"] == "'" + danger


@pytest.mark.postgresql
def test_export_read_gives_the_values_list_rows_with_uuids_as_text_on_this_cursor_only():
    first = make_screening(created_at=NOW - dt.timedelta(days=2))
    make_screening(created_at=NOW - dt.timedelta(days=1), client=first.client)
    window = exports.export_queryset(exports.ExportFilters())
    orm = window.annotate(**summary_sql(connection.vendor)).order_by("id").values_list(*FIELDS)

    rows = read(window)

    assert rows == [tuple(str(v) if isinstance(v, uuid.UUID) else v for v in r) for r in orm]
    assert rows[0][FIELDS.index("public_id")] == str(first.public_id)
    with connection.cursor() as cursor:  # other cursors read UUIDs as psycopg2 gives them
        cursor.execute("SELECT public_id FROM screening_screening WHERE id = %s", [first.pk])
        assert cursor.fetchone() == (first.public_id,)
