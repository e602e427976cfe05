"""The password hasher: Argon2id at OWASP's recommended cost (Password Storage Cheat Sheet: m = 46 MiB, t = 1, p = 1).

Django recommends Argon2 (the Password Hashing Competition's winner) and ships it, but its parameters are
Django's own (102,400 KiB, t = 2, p = 8; about 190 ms of CPU per check here) and the default hasher is PBKDF2 at
1,000,000 iterations (about 240-410 ms). A signature re-checks the password (DESIGN §5), so that cost lands on every
signing. Argon2id is memory-hard: each guess needs 46 MiB, which is what makes guessing on GPUs expensive, not
CPU time alone; at these parameters a check costs about 45 ms here (`bench/hasher_bench.py`). Existing PBKDF2
hashes still verify and are re-hashed with Argon2id at the user's next sign-in (Django's hasher upgrade).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id (Django's `argon2` algorithm; its hashes carry their parameters) at OWASP's 46 MiB, t=1, p=1."""

    time_cost = 1
    memory_cost = 47104  # KiB
    parallelism = 1
