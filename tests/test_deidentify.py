import datetime as dt
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from screening import exports
from screening.exports.deidentify import Pseudonymizer, age_on, safe_age, safe_birth_year
from tests.factories import ClientFactory, make_screening

NOW = timezone.now()


@pytest.mark.parametrize(
    ("dob", "on", "age"),
    [
        (dt.date(1980, 6, 15), dt.date(2026, 6, 14), 45),
        (dt.date(1980, 6, 15), dt.date(2026, 6, 15), 46),
        (dt.date(2000, 2, 29), dt.date(2026, 2, 28), 25),
    ],
    ids=["day-before-birthday", "on-birthday", "leap-day"],
)
def test_age_on_counts_completed_years(dob, on, age):
    assert age_on(dob, on) == age


@pytest.mark.parametrize(
    ("age", "shown", "birth_year"),
    [(89, 89, 1937), (90, "90+", None), (104, "90+", None)],
    ids=["89-shown", "90-capped", "104-capped"],
)
def test_safe_age_caps_at_90_and_withholds_birth_year(age, shown, birth_year):
    assert safe_age(age) == shown
    assert safe_birth_year(dt.date(1937, 1, 1), age) == birth_year


def test_pseudonymizer_same_within_one_export_different_across():
    one, other = Pseudonymizer(), Pseudonymizer()

    assert one("person", 7) == one("person", 7)
    assert one("person", 7) != one("person", 8)
    assert one("person", 7) != other("person", 7)


def _export(client, fmt: str) -> bytes:
    response = client.post(
        reverse("export"),
        {"since": "2026-01-01", "until": timezone.localdate().isoformat(), "format": fmt, "deidentified": "yes"},
    )
    return b"".join(response.streaming_content)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "fhir"])
def test_deidentified_export_holds_no_direct_identifier(auditor_client, fmt):
    person = ClientFactory(
        given_name="Zebediah",
        family_name="Quixotefield",
        record_number="MRN-998877",
        date_of_birth=dt.date(1931, 3, 14),
    )
    s = make_screening(client=person, created_at=NOW - dt.timedelta(days=3), final_level="inpatient")

    body = _export(auditor_client, fmt).decode("utf-8-sig")

    for secret in (
        "Zebediah",
        "Quixotefield",
        "MRN-998877",
        "1931",
        str(person.public_id),
        str(s.public_id),
        s.clinician.username,
        "Synthetic test override",
        s.created_at.date().isoformat(),
    ):
        assert secret not in body, secret
    # No date finer than a year: no YYYY-MM anywhere in the rows (the export's own timestamp aside).
    rows_part = body.split('"entry"', 1)[-1] if fmt == "fhir" else body.split("\n", 1 if fmt == "jsonl" else 2)[-1]
    assert not re.search(r"\b(19|20)\d\d-\d\d", rows_part)
    assert "90+" in body


@pytest.mark.django_db
def test_deidentified_pseudonym_links_rows_of_one_person_within_export(auditor_client):
    person, other = ClientFactory(), ClientFactory()
    make_screening(client=person, created_at=NOW - dt.timedelta(days=1))
    make_screening(client=person, created_at=NOW - dt.timedelta(days=2))
    make_screening(client=other, created_at=NOW - dt.timedelta(days=2))

    first = [json.loads(line) for line in _export(auditor_client, "jsonl").splitlines()[1:]]
    second = [json.loads(line) for line in _export(auditor_client, "jsonl").splitlines()[1:]]

    assert sorted(len({r["screening_ref"] for r in rows}) for rows in (first, second)) == [3, 3]
    people = [r["person"] for r in first]
    assert sorted(people.count(p) for p in set(people)) == [1, 2]
    assert not set(people) & {r["person"] for r in second}  # not linkable across exports
    assert all(set(r) == {"record_type", *exports.columns(True)} for r in first)
    assert all(isinstance(r["created_year"], int) for r in first)


@pytest.mark.parametrize("record_number", ["P-10234", "SYN-0000001", "T-000001"])
def test_pseudonyms_cannot_be_mistaken_for_record_numbers(record_number):
    # An auditor read "P-3f2a…" as a program record number ("P-10234"). Record numbers are stored upper
    # case (ClientForm); pseudonyms are lower case and say what they stand for.
    p = Pseudonymizer(b"k" * 32)

    person, screening = p("person", 7), p("screening", 7)

    assert person.startswith("person-") and screening.startswith("screening-")
    for pseudonym in (person, screening):
        assert pseudonym != pseudonym.upper()
        assert not pseudonym.upper().startswith(record_number.split("-")[0] + "-")
