"""Rules throughput: evaluations per second over 100,000 synthetic answer sets, and the wall
time of `manage.py recommend` over a 10,000-element array. Run: `make bench` (or this file).

Prints the machine it ran on with the figures; bench/README.md records them.
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from screening import questionnaire, rules, synthetic  # noqa: E402

N = int(os.environ.get("BENCH_N", 100_000))
N_CMD = int(os.environ.get("BENCH_CMD_N", 10_000))


def main() -> None:
    rng = random.Random(2026)
    raws = [synthetic.answers_only(synthetic.answer_set(rng)) for _ in range(N)]
    answers = [questionnaire.parse(r) for r in raws]

    best = float("inf")
    for _ in range(3):  # best of three: the machine is shared
        start = time.perf_counter()
        for a in answers:
            rules.evaluate(a)
        best = min(best, time.perf_counter() - start)
    levels = {}
    for a in answers[:10_000]:
        lvl = rules.evaluate(a).level
        levels[lvl] = levels.get(lvl, 0) + 1

    start = time.perf_counter()
    for r in raws:
        questionnaire.parse(r)
    parse_s = time.perf_counter() - start

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(raws[:N_CMD], f)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "manage.py", "recommend", f.name], cwd=ROOT, capture_output=True, check=True)
    cmd_s = time.perf_counter() - start
    os.unlink(f.name)
    assert len(json.loads(proc.stdout)) == N_CMD

    print(f"machine: {machine()}")
    print(f"rules.evaluate: {N:,} answer sets in {best:.3f} s (best of 3) = {N / best:,.0f} evaluations/s on one core")
    print(f"questionnaire.parse: {N:,} answer sets in {parse_s:.3f} s = {N / parse_s:,.0f} parses/s")
    print(f"recommend over a {N_CMD:,}-element array: {cmd_s:.2f} s wall (process start, parse, evaluate, JSON out)")
    print("level mix of the first 10,000: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())))


if __name__ == "__main__":
    main()
