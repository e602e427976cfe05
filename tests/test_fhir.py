import datetime as dt
import json
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from screening import exports, fhir
from screening.models import Screening
from tests.factories import ClientFactory, make_screening

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def _linkids(items, types=None) -> dict[str, str]:
    types = {} if types is None else types
    for item in items:
        types[item["linkId"]] = item["type"]
        _linkids(item.get("item", []), types)
    return types


def _export_fhir(client, deidentified: str, since: str = "2026-01-01") -> dict:
    response = client.post(
        reverse("export"),
        {
            "since": since,
            "until": timezone.localdate().isoformat(),
            "format": "fhir",
            "deidentified": deidentified,
        },
    )
    assert response["Content-Type"].startswith("application/fhir+json")
    return json.loads(b"".join(response.streaming_content))


def test_fhir_questionnaire_download_validates_r4b(auditor_client):
    response = auditor_client.get(reverse("fhir_questionnaire"))

    resource = Questionnaire.model_validate(json.loads(response.content))
    assert resource.url == fhir.QUESTIONNAIRE_URL
    assert "attachment;" in response["Content-Disposition"]


def test_fhir_questionnaire_other_roles_forbidden(clinician_client):
    assert clinician_client.get(reverse("fhir_questionnaire")).status_code == 403


@pytest.mark.parametrize("deidentified", ["no", "yes"], ids=["identified", "deidentified"])
def test_fhir_export_bundle_validates_and_refers_to_questionnaire(auditor_client, deidentified):
    make_screening(created_at=NOW - dt.timedelta(days=1), substances=["alcohol", "sedatives"], daily_sedative_use=True)
    make_screening(created_at=NOW - dt.timedelta(days=2), final_level="inpatient")

    data = _export_fhir(auditor_client, deidentified)

    bundle = Bundle.model_validate(data)
    assert bundle.type == "collection"
    responses = [e for e in data["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    assert len(responses) == 2
    assert [c.code for c in bundle.meta.security][:2] == ["42CFRPart2", "NORDSCLCD"]
    assert bundle.meta.extension[0].valueString == exports.REDISCLOSURE_NOTICE
    types = _linkids(fhir.questionnaire()["item"])
    for entry in data["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            Observation.model_validate(entry["resource"])
            continue
        qr = QuestionnaireResponse.model_validate(entry["resource"])
        assert qr.questionnaire == fhir.QUESTIONNAIRE_CANONICAL
        answered = _linkids_answers(entry["resource"]["item"])
        assert answered, "no answers"
        for link_id, value_keys in answered.items():
            assert link_id in types, link_id
            expected = {
                "boolean": "valueBoolean",
                "integer": "valueInteger",
                "choice": "valueCoding",
                "string": "valueString",
                "text": "valueString",
                "date": "valueDate",
                "dateTime": "valueDateTime",
            }[types[link_id]]
            assert value_keys == {expected}, link_id


def _linkids_answers(items, out=None) -> dict[str, set[str]]:
    out = {} if out is None else out
    for item in items:
        if "answer" in item:
            out[item["linkId"]] = {k for a in item["answer"] for k in a}
        _linkids_answers(item.get("item", []), out)
    return out


def test_fhir_export_answers_match_the_screening(auditor_client):
    s = make_screening(
        created_at=NOW - dt.timedelta(days=1), substances=["alcohol", "sedatives"], daily_sedative_use=True
    )

    resource = _export_fhir(auditor_client, "no")["entry"][0]["resource"]

    answers = {}

    def walk(items):
        for item in items:
            if "answer" in item:
                answers[item["linkId"]] = item["answer"]
            walk(item.get("item", []))

    walk(resource["item"])
    assert [a["valueCoding"]["code"] for a in answers["substances"]] == ["alcohol", "sedatives"]
    assert answers["daily_sedative_use"] == [{"valueBoolean": True}]
    assert answers["recommended_level"][0]["valueCoding"]["code"] == s.recommended_level
    assert resource["subject"]["identifier"]["value"] == s.client.record_number
    assert resource["identifier"]["value"] == f"urn:uuid:{s.public_id}"


def test_fhir_export_with_no_rows_is_a_valid_empty_bundle(auditor_client):
    data = _export_fhir(auditor_client, "yes")

    assert "entry" not in data
    Bundle.model_validate(data)


def _items_by_link(items: list[dict]) -> dict:
    found = {}
    for item in items:
        found[item["linkId"]] = item
        found.update(_items_by_link(item.get("item", [])))
    return found


def test_questionnaire_codes_phq9_and_gad7_items_totals_and_panels_with_loinc():
    resource = fhir.questionnaire()
    Questionnaire.model_validate(resource)  # still a valid R4 Questionnaire
    items = _items_by_link(resource["item"])

    def loinc(link_id):
        (coding,) = items[link_id]["code"]
        assert coding["system"] == "http://loinc.org"
        return coding["code"]

    # PHQ-9 (panel 44249-1) and GAD-7 (panel 69737-5), items in order, from LOINC's published panels.
    assert [loinc(f"phq9_{n}") for n in range(1, 10)] == [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8",
    ]  # fmt: skip
    assert [loinc(f"gad7_{n}") for n in range(1, 8)] == [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ]  # fmt: skip
    assert (loinc("phq9_total"), loinc("gad7_total")) == ("44261-6", "70274-6")
    assert (loinc("section.phq9_items"), loinc("section.gad7_items")) == ("44249-1", "69737-5")
    assert "code" not in items["ciwa_nausea"]  # no LOINC code verified for CIWA-Ar items: none given


def test_fhir_export_adds_observations_of_totals_bands_and_domains_linked_to_the_response(auditor_client):
    s = make_screening(created_at=NOW - dt.timedelta(days=1), pregnant=True)

    entries = _export_fhir(auditor_client, "yes")["entry"]

    (qr,) = [e for e in entries if e["resource"]["resourceType"] == "QuestionnaireResponse"]
    observations = [Observation.model_validate(e["resource"]) for e in entries if e is not qr]
    assert observations and all(o.derivedFrom[0].reference == qr["fullUrl"] for o in observations)
    by_code = {o.code.coding[0].code: o for o in observations}
    rec = s.recommendation["bands"]
    assert by_code["44261-6"].valueInteger == s.phq9_total  # PHQ-9 total, LOINC
    assert by_code["44261-6"].interpretation[0].coding[0].code == rec["phq9"]
    assert by_code["70274-6"].valueInteger == s.gad7_total  # GAD-7 total, LOINC
    assert by_code["dsm5_count"].valueInteger == len(s.answers_snapshot["dsm5_criteria"])
    assert "cows" not in by_code  # no total, no Observation
    ratings = {c.code.coding[0].code: c.valueInteger for c in by_code["summary"].component}
    assert ratings == {k: v["rating"] for k, v in s.domains.items()}
    assert all(o.subject.identifier.value == qr["resource"]["subject"]["identifier"]["value"] for o in observations)


@pytest.mark.parametrize(("deidentified", "status"), [("no", "signed"), ("yes", "signed"), ("no", "completed")])
def test_observations_are_dated_when_scored_and_final_only_once_signed(auditor_client, deidentified, status):
    created = dt.datetime(2025, 12, 31, 23, 0, tzinfo=dt.UTC)  # signed 45 minutes later, in 2026 UTC
    s = make_screening(created_at=created, status=status, final_level="iop" if status == "completed" else None)

    data = _export_fhir(auditor_client, deidentified, since="2025-12-01")

    observations = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observations
    expected_status = "final" if status == "signed" else "preliminary"
    for o in observations:
        assert o["status"] == expected_status
        if deidentified == "yes":
            assert o["effectiveDateTime"] == str(timezone.localtime(created).year)  # the row's created_year
        else:
            assert dt.datetime.fromisoformat(o["effectiveDateTime"]) == s.completed_at


def _empty_values(value, path="$") -> list[str]:
    """Where the JSON has an empty array, object or string (FHIR's JSON allows none of them)."""
    if value in ([], {}, ""):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _empty_values(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _empty_values(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("deidentified", ["no", "yes"], ids=["identified", "deidentified"])
def test_fhir_export_has_no_empty_arrays_objects_or_strings(auditor_client, deidentified):
    # No alcohol, opioids or item answers: whole groups of the Questionnaire have no answer and are left out.
    no_ciwa = {"substances": ["cannabis"], "ciwa_ar": None, "pawss": None}
    make_screening(created_at=NOW - dt.timedelta(days=1), status="completed", **no_ciwa)
    make_screening(created_at=NOW - dt.timedelta(days=2), substances=["alcohol", "opioids"], cows=8)

    data = _export_fhir(auditor_client, deidentified)

    assert len(data["entry"]) > 2
    assert _empty_values(data) == []


def test_fhir_export_text_with_quotes_controls_and_unicode_round_trips(auditor_client):
    client = ClientFactory(given_name='Ann "Q"', family_name="O'Brien\\", record_number='R-"1"\t')
    s = make_screening(created_at=NOW - dt.timedelta(days=1), client=client, final_level="inpatient")
    note = 'line one\nline "two"\r\t\\ \u2028 \u00e9 \U0001f600 </script> \x01'
    Screening.objects.filter(pk=s.pk).update(override_text=note)

    data = _export_fhir(auditor_client, "no")

    Bundle.model_validate(data)
    qr = data["entry"][0]["resource"]
    assert qr["subject"] == {
        "identifier": {"system": f"{fhir.BASE}/record-number", "value": 'R-"1"\t'},
        "display": 'Ann "Q" O\'Brien\\',
    }
    assert _linkids_answers_values(qr["item"])["override_text"] == [{"valueString": note}]


def _linkids_answers_values(items, out=None) -> dict[str, list]:
    out = {} if out is None else out
    for item in items:
        if "answer" in item:
            out[item["linkId"]] = item["answer"]
        _linkids_answers_values(item.get("item", []), out)
    return out


def test_fhir_entry_uuids_are_distinct_random_version_4():
    texts = fhir._uuids(2000)

    parsed = [uuid.UUID(t) for t in texts]
    assert len(set(texts)) == 2000
    assert all(
        u.version == 4 and u.variant == uuid.RFC_4122 and str(u) == t for u, t in zip(parsed, texts, strict=True)
    )


def test_fhir_answer_texts_are_right_and_their_tables_stay_small_for_many_distinct_values():
    encode = fhir._leaf({"linkId": "clinician", "type": "string"})

    texts = [encode(f'name "{i}"') for i in range(3 * fhir._KEPT)]

    assert [json.loads(t.removeprefix(",")) for t in texts] == [
        {"linkId": "clinician", "answer": [{"valueString": f'name "{i}"'}]} for i in range(3 * fhir._KEPT)
    ]
    assert len(encode.__self__) <= fhir._KEPT
    assert encode(None) == encode("") == ""
