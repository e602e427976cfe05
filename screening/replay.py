"""What-if replay (issues 4, 13, 15): re-evaluate stored answer snapshots under a rule set version.

Read-only by construction: it reads a few columns with `values_list` and never saves a screening, so a stored
recommendation cannot change. The comparison is against the level stored with each screening — what the
clinician saw at the time, under the version recorded with it.

One code path for every range and every caller (the web's background job in `replay_jobs`, the command, the
benchmark): `run()` reads the range in keyset pages of ids (each page two short queries: no server-side cursor and
no transaction held across pages, so it works behind PgBouncer in transaction mode), has each page evaluated by
`replay_eval.evaluate_page` — in this thread, or in `processes` worker processes started with `spawn` (never a
fork of a threaded app server) that import only the pure core — and reports progress after every page.
"""

from __future__ import annotations

import datetime as dt
import heapq
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from django.db.models import TextField
from django.db.models.functions import Cast

from . import questionnaire, replay_eval, rules
from .models import Screening
from .replay_eval import LEVELS, ReasonChange

PAGE_SIZE = 5000


class Stopped(Exception):
    """The progress callback asked the replay to stop (its job was marked interrupted elsewhere)."""


@dataclass(frozen=True)
class Change:
    """A screening whose level would change: both levels, the level finally decided (blank while undecided), and
    the reasons the replayed version adds and removes, in the clinician page's wording."""

    public_id: str
    created_at: dt.datetime
    from_level: str
    to_level: str
    final_level: str = ""
    added: tuple[ReasonChange, ...] = ()
    removed: tuple[ReasonChange, ...] = ()

    def to_json(self) -> dict:
        return {
            "public_id": self.public_id,
            "created_at": self.created_at.isoformat(),
            "from": self.from_level,
            "to": self.to_level,
            "final": self.final_level,
            "added": [{"code": r.code, "text": r.text} for r in self.added],
            "removed": [{"code": r.code, "text": r.text} for r in self.removed],
        }

    @classmethod
    def from_json(cls, data: dict) -> Change:
        return cls(
            data["public_id"],
            dt.datetime.fromisoformat(data["created_at"]),
            data["from"],
            data["to"],
            data.get("final", ""),
            tuple(ReasonChange(r["code"], r["text"]) for r in data.get("added", ())),
            tuple(ReasonChange(r["code"], r["text"]) for r in data.get("removed", ())),
        )


@dataclass
class ReplayResult:
    version: str
    total: int = 0
    changed: int = 0
    unreadable: int = 0  # snapshots that no longer parse (never expected; counted, not guessed)
    matrix: dict[str, dict[str, int]] = field(default_factory=lambda: {a: dict.fromkeys(LEVELS, 0) for a in LEVELS})
    changes: list[Change] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.total - self.changed - self.unreadable

    def matrix_rows(self) -> list[tuple[str, list[int], int]]:
        """(from level, counts per to level, row total), in level order, for templates."""
        return [(a, [self.matrix[a][b] for b in LEVELS], sum(self.matrix[a].values())) for a in LEVELS]

    def add(self, page: replay_eval.PageResult) -> None:
        """Count one evaluated page in."""
        self.total += page.total
        self.unreadable += page.unreadable
        self.changed += len(page.changed)
        width = len(LEVELS)
        for i, a in enumerate(LEVELS):
            row = self.matrix[a]
            for j, b in enumerate(LEVELS):
                row[b] += page.matrix[i * width + j]

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "total": self.total,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "unreadable": self.unreadable,
            "matrix": self.matrix,
            "changed_screenings": [c.to_json() for c in self.changes],
        }

    @classmethod
    def from_json(cls, data: dict) -> ReplayResult:
        return cls(
            data["version"],
            data["total"],
            data["changed"],
            data["unreadable"],
            {a: {b: data["matrix"][a][b] for b in LEVELS} for a in LEVELS},
            [Change.from_json(c) for c in data["changed_screenings"]],
        )


def in_range(since: dt.datetime | None, until: dt.datetime | None):
    """Completed or signed screenings started in [since, until) (an end given as None is open)."""
    qs = Screening.objects.completed_or_signed()
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs


def pages(queryset, page_size: int) -> Iterator[list[tuple]]:
    """(id, created_at, stored level, snapshot as JSON text) of every row of `queryset`, in keyset pages of ids.

    Each page is two short queries, nothing held open between them or between pages: where the page ends (its ids,
    from an index, sorted as integers only), then the rows up to there, in one range of the primary key. Asked in one
    query, a narrow date range of a large table had every row of the range read, converted to text and sorted for
    each page; a list of the page's ids (`id IN (…)`) made a wide range slower."""
    ids = queryset.order_by("id").values_list("id", flat=True)
    rows = (
        queryset.order_by("id")
        .annotate(snapshot_text=Cast("answers_snapshot", TextField()))
        .values_list("id", "created_at", "recommended_level", "snapshot_text")
    )
    last = 0
    while page_ids := list(ids.filter(id__gt=last)[:page_size]):
        yield list(rows.filter(id__gt=last, id__lte=page_ids[-1]))
        last = page_ids[-1]


def _evaluated(
    source: Iterator[list[tuple]], version: str, processes: int, niceness: int
) -> Iterator[tuple[list[tuple], replay_eval.PageResult]]:
    """Each page of `source` with its evaluation, in order: here, or in `processes` spawned worker processes (at
    `niceness`) with at most two pages each waiting, so memory stays a few pages whatever the range."""
    if processes <= 0:
        for rows in source:
            yield rows, replay_eval.evaluate_page([(level, text) for _, _, level, text in rows], version)
        return
    pool = ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=replay_eval.worker_init,
        initargs=(niceness, os.getpid()),
    )
    try:
        pending: deque = deque()
        for rows in source:
            slim = [(level, text) for _, _, level, text in rows]
            pending.append((rows, pool.submit(replay_eval.evaluate_page, slim, version)))
            if len(pending) > 2 * processes:
                rows, future = pending.popleft()
                yield rows, future.result()
        while pending:
            rows, future = pending.popleft()
            yield rows, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def describe_changes(keys: list[tuple[dt.datetime, int]], version: str) -> list[Change]:
    """Each changed screening (by (created_at, id), newest first) with its levels, the level finally decided and the
    reasons added and removed. A few hundred rows at most: they are read and evaluated again here."""
    found = {
        pk: rest
        for pk, *rest in Screening.objects.filter(pk__in=[pk for _, pk in keys]).values_list(
            "pk", "public_id", "created_at", "recommended_level", "final_level", "recommendation", "answers_snapshot"
        )
    }
    changes = []
    for _, pk in keys:
        public_id, created_at, stored, final, recommendation, snapshot = found[pk]
        new = rules.evaluate(questionnaire.parse(snapshot), version)
        added, removed = replay_eval.reason_changes((recommendation or {}).get("reasons", []), new.reasons)
        changes.append(Change(str(public_id), created_at, stored, new.level.value, final, added, removed))
    return changes


def run(
    queryset,
    version: str,
    *,
    keep: int = 100,
    processes: int = 0,
    page_size: int | None = None,
    progress: Callable[[int], bool] | None = None,
    niceness: int = 0,
) -> ReplayResult:
    """Replay every completed or signed screening of `queryset` under `version`; describe the `keep` newest changes.

    `progress(done)` is called after each page; when it returns False the replay stops (raises Stopped). Worker
    processes run `niceness` steps below this process's priority."""
    if version not in rules.RULE_SETS:
        raise ValueError(f"unknown rule set version {version!r}")
    result = ReplayResult(version)
    newest: list[tuple[dt.datetime, int]] = []  # a min-heap of the `keep` newest changes seen so far
    source = pages(queryset.completed_or_signed(), page_size or PAGE_SIZE)
    for rows, page in _evaluated(source, version, processes, niceness):
        result.add(page)
        for position in page.changed:
            key = (rows[position][1], rows[position][0])  # (created_at, id)
            if len(newest) < keep:
                heapq.heappush(newest, key)
            elif keep and key > newest[0]:
                heapq.heapreplace(newest, key)
        if progress is not None and progress(result.total) is False:
            raise Stopped
    result.changes = describe_changes(sorted(newest, reverse=True), version)
    return result


def replay(queryset, version: str, *, keep: int = 100, processes: int = 0) -> ReplayResult:
    """`run` without progress: the whole queryset, then the result."""
    return run(queryset, version, keep=keep, processes=processes)
