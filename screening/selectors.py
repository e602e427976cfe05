"""Recurring reads: views call these instead of building queries (the reads' counterpart of `services.py`).
Simple, chainable reads are QuerySet methods in `models.py`; these combine them into what a page shows."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import FLAG_FIELDS, AuditEvent, Client, ExportRun, Screening, name_key, record_key


# --- Dates
def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of a day in the program's time zone, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass(frozen=True)
class DateRange:
    """Days in the program's time zone, both ends included; an end left out (None) is open. So are the first
    and last representable days: the day after 9999-12-31 cannot be computed, and midnight of 0001-01-01 east
    of UTC falls before year 1."""

    start: dt.date | None = None
    end: dt.date | None = None

    @property
    def since(self) -> dt.datetime | None:  # the first instant in the range
        return None if self.start in (None, dt.date.min) else day_start(self.start)

    @property
    def until(self) -> dt.datetime | None:  # the first instant after the range
        return None if self.end in (None, dt.date.max) else day_start(self.end + dt.timedelta(days=1))

    @property
    def is_reversed(self) -> bool:
        return self.start is not None and self.end is not None and self.end < self.start

    @property
    def days(self) -> int | None:  # how many days the range holds
        return None if self.start is None or self.end is None else (self.end - self.start).days + 1


# --- Clients
SEARCH_LIMIT = 50
CLIENTS_PER_PAGE = 25
# "Given Family" is tried at every split of the words; more words than this are not split further.
MAX_SPLIT_WORDS = 6


def client_match(term: str, *, via: str = "") -> Q:
    """The clients a search term finds, as a condition (`via` is the path to Client, e.g. "client__"), the same
    wherever clients are searched. Each comparison is a prefix of a search key (`models.name_key`, `record_key`:
    "jose" finds "José"). "Family, Given" matches each part (either may be empty); otherwise the whole term
    starts a name or the record number, or its first words start one name and the rest the other."""

    def prefix(key: str, value: str) -> Q:
        return Q(**{f"{via}search_{key}__prefix": value})

    if "," in term:
        family, _, given = (name_key(part) for part in term.partition(","))
        cond = Q()
        if family:
            cond &= prefix("family", family)
        if given:
            cond &= prefix("given", given)
        return cond if cond else Q(**{f"{via}pk__in": []})
    words = name_key(term).split()
    cond = Q(**{f"{via}pk__in": []})
    if words:
        whole = " ".join(words)
        cond = prefix("family", whole) | prefix("given", whole)
        for k in range(1, min(len(words), MAX_SPLIT_WORDS)):
            first, rest = " ".join(words[:k]), " ".join(words[k:])
            cond |= (prefix("given", first) & prefix("family", rest)) | (
                prefix("family", first) & prefix("given", rest)
            )
    if number := record_key(term):
        cond |= prefix("record", number)
    return cond


def client_by_record_number(number: str) -> Client | None:
    """The client a typed record number names, compared as the search compares it (case and spaces
    ignored); None when no client, or more than one, has it."""
    found = list(Client.objects.filter(search_record=record_key(number))[:2])
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class ClientSearch:
    clients: list[Client]
    more: bool  # more clients match than are shown


def client_search(term: str, *, limit: int | None = None) -> ClientSearch:
    """The first `limit` (SEARCH_LIMIT) clients the term finds (`client_match`), in the order names are shown."""
    limit = limit or SEARCH_LIMIT
    found = list(Client.objects.filter(client_match(term)).by_name()[: limit + 1])
    return ClientSearch(found[:limit], more=len(found) > limit)


@dataclass(frozen=True)
class ClientPage:
    clients: list[Client]
    newer: uuid.UUID | None  # the cursor of the page before this one (newer clients), if any
    older: uuid.UUID | None  # the cursor of the page after this one, if any
    first: bool  # the page of the newest clients


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def client_page(*, after=None, before=None, per_page: int | None = None) -> ClientPage:
    """A page of clients, newest first: the page after (older than) or before (newer than) a client, whose public
    id is the cursor (never a record number or a name). Read from the (created_at, id) index at the cursor and
    never counted, the thousandth page costs what the first does. An unknown cursor gives the first page."""
    per_page = per_page or CLIENTS_PER_PAGE
    after, before = _uuid(after), _uuid(before)
    cursor = after or before
    mark = Client.objects.filter(public_id=cursor).values_list("created_at", "id").first() if cursor else None
    at, pk = mark or (None, None)
    if mark is not None and not after:  # newer clients: read upwards from the cursor, then turn the page round
        upwards = Client.objects.filter(Q(created_at__gt=at) | Q(id__gt=pk), created_at__gte=at)
        rows = list(upwards.order_by("created_at", "id")[: per_page + 1])
        if rows:
            more = len(rows) > per_page
            rows = rows[:per_page][::-1]
            return ClientPage(rows, newer=rows[0].public_id if more else None, older=rows[-1].public_id, first=False)
    first = mark is None or not after
    clients = (
        Client.objects if first else Client.objects.filter(Q(created_at__lt=at) | Q(id__lt=pk), created_at__lte=at)
    )
    rows = list(clients.newest_first()[: per_page + 1])
    return ClientPage(
        rows[:per_page],
        newer=None if first or not rows else rows[0].public_id,
        older=rows[per_page - 1].public_id if len(rows) > per_page else None,
        first=first,
    )


def client_screenings(client: Client) -> list[Screening]:
    """A client's screenings, newest first, with who did and signed them and what each amends."""
    return list(client.screenings.select_related("clinician", "signed_by", "amends").order_by("-created_at", "-id"))


# --- Screenings
# What the amendment chain and the history show of each screening.
_SHOWN_COLUMNS = ("public_id", "created_at", "status", "signed_at", "amends_id", "recommended_level", "final_level")


def unfinished_screenings(clinician, *, limit: int = 20) -> list[Screening]:
    """A clinician's drafts and unsigned screenings, most recently saved first (the home page)."""
    return list(
        Screening.objects.filter(clinician=clinician)
        .unfinished()
        .select_related("client")
        .order_by("-updated_at")[:limit]
    )


def last_saved_by(screening: Screening) -> str | None:
    """The username of whoever last saved a draft's answers (its latest change event), if anyone."""
    return (
        AuditEvent.objects.filter(object_id=str(screening.public_id), action=AuditEvent.Action.CHANGE)
        .order_by("-id")
        .values_list("actor_username", flat=True)
        .first()
    )


def amendments_of(screening: Screening) -> list[Screening]:
    """The screenings that amend this one, oldest first."""
    return list(screening.amendments.order_by("created_at", "id"))


def amendment_chain(screening: Screening) -> list[Screening]:
    """The amendment chain this screening belongs to, oldest first: the original and every amendment."""
    root = screening
    seen = {root.pk}
    while root.amends_id is not None and root.amends_id not in seen:  # chains are short: one query a step
        root = Screening.objects.only("id", "amends_id").get(pk=root.amends_id)
        seen.add(root.pk)
    chain, frontier = [], [root.pk]
    while frontier:
        level = list(
            Screening.objects.filter(pk__in=frontier)
            .select_related("signed_by")
            .only("id", *_SHOWN_COLUMNS, "signed_by__username")
            .order_by("created_at", "id")
        )
        chain.extend(level)
        frontier = list(Screening.objects.filter(amends_id__in=[s.pk for s in level]).values_list("pk", flat=True))
    return chain


# The history never counts past this many matches, and never pages past it: a COUNT(*) or an
# OFFSET over a million rows would grow with the table on every page load. Past the cap the page
# says "more than 1,000" and asks for a narrower filter.
COUNT_CAP = 1000
MAX_OFFSET = 10_000
_PEOPLE = (
    "client__public_id",
    "client__given_name",
    "client__family_name",
    "client__record_number",
    "clinician__username",
)
HISTORY_COLUMNS = (
    *(*_SHOWN_COLUMNS, *_PEOPLE, "decision", "override_reason", "override_text", "rules_version"),
    *FLAG_FIELDS.values(),
)


@dataclass(frozen=True)
class HistoryPage:
    rows: list[Screening]  # each with `superseded`: a later screening amends it
    count: int  # matches, counted up to COUNT_CAP + 1
    capped: bool  # more than COUNT_CAP match
    number: int  # this page, within 1..last
    last: int


def history_page(screenings: QuerySet, *, page: int, per_page: int) -> HistoryPage:
    """One page of ordered, filtered screenings, at a cost that does not grow with the table."""
    count = screenings.order_by()[: COUNT_CAP + 1].count()
    capped = count > COUNT_CAP
    reachable = MAX_OFFSET if capped else count
    last = max((reachable + per_page - 1) // per_page, 1)
    number = min(max(page, 1), last)
    offset = (number - 1) * per_page
    # Deferred join: page through ids alone (an index-only scan of screening_review_idx, even at a
    # deep offset), then load just those rows with just the columns the history shows.
    ids = list(screenings.values_list("id", flat=True)[offset : offset + per_page])
    # An amended screening stays in the history (signed records are immutable), marked as superseded.
    superseded = Exists(Screening.objects.filter(amends=OuterRef("pk")))
    loaded = (
        Screening.objects.completed_or_signed()
        .select_related("client", "clinician")
        .filter(pk__in=ids)
        .only(*HISTORY_COLUMNS)
        .annotate(superseded=superseded)
    )
    by_id = {s.pk: s for s in loaded}
    return HistoryPage([by_id[pk] for pk in ids], count, capped, number, last)


# --- Audit
def audit_events(
    *, actor: str = "", action: str = "", object_type: str = "", object_id: str = "", dates: DateRange = DateRange()
) -> QuerySet:
    """Audit events, newest first, filtered by whichever of these are given."""
    exact = {"actor_username": actor, "action": action, "object_type": object_type, "object_id": object_id}
    within = {"at__gte": dates.since, "at__lt": dates.until}
    events = AuditEvent.objects.order_by("-id").filter(**{field: value for field, value in exact.items() if value})
    return events.filter(**{field: value for field, value in within.items() if value is not None})


def object_events(obj) -> QuerySet:
    """The audit events recorded about one client or screening, oldest first."""
    return AuditEvent.objects.filter(object_type=obj._meta.model_name, object_id=str(obj.public_id)).order_by("id")


def recent_exports(*, limit: int = 10) -> list[ExportRun]:
    return list(ExportRun.objects.select_related("started_event", "event").order_by("-started_at", "-id")[:limit])


def exports_disclosing(client: Client) -> QuerySet:
    """The exports whose records included this client (the accounting of disclosures), newest first."""
    return (
        ExportRun.objects.filter(disclosures__client=client)
        .select_related("started_event", "event")
        .order_by("-started_at", "-id")
    )
