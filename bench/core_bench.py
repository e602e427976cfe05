"""The pure core's CPU per answer set, an older tree's code against this one, side by side (issue 15: the replay's CPU).

    .venv/bin/python bench/core_bench.py --old-tree /path/to/a/worktree [--rounds 5] [--database-url URL]

Each round runs one child process per tree, alternating which goes first, each importing its tree's `screening`
(the pure core needs no Django) and timing with `time.process_time` over the same N answer sets (100,000 synthetic
ones, `synthetic.answer_set`, seed 2026; `BENCH_N` for another N):

- **parse**: `questionnaire.parse` of each raw answer set, already in memory;
- **evaluate**: `rules.evaluate(answers, "2027.01")` of each parsed answer set;
- **level (replay)**: the level alone under 2027.01, as a replay takes it: `rules.level` (new), else
  `rules.evaluate(...).level` (a tree without it);
- **replay rows**: `replay_eval.evaluate_page` over pages of 5,000 (stored level, snapshot as JSON text) rows, as a
  replay's worker process does: `orjson.loads`, parse, then the level under 2027.01.

Every child also returns what it computed, outside the timings, and the two trees must agree on all of it: each
recommendation's `to_dict()` (with the six domains) under every rule set version, each `to_json` of the answers, the
page results, and the error dict `parse` raises for 5,000 answer sets each made faulty in one or two places.

`--database-url` adds one more pass per tree over every stored screening of that database (read-only: one SELECT of
the stored level, rule set version, reasons and answer snapshot): the same level and reasons under every version,
old against new, row by row, and the stored level and reasons against the new code under the stored version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = "2027.01"
PAGE = 5_000
FAULTY = 5_000
# The modules a child imports (the pure core, the replay's per-row code, the synthetic answer sets).
CORE = ("questionnaire", "rules", "instruments", "answers", "replay_eval", "synthetic")
# Values that break a field one way or another: wrong types, out of range, unknown choices, bad lists and objects.
BAD_VALUES = [None, True, False, 0, 1, -1, 7, 99, 5.0, "", "yes", "alcohol", "never", [], ["alcohol", "alcohol"]]
BAD_VALUES += [["tea"], ["craving", 3], {}, {"plan": True}, "1"]


# --- The child: runs with PYTHONPATH set to one tree, imports only that tree's pure core and orjson.
def child(data_path: str, mode: str) -> None:
    import gc

    import orjson

    from screening import questionnaire, replay_eval, rules

    with open(data_path, "rb") as f:
        data = orjson.loads(f.read())
    rows = [tuple(r) for r in data["rows"]]  # (stored level, snapshot text)
    raws = [orjson.loads(text) for _, text in rows]
    out: dict = {}

    if mode == "time":
        gc.collect()
        start = time.process_time()
        answers = [questionnaire.parse(r) for r in raws]
        out["parse"] = time.process_time() - start
        gc.collect()
        start = time.process_time()
        for a in answers:
            rules.evaluate(a, VERSION)
        out["evaluate"] = time.process_time() - start
        # The level alone, as the replay takes it: `rules.level` where there is one, else `evaluate(...).level`.
        level = getattr(rules, "level", None) or (lambda a, version: rules.evaluate(a, version).level)
        gc.collect()
        start = time.process_time()
        for a in answers:
            level(a, VERSION)
        out["level (replay)"] = time.process_time() - start
        pages = [rows[i : i + PAGE] for i in range(0, len(rows), PAGE)]
        gc.collect()
        start = time.process_time()
        results = [replay_eval.evaluate_page(page, VERSION) for page in pages]
        out["replay rows"] = time.process_time() - start
        digest = hashlib.sha256()
        for a in answers:
            digest.update(orjson.dumps(questionnaire.to_json(a)))
            for version in sorted(rules.RULE_SETS):
                digest.update(orjson.dumps(rules.evaluate(a, version).to_dict()))
        for r in results:
            digest.update(orjson.dumps([r.total, r.unreadable, r.matrix, r.changed]))
        for raw in data["faulty"]:
            try:
                questionnaire.parse(raw)
                digest.update(b"valid")
            except questionnaire.QuestionnaireError as e:
                digest.update(orjson.dumps(e.errors))
        out["digest"] = digest.hexdigest()
    else:  # "rows": each row's level and reason codes under every version, for the row-by-row comparison
        versions = sorted(rules.RULE_SETS)
        per_row = []
        for raw in raws:
            a = questionnaire.parse(raw)
            per_row.append(
                [[r.level.value, [x.code for x in r.reasons]] for r in (rules.evaluate(a, v) for v in versions)]
            )
        out = {"versions": versions, "rows": per_row}
    sys.stdout.buffer.write(orjson.dumps(out))


# --- The parent.
def synthetic_rows(n: int) -> list[list[str]]:
    sys.path.insert(0, str(ROOT))
    from screening import questionnaire, rules, synthetic

    rng = random.Random(2026)
    rows = []
    for _ in range(n):
        raw = synthetic.answers_only(synthetic.answer_set(rng))
        level = rules.evaluate(questionnaire.parse(raw), "2026.11").level.value
        rows.append([level, json.dumps(raw)])
    return rows


def faulty(rows: list[list[str]], n: int) -> list:
    """n answer sets, each broken in one or two places (a field dropped, added or given a bad value, at the top or in
    the C-SSRS object): every way the strict path reports must come out the same."""
    rng = random.Random(15)
    out = []
    for _, text in rows[:n]:
        raw = json.loads(text)
        for _ in range(rng.choice((1, 2))):
            target = raw["cssrs"] if rng.random() < 0.25 and isinstance(raw.get("cssrs"), dict) else raw
            key = rng.choice(sorted(target))
            what = rng.random()
            if what < 0.1:
                del target[key]
            elif what < 0.15:
                target[rng.choice(["extra", "3d", "cssrs"])] = rng.choice(BAD_VALUES)
            else:
                target[key] = rng.choice(BAD_VALUES)
        out.append(raw)
    return out


def _parses(raw) -> bool:
    from screening import questionnaire

    try:
        questionnaire.parse(raw)
    except questionnaire.QuestionnaireError:
        return False
    return True


def database_rows(url: str) -> list[list]:
    import psycopg2  # the app's own driver; read-only here

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET TRANSACTION READ ONLY")
        cur.execute(
            "SELECT recommended_level, answers_snapshot::text, rules_version, recommendation->'reasons' "
            "FROM screening_screening WHERE answers_snapshot IS NOT NULL ORDER BY id"
        )
        return [list(r) for r in cur]


def run_child(tree: Path, data_path: str, mode: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", data_path, "--mode", mode],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        check=True,
    )
    return json.loads(proc.stdout)


def commit_of(tree: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "-C", str(tree), "status", "--porcelain", "--", *(f"screening/{m}.py" for m in CORE)],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() + (" + uncommitted changes in the core" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-tree", type=Path, help="a checkout of the code to compare with (git worktree add)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 5)))
    parser.add_argument("--database-url", help="also compare old and new on every stored screening of this database")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="time", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mode)
        return
    if args.old_tree is None:
        parser.error("--old-tree is required")

    sys.path.insert(0, str(ROOT))
    from bench.machine import machine

    n = int(os.environ.get("BENCH_N", 100_000))
    trees = {"old": args.old_tree.resolve(), "new": ROOT}
    load_start, started = os.getloadavg()[0], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = synthetic_rows(n)
    times: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    digests: dict[str, set[str]] = {name: set() for name in trees}
    broken = faulty(rows, FAULTY)
    refused = sum(not _parses(raw) for raw in broken)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"rows": rows, "faulty": broken}, f)
    try:
        for i in range(args.rounds):
            for name in ("old", "new") if i % 2 == 0 else ("new", "old"):
                result = run_child(trees[name], f.name, "time")
                digests[name].add(result.pop("digest"))
                for stage, seconds in result.items():
                    times[name].setdefault(stage, []).append(seconds)
    finally:
        os.unlink(f.name)

    print(f"started {started}, load average (1 min) {load_start:.2f}; at the end {os.getloadavg()[0]:.2f}")
    print(f"machine: {machine()}")
    print(f"old: {trees['old']} at {commit_of(trees['old'])}; new: {trees['new']} at {commit_of(trees['new'])}")
    print(f"{n:,} synthetic answer sets; {args.rounds} rounds, one child process per tree each, alternating first")
    print(
        f"{'CPU seconds (process_time)':28}{'old median':>12}{'new median':>12}{'old best':>10}{'new best':>10}", end=""
    )
    print(f"{'ratio old/new':>15}{'new µs/set':>12}")
    medians = {name: {s: statistics.median(v) for s, v in times[name].items()} for name in trees}
    for stage in times["new"]:
        old, new = medians["old"][stage], medians["new"][stage]
        print(
            f"{stage:28}{old:12.3f}{new:12.3f}{min(times['old'][stage]):10.3f}{min(times['new'][stage]):10.3f}"
            f"{old / new:14.2f}x{new / n * 1e6:12.2f}"
        )
    for second in ("evaluate", "level (replay)"):
        both_old, both_new = (medians[t]["parse"] + medians[t][second] for t in ("old", "new"))
        print(f"{'parse + ' + second:28}{both_old:12.3f}{both_new:12.3f}{'':20}{both_old / both_new:14.2f}x")
    same = len(digests["old"] | digests["new"]) == 1
    print(
        "results (every recommendation under every version, answers, page results, errors of "
        f"{len(broken):,} faulty sets, {refused:,} of them refused): {'identical' if same else 'DIFFERENT'}"
    )

    if args.database_url:
        compare_database(args.database_url, trees)
    if not same:
        sys.exit(1)


def compare_database(url: str, trees: dict[str, Path]) -> None:
    stored = database_rows(url)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"rows": [[level, text] for level, text, _, _ in stored], "faulty": []}, f)
    try:
        results = {name: run_child(tree, f.name, "rows") for name, tree in trees.items()}
    finally:
        os.unlink(f.name)
    versions = results["new"]["versions"]
    differ = sum(o != n for o, n in zip(results["old"]["rows"], results["new"]["rows"], strict=True))
    unlike_stored = 0
    for (level, _, version, reasons), new in zip(stored, results["new"]["rows"], strict=True):
        replayed = new[versions.index(version)]
        unlike_stored += replayed != [level, [r["code"] for r in reasons or []]]
    print(
        f"database: {len(stored):,} stored screenings, versions {', '.join(versions)}: rows whose level or reasons "
        f"differ old against new under some version: {differ:,}; new code against the stored level and reasons "
        f"under the stored version: {unlike_stored:,} differ"
    )
    if results["old"]["versions"] != versions or differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
