"""Selectors: the client search (its keys, its matches, the same on SQLite and PostgreSQL, and the indexes
it reads), the client list's cursors, amendments, the history's capped paging, audit filtering, and the
one date range every date filter makes."""

import datetime as dt
import importlib
import zoneinfo

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from screening import audit, rules, selectors
from screening.filters import HistoryFilter
from screening.forms import AuditFilterForm, DateRangeForm, ExportForm, HistoryFilterForm, ReplayForm
from screening.models import AuditEvent, Client, Screening, name_key, record_key
from screening.selectors import DateRange, day_start
from tests.factories import ClientFactory, UserFactory, make_screening

# --- Search keys (no database)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Müller", "muller"),
        ("José", "jose"),
        ("ZOË", "zoe"),
        ("Nguyễn", "nguyen"),
        ("Øster", "oster"),
        ("Łukasz", "lukasz"),
        ("Straße", "strasse"),
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),
        ("Smith-Jones", "smith jones"),
        ("  van der  Berg ", "van der berg"),
        ("", ""),
    ],
    ids=lambda v: v if isinstance(v, str) and v.strip() else None,
)
def test_name_key_folds_accents_case_and_punctuation(text, key):
    assert name_key(text) == key


def test_record_key_folds_case_and_width_and_drops_spaces():
    assert record_key(" SYN-0001 ") == "syn-0001"
    assert record_key("Ｐ-１２") == "p-12"  # full-width characters, as some keyboards type them


# --- The client search


PEOPLE = [
    ("R-100", "José", "Müller"),
    ("R-101", "Jo", "Mullerton"),
    ("R-200", "Harper", "Quill"),
    ("R-300", "Anna", "van der Berg"),
    ("X-1", "Muller", "Smith"),
    ("A%B", "Pat", "Percent"),
    ("AXB", "Pat", "Percent"),
]


@pytest.fixture
def people(db):
    creator = UserFactory(role="clinician")
    for number, given, family in PEOPLE:
        ClientFactory(record_number=number, given_name=given, family_name=family, created_by=creator)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Müller, José", ["R-100"]),
        ("muller, jo", ["R-100", "R-101"]),
        ("MULLER, JOSE", ["R-100"]),
        ("Quill,", ["R-200"]),
        (", harp", ["R-200"]),
        ("muller", ["R-100", "R-101", "X-1"]),
        ("mullé", ["R-100", "R-101", "X-1"]),
        ("José Müller", ["R-100"]),
        ("jose muller", ["R-100"]),
        ("Müller José", ["R-100"]),
        ("Anna van der Berg", ["R-300"]),
        ("van der", ["R-300"]),
        ("Berg", []),  # a later word of a name is not the start of it
        ("r-1", ["R-100", "R-101"]),
        ("R-300", ["R-300"]),
        ("a%b", ["A%B"]),  # LIKE wildcards are plain characters
        ("a_b", []),
        (",", []),
        ("'", []),
    ],
)
def test_client_search_matches(people, term, expected):
    result = selectors.client_search(term)

    assert [c.record_number for c in result.clients] == expected
    assert result.more is False


def test_client_search_orders_by_name_as_shown_accents_aside(db):
    for family in ("Mullins", "Müller", "muller", "Mulan"):
        ClientFactory(family_name=family, given_name="A")

    found = selectors.client_search("mul").clients

    assert [c.family_name for c in found][0] == "Mulan"
    assert {c.family_name for c in found[1:3]} == {"Müller", "muller"}
    assert found[3].family_name == "Mullins"


def test_client_search_stops_at_the_limit_and_says_there_is_more(db):
    for _ in range(4):
        ClientFactory(family_name="Same")

    result = selectors.client_search("same", limit=3)

    assert len(result.clients) == 3 and result.more is True


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows would otherwise be read whole
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(" ".join(map(str, row)) for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("key", "index"),
    [
        ("search_family", "screening_client_family_key"),
        ("search_given", "screening_client_given_key"),
        ("search_record", "screening_client_record_key"),
    ],
)
def test_a_search_key_prefix_is_an_index_range(people, key, index):
    # Which index a whole search reads is the planner's choice by the table's statistics; what must hold on
    # both databases is that each key's prefix can be read as a range of its index.
    plan = _plan(Client.objects.filter(**{f"{key}__prefix": "mul"}))

    if connection.vendor == "postgresql":
        # The "C" collation lets LIKE 'mul%' become a range of the plain B-tree index.
        assert index in plan, plan
        assert f"Index Cond: ((({key})::text >= 'mul'::text) AND (({key})::text < 'mum'::text))" in plan, plan
    else:
        assert f"INDEX {index} ({key}>? AND {key}<?)" in plan, plan


def test_search_keys_follow_the_names_through_save_update_and_bulk_create(db):
    person = ClientFactory(given_name="Zoë", family_name="Ødegård", record_number="Q-1")
    assert (person.search_given, person.search_family, person.search_record) == ("zoe", "odegard", "q-1")

    person.family_name = "Ærø"
    person.save(update_fields=["family_name"])
    Client.objects.filter(pk=person.pk).update(given_name="Łucja")
    Client.objects.bulk_create(
        [
            Client(
                record_number="Q-2",
                given_name="Ève",
                family_name="Noël",
                date_of_birth=dt.date(1980, 1, 1),
                created_by=person.created_by,
            )
        ]
    )

    person.refresh_from_db()
    assert (person.search_given, person.search_family) == ("lucja", "aero")
    assert Client.objects.get(record_number="Q-2").search_family == "noel"


def test_fill_search_keys_mends_clients_written_around_save(people):
    Client.objects.filter(record_number__startswith="R-").update(search_family="", search_given="", search_record="")

    updated = Client.objects.filter(search_record="").fill_search_keys(batch=2)

    assert updated == 4
    assert [c.record_number for c in selectors.client_search("muller, jo").clients] == ["R-100", "R-101"]


def test_migration_fills_the_keys_of_existing_clients(people):
    Client.objects.update(search_family="", search_given="", search_record="")
    migration = importlib.import_module("screening.migrations.0008_client_search")

    migration.fill_search_keys(apps, type("SchemaEditor", (), {"connection": connection})())

    assert [c.record_number for c in selectors.client_search("muller, jo").clients] == ["R-100", "R-101"]
    assert Client.objects.filter(search_record="").count() == 0


# --- The client list


def test_client_page_breaks_created_at_ties_by_id(db):
    at = timezone.now()
    made = [ClientFactory(created_at=at) for _ in range(5)]

    seen, cursor = [], None
    while True:
        page = selectors.client_page(after=cursor, per_page=2)
        seen += [c.pk for c in page.clients]
        if page.older is None:
            break
        cursor = page.older

    assert seen == sorted((c.pk for c in made), reverse=True)


# --- Screenings


def test_amendments_of_lists_the_screenings_that_amend_one_oldest_first(db):
    original = make_screening()
    later = make_screening(client=original.client, created_at=timezone.now() + dt.timedelta(hours=2))
    sooner = make_screening(client=original.client, created_at=timezone.now() + dt.timedelta(hours=1))
    Screening.objects.filter(pk__in=[later.pk, sooner.pk]).update(amends=original)
    later.refresh_from_db()

    assert [s.pk for s in selectors.amendments_of(original)] == [sooner.pk, later.pk]
    assert [s.pk for s in selectors.amendment_chain(later)] == [original.pk, sooner.pk, later.pk]


def test_unfinished_screenings_are_one_clinicians_unsigned_ones_last_saved_first(db):
    clinician = UserFactory(role="clinician")
    draft = make_screening(clinician=clinician, status=Screening.Status.DRAFT)
    completed = make_screening(clinician=clinician, status=Screening.Status.COMPLETED)
    make_screening(clinician=clinician)  # signed
    make_screening(status=Screening.Status.DRAFT)  # someone else's

    assert [s.pk for s in selectors.unfinished_screenings(clinician)] == [completed.pk, draft.pk]


def test_history_page_caps_the_count_and_clamps_the_page(db, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    monkeypatch.setattr(selectors, "MAX_OFFSET", 4)
    clinician = UserFactory(role="clinician")
    start = timezone.now()
    made = [make_screening(clinician=clinician, created_at=start + dt.timedelta(minutes=i)) for i in range(5)]

    page = selectors.history_page(Screening.objects.order_by("-created_at", "-id"), page=99, per_page=2)

    assert (page.count, page.capped, page.last, page.number) == (4, True, 2, 2)
    assert [s.pk for s in page.rows] == [made[2].pk, made[1].pk]


# --- Audit events and date ranges


def test_audit_events_filter_by_each_field_and_read_extreme_days_as_open(db):
    audit.record(action=AuditEvent.Action.SIGN, actor_username="ann", object_type="screening", object_id="s1")
    audit.record(action=AuditEvent.Action.VIEW, actor_username="bo", object_type="client", object_id="c1")
    today = timezone.localdate()

    assert [e.object_id for e in selectors.audit_events(actor="ann")] == ["s1"]
    assert [e.object_id for e in selectors.audit_events(action="view", object_type="client")] == ["c1"]
    assert [e.object_id for e in selectors.audit_events()] == ["c1", "s1"]
    assert selectors.audit_events(dates=DateRange(dt.date.min, dt.date.max)).count() == 2
    assert selectors.audit_events(dates=DateRange(today, today)).count() == 2
    assert selectors.audit_events(dates=DateRange(start=today + dt.timedelta(days=1))).count() == 0
    assert selectors.audit_events(dates=DateRange(end=today - dt.timedelta(days=1))).count() == 0


def test_date_range_runs_from_local_midnight_to_the_midnight_after_its_last_day():
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        dates = DateRange(dt.date(2026, 3, 7), dt.date(2026, 3, 8))  # clocks go forward on 8 March

        assert dates.since == day_start(dt.date(2026, 3, 7))
        assert dates.until.astimezone(dt.UTC) - dates.since.astimezone(dt.UTC) == dt.timedelta(hours=47)
        assert dates.days == 2 and not dates.is_reversed
        assert DateRange(dt.date.min, dt.date.max).since is None
        assert DateRange(dt.date.min, dt.date.max).until is None
        assert DateRange(end=dt.date(2026, 1, 1)).days is None


@pytest.mark.parametrize(
    ("form_class", "data", "end"),
    [
        (DateRangeForm, {"start": "2026-03-01", "end": "2026-02-01"}, "end"),
        (ReplayForm, {"start": "2026-03-01", "end": "2026-02-01", "version": rules.RULES_VERSION}, "end"),
        (HistoryFilterForm, {"date_from": "2026-03-01", "date_to": "2026-02-01"}, "date_to"),
        (AuditFilterForm, {"since": "2026-03-01", "until": "2026-02-01"}, "until"),
        (ExportForm, {"since": "2026-03-01", "until": "2026-02-01", "format": "csv", "deidentified": "yes"}, "until"),
    ],
    ids=["dashboard", "replay", "history", "audit-log", "export"],
)
def test_every_date_filter_reports_a_reversed_range_at_its_end_date(db, form_class, data, end):
    if form_class is HistoryFilterForm:  # the history's filter set adds the fields to its form
        form = HistoryFilter(data, queryset=Screening.objects.none()).form
    else:
        form = form_class(data)

    assert not form.is_valid()
    assert form.errors[end] == ["The end date must be on or after the start date."]
