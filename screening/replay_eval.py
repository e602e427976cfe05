"""What-if replay, the part that runs per row: re-evaluate a page of stored answer snapshots under a rule set version.

Imports only the pure core and orjson (no Django), so that a replay's worker processes (started with `spawn`,
never forked from a threaded app server) import nothing else and open no database connection.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from . import questionnaire, rules

LEVELS = tuple(level.value for level in rules.Level)
_INDEX = {level: i for i, level in enumerate(LEVELS)}


@dataclass
class PageResult:
    """The counts of one page of rows, and the position in the page of each row whose level would change."""

    total: int = 0
    unreadable: int = 0  # snapshots that no longer parse (never expected; counted, not guessed)
    matrix: list[int] = field(default_factory=lambda: [0] * len(LEVELS) ** 2)  # stored × replayed, row-major
    changed: list[int] = field(default_factory=list)


def evaluate_page(rows: Sequence[tuple], version: str) -> PageResult:
    """Re-evaluate (stored level, snapshot as JSON text, bytes or dict) rows under `version`. Only these two columns
    cross to a worker process: its id and date stay with the caller, which the positions in `changed` point back to
    (pickling a date costs more than its snapshot)."""
    if version not in rules.RULE_SETS:
        raise ValueError(f"unknown rule set version {version!r}")
    out = PageResult()
    matrix, changed, width = out.matrix, out.changed, len(LEVELS)
    parse, level, loads, index = questionnaire.parse, rules.level, orjson.loads, _INDEX
    unreadable = 0
    for position, (stored, snapshot) in enumerate(rows):
        try:
            raw = snapshot if isinstance(snapshot, Mapping) else loads(snapshot)
            new = level(parse(raw), version).value  # the level alone: `rules.evaluate`'s, without its reasons
            matrix[index[stored] * width + index[new]] += 1
        except (questionnaire.QuestionnaireError, orjson.JSONDecodeError, TypeError, ValueError, KeyError):
            unreadable += 1
            continue
        if new != stored:
            changed.append(position)
    out.total, out.unreadable = len(rows), unreadable
    return out


def worker_init(niceness: int, parent: int) -> None:
    """A worker process's initializer: yield the CPU to the app server's requests (and anything else) first, and end
    when the process that started it is gone (an app server killed mid-replay), instead of waiting on for work."""
    if niceness:
        os.nice(niceness)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="replay-parent-watch", daemon=True).start()


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


@dataclass(frozen=True)
class ReasonChange:
    """A reason that holds under one version and not the other, in the clinician page's wording."""

    code: str
    text: str


def reason_changes(
    stored: Iterable[Mapping], replayed: Iterable[rules.Reason]
) -> tuple[tuple[ReasonChange, ...], tuple[ReasonChange, ...]]:
    """(added, removed): the replayed reasons not stored, and the stored reasons (as stored, with the text the
    clinician saw) not replayed, each in rule-table order."""
    stored = list(stored)
    replayed = list(replayed)
    stored_codes = {r["code"] for r in stored}
    replayed_codes = {r.code for r in replayed}
    added = tuple(ReasonChange(r.code, r.text) for r in replayed if r.code not in stored_codes)
    removed = tuple(ReasonChange(r["code"], r["text"]) for r in stored if r["code"] not in replayed_codes)
    return added, removed
