"""What-if replay (issue 4): re-evaluate stored answer snapshots under a rule set version.

Read-only by construction: it reads four columns with `values_list` and never saves a model, so a
stored recommendation cannot change. The comparison is against the level stored with each
screening — what the clinician saw at the time, under the version recorded with it.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import multiprocessing
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, connections
from django.db.models import Max, Min, TextField
from django.db.models.functions import Cast

from . import questionnaire, rules
from .models import Screening

LEVELS = tuple(level.value for level in rules.Level)


@dataclass(frozen=True)
class Change:
    public_id: str
    created_at: dt.datetime
    from_level: str
    to_level: str


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

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "total": self.total,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "unreadable": self.unreadable,
            "matrix": self.matrix,
            "changed_screenings": [
                {
                    "public_id": c.public_id,
                    "created_at": c.created_at.isoformat(),
                    "from": c.from_level,
                    "to": c.to_level,
                }
                for c in self.changes
            ],
        }


def replay_rows(rows: Iterable[tuple], version: str) -> tuple[ReplayResult, list[int]]:
    """Re-evaluate (id, stored level, snapshot as JSON text or dict) rows under `version`.

    Returns the counts and the ids of every row whose level would change."""
    if version not in rules.RULE_SETS:
        raise ValueError(f"unknown rule set version {version!r}")
    result = ReplayResult(version)
    matrix = result.matrix
    changed_ids: list[int] = []
    parse, evaluate, loads = questionnaire.parse, rules.evaluate, json.loads
    total = unreadable = 0
    for pk, stored, snapshot in rows:
        total += 1
        try:
            new = evaluate(parse(loads(snapshot) if isinstance(snapshot, str) else snapshot), version).level.value
        except (questionnaire.QuestionnaireError, TypeError, ValueError, KeyError):
            unreadable += 1
            continue
        matrix[stored][new] += 1
        if new != stored:
            changed_ids.append(pk)
    result.total, result.changed, result.unreadable = total, len(changed_ids), unreadable
    return result, changed_ids


def _count(queryset, version: str, chunk_size: int) -> tuple[ReplayResult, list[int]]:
    # No ORDER BY: the rows are read in whatever order is cheapest (a sequential scan for a wide
    # range), as JSON text with their id: no model instances, no per-row field conversions.
    rows = (
        queryset.completed_or_signed()
        .order_by()
        .annotate(snapshot_text=Cast("answers_snapshot", TextField()))
        .values_list("id", "recommended_level", "snapshot_text")
        .iterator(chunk_size=chunk_size)
    )
    return replay_rows(rows, version)


def newest_changes(changed_ids: list[int], version: str, keep: int, batch: int = 10_000) -> list[Change]:
    """The `keep` newest of the changed screenings, with their UUID, date and both levels."""
    newest: list[tuple] = []
    for i in range(0, len(changed_ids), batch):
        part = Screening.objects.filter(pk__in=changed_ids[i : i + batch]).values_list("created_at", "pk")
        newest = heapq.nlargest(keep, [*newest, *part])
    if not newest:
        return []
    found = {
        pk: rest
        for pk, *rest in Screening.objects.filter(pk__in=[pk for _, pk in newest]).values_list(
            "pk", "public_id", "created_at", "recommended_level", "answers_snapshot"
        )
    }
    changes = []
    for _, pk in newest:
        public_id, created_at, stored, snapshot = found[pk]
        new = rules.evaluate(questionnaire.parse(snapshot), version).level.value
        changes.append(Change(str(public_id), created_at, stored, new))
    return changes


def replay(queryset, version: str, *, keep: int = 100, chunk_size: int = 5000) -> ReplayResult:
    """Replay every completed or signed screening of `queryset` under `version`; keep the newest changes."""
    result, changed_ids = _count(queryset, version, chunk_size)
    result.changes = newest_changes(changed_ids, version, keep)
    return result


def in_range(since: dt.datetime, until: dt.datetime):
    """Screenings started in [since, until)."""
    return Screening.objects.filter(created_at__gte=since, created_at__lt=until)


def merge(parts: list[ReplayResult], version: str) -> ReplayResult:
    """One result (counts and matrix) from the results of disjoint parts."""
    out = ReplayResult(version)
    for part in parts:
        out.total += part.total
        out.changed += part.changed
        out.unreadable += part.unreadable
        for a in LEVELS:
            for b in LEVELS:
                out.matrix[a][b] += part.matrix[a][b]
    return out


def _forget_inherited_connections() -> None:
    # A connection object copied by fork may still point at the parent's socket (another thread's,
    # or one reopened since): drop it without closing it, so this process opens its own.
    for conn in connections.all(initialized_only=True):
        conn.connection = None
        conn.closed_in_transaction = False


def _replay_part(args) -> tuple[ReplayResult, list[int]]:
    since, until, lo, hi, version = args
    return _count(in_range(since, until).filter(id__gte=lo, id__lt=hi), version, 5000)


def replay_range(
    since: dt.datetime, until: dt.datetime, version: str, *, keep: int = 100, workers: int = 1
) -> ReplayResult:
    """Replay screenings started in [since, until). With workers > 1 on PostgreSQL, disjoint id ranges
    are replayed in that many processes (parsing and evaluating is CPU-bound) and merged."""
    if version not in rules.RULE_SETS:
        raise ValueError(f"unknown rule set version {version!r}")
    qs = in_range(since, until)
    # Forked workers need their own connections: never fork inside a transaction, whose socket and
    # uncommitted rows the children could not use.
    if workers <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return replay(qs, version, keep=keep)
    bounds = qs.completed_or_signed().aggregate(lo=Min("id"), hi=Max("id"))
    if bounds["lo"] is None:
        return ReplayResult(version)
    lo, hi = bounds["lo"], bounds["hi"] + 1
    pieces = workers * 4  # smaller pieces even out uneven load on a shared machine
    step = max((hi - lo + pieces - 1) // pieces, 1)
    tasks = [(since, until, a, min(a + step, hi), version) for a in range(lo, hi, step)]
    connections.close_all()  # each forked worker opens its own connection
    with multiprocessing.get_context("fork").Pool(workers, initializer=_forget_inherited_connections) as pool:
        parts = pool.map(_replay_part, tasks, chunksize=1)
    result = merge([p for p, _ in parts], version)
    result.changes = newest_changes([pk for _, ids in parts for pk in ids], version, keep)
    return result
