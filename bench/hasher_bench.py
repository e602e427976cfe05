"""CPU time of one password check with Django's hashers (issue 13: a signature and a sign-in each check a password).

The project uses Django's default, PBKDF2-SHA256 at Django's iteration count; Argon2 and scrypt at Django's
default parameters are printed beside it for comparison. CPU time of this process (time.process_time), median of
BENCH_ROUNDS (default 7) checks after one warm-up. Argon2 needs argon2-cffi, which the project does not install:
it is skipped (and says so) when missing.

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

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def main() -> None:
    print(machine(), "; load average", os.getloadavg())
    for hasher in (PBKDF2PasswordHasher(), ScryptPasswordHasher(), Argon2PasswordHasher()):
        try:
            encoded = hasher.encode("correct horse battery staple", hasher.salt())
        except ValueError as e:  # argon2-cffi missing
            print(f"{hasher.algorithm}: skipped ({e})")
            continue
        hasher.verify("correct horse battery staple", encoded)
        times = []
        for _ in range(ROUNDS):
            start = time.process_time()
            assert hasher.verify("correct horse battery staple", encoded)
            times.append(time.process_time() - start)
        params = {k: v for k, v in hasher.safe_summary(encoded).items() if k not in ("salt", "hash", "algorithm")}
        print(
            f"{hasher.algorithm}: {statistics.median(times) * 1000:.0f} ms CPU per check (median of {ROUNDS}) {params}"
        )


if __name__ == "__main__":
    main()
