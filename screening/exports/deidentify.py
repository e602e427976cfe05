"""HIPAA Safe Harbor de-identification helpers for exports (45 CFR 164.514(b)(2); issue 5).

A de-identified export drops names, record numbers, the database's public identifiers, user
names and free text; reduces every date to its year; shows ages over 89 as "90+" (and then no
birth year, which would reveal the age). Rows of the same person are linked by a pseudonym that
is an HMAC under a random key made for that one export and never stored, so pseudonyms cannot be
linked across exports or back to the person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

AGE_CAP = 90  # Safe Harbor: ages over 89 are aggregated into a single category, "90+"
AGE_CAP_LABEL = "90+"


def age_on(date_of_birth: dt.date, on: dt.date) -> int:
    """Completed years of age on a given day."""
    return on.year - date_of_birth.year - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))


def safe_age(age: int) -> int | str:
    """The age, or "90+" from 90 on."""
    return AGE_CAP_LABEL if age >= AGE_CAP else age


def safe_birth_year(date_of_birth: dt.date, age: int) -> int | None:
    """The year of birth, withheld when the age is 90 or over (the year would reveal it)."""
    return None if age >= AGE_CAP else date_of_birth.year


class Pseudonymizer:
    """Per-export pseudonyms: the same input gives the same pseudonym within one export only."""

    def __init__(self, key: bytes | None = None):
        self._key = key or secrets.token_bytes(32)

    def __call__(self, kind: str, value: object) -> str:
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        # Lower case and spelled out ("person-3f2a…"): never read as a record number ("P-10234", stored upper case).
        return f"{kind}-{digest[:16]}"
