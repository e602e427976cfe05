"""CPU time of one password check with Django's hashers (issue 13: a signature and a sign-in each check a password).

The project's hasher (Argon2id at OWASP's 46 MiB, t=1, p=1: iop_screening/hashers.py) side by side with Django's
default, PBKDF2-SHA256 at Django's iteration count (the project's hasher before), and Argon2 and scrypt at Django's
default parameters. CPU time of this process (time.process_time) and wall time, medians of BENCH_ROUNDS (default 7)
checks after one warm-up, the hashers alternating within each round.

    .venv/bin/python bench/hasher_bench.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from django.conf import settings  # noqa: E402

settings.configure()
from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher, ScryptPasswordHasher  # noqa: E402

from bench.machine import machine  # noqa: E402
from iop_screening.hashers import Argon2idHasher  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def main() -> None:
    print(machine(), "; load average", os.getloadavg())
    password = "correct horse battery staple"
    hashers = {
        "project: argon2id (OWASP)": Argon2idHasher(),
        "django default: pbkdf2_sha256": PBKDF2PasswordHasher(),
        "django defaults: argon2": Argon2PasswordHasher(),
        "django defaults: scrypt": ScryptPasswordHasher(),
    }
    encoded = {name: h.encode(password, h.salt()) for name, h in hashers.items()}
    cpu: dict[str, list[float]] = {name: [] for name in hashers}
    wall: dict[str, list[float]] = {name: [] for name in hashers}
    for name, h in hashers.items():  # warm-up
        assert h.verify(password, encoded[name])
    for _ in range(ROUNDS):
        for name, h in hashers.items():
            c, w = time.process_time(), time.perf_counter()
            assert h.verify(password, encoded[name])
            cpu[name].append(time.process_time() - c)
            wall[name].append(time.perf_counter() - w)
    base = statistics.median(cpu["project: argon2id (OWASP)"])
    for name, h in hashers.items():
        params = {k: v for k, v in h.safe_summary(encoded[name]).items() if k not in ("salt", "hash", "algorithm")}
        c = statistics.median(cpu[name])
        print(
            f"{name}: {c * 1000:.0f} ms CPU, {statistics.median(wall[name]) * 1000:.0f} ms wall per check "
            f"(median of {ROUNDS}; {c / base:.1f}x the project's) {params}"
        )
    print("load average at the end", os.getloadavg())


if __name__ == "__main__":
    main()
