"""Time `generate_screenings 100000` into a fresh SQLite database (issue 3: under a minute).

Reports wall time and the process's CPU time: on a shared machine the CPU time is the steadier
figure. Run: .venv/bin/python bench/generate_bench.py [N]
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3"}
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [*manage, "generate_screenings", str(n), "--seed", "1"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"machine: {machine()}")
    print(
        f"generate_screenings {n:,} on SQLite: {wall:.1f} s wall, {cpu:.1f} s CPU ({n / wall:,.0f} screenings/s wall)"
    )


if __name__ == "__main__":
    main()
