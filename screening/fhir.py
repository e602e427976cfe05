"""FHIR R4 shapes of the screening: the Questionnaire, and one QuestionnaireResponse per exported row.

Built as plain dicts (JSON-ready) so the export can stream them; the tests validate them with
the `fhir.resources` R4B models. Item linkIds are the export's column names (docs/exports.md),
which are the DESIGN.md §2 names for the answers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson

from . import answers, rules
from .answers import Kind
from .models import Screening

BASE = "https://iop-screening.example.org/fhir"
QUESTIONNAIRE_ID = "iop-screening"
QUESTIONNAIRE_URL = f"{BASE}/Questionnaire/{QUESTIONNAIRE_ID}"
QUESTIONNAIRE_VERSION = "2026.11"
QUESTIONNAIRE_CANONICAL = f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}"
NOTICE_EXTENSION = f"{BASE}/StructureDefinition/redisclosure-notice"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
# Security labels: 42 CFR Part 2 policy, no redisclosure without consent, restricted confidentiality.
SECURITY = [
    {"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {"system": ACT_CODE, "code": "NORDSCLCD", "display": "no redisclosure without consent directive"},
    {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"},
]


def _codes(values) -> list[str]:
    return [str(v) for v in values]


def _q(link_id: str, text: str, type_: str, options: list[str] | None = None, repeats: bool = False) -> dict:
    item: dict[str, Any] = {"linkId": link_id, "text": text, "type": type_}
    if repeats:
        item["repeats"] = True
    if options is not None:
        item["answerOption"] = [{"valueCoding": {"system": code_system(link_id), "code": c}} for c in options]
    return item


def code_system(link_id: str) -> str:
    return f"{BASE}/CodeSystem/{link_id}"


def _input_item(inp: answers.Input, link_id: str) -> dict:
    if inp.kind is Kind.YES_NO:
        return _q(link_id, inp.label, "boolean")
    if inp.kind in (Kind.CHOICE, Kind.MULTI):
        return _q(link_id, inp.label, "choice", [code for code, _ in inp.choices], repeats=inp.kind is Kind.MULTI)
    return _q(link_id, inp.label, "integer")


def _answer_item(answer: answers.Answer) -> dict:
    if answer.name in answers.OBJECT_ANSWERS:
        children = [_input_item(i, f"{answer.name}.{i.key}") for i in answer.inputs]
        return {"linkId": f"section.{answer.name}", "text": answer.label, "type": "group", "item": children}
    if answer.column in answers.INPUTS or answer.name in answers.MULTI_ANSWERS:
        inp = answers.INPUTS.get(answer.column) or answer.inputs[0]
        return {**_input_item(inp, answer.name), "text": answer.label}
    return _coded(_q(answer.name, answer.label, "integer"), answer.loinc)


LOINC = "http://loinc.org"


def _coded(item: dict, loinc: str) -> dict:
    """The item with its LOINC code, where it has one (no display: ours is not LOINC's name, the text says it)."""
    return {**item, "code": [{"system": LOINC, "code": loinc}]} if loinc else item


def _level_options() -> list[str]:
    return _codes(rules.Level)


# Groups after the §2 sections: (linkId, text, items).
_PERSON = (
    "person",
    "Person",
    [
        _q("date_of_birth", "Date of birth (identified exports only)", "date"),
        _q("birth_year", "Year of birth (de-identified exports; withheld from age 90)", "integer"),
        _q(
            "age_at_screening", 'Age at screening in completed years ("90+" from 90 in de-identified exports)', "string"
        ),
    ],
)
_RECOMMENDATION = (
    "recommendation",
    "Recommendation (rules output)",
    [
        _q("rules_version", "Rule set version", "string"),
        _q("recommended_level", "Recommended level of care", "choice", _level_options()),
        *[_q(f"band_{k}", f"Band: {k}", "string") for k in answers.BAND_KEYS],
        _q("flags", "Flags", "choice", _codes(rules.Flag), repeats=True),
        _q("pathway", "Pathway (ordered steps of care)", "choice", _codes(rules.Step), repeats=True),
        _q("reasons", "Reason codes, in rule-table order", "string", repeats=True),
    ],
)
_DECISION = (
    "decision",
    "Decision and signature",
    [
        _q("status", "Status", "choice", _codes(Screening.Status.values)),
        _q("decision", "Decision", "choice", _codes(Screening.Decision.values)),
        _q("final_level", "Final level of care", "choice", _level_options()),
        _q("override_reason", "Override reason", "choice", _codes(Screening.OverrideReason.values)),
        _q("override_text", "Override explanation (identified exports only)", "text"),
        _q("clinician", "Clinician (identified exports only)", "string"),
        _q("decided_by", "Decided by (identified exports only)", "string"),
        _q("signed_by", "Signed by (identified exports only)", "string"),
        _q("created_at", "Started (identified exports only)", "dateTime"),
        _q("completed_at", "Completed (identified exports only)", "dateTime"),
        _q("decided_at", "Decided (identified exports only)", "dateTime"),
        _q("signed_at", "Signed (identified exports only)", "dateTime"),
        _q("created_year", "Year started (de-identified exports)", "integer"),
        _q("signed_year", "Year signed (de-identified exports)", "integer"),
    ],
)


def _groups() -> list[dict]:
    # Group linkIds carry a "section." prefix: linkIds are unique, and "readiness" is both a section and an answer.
    groups = [{"linkId": "section.person", "text": _PERSON[1], "type": "group", "item": _PERSON[2]}]
    for section in answers.SECTIONS:
        groups.append(
            {
                "linkId": f"section.{section.key}",
                "text": section.title,
                "type": "group",
                "item": [_answer_item(a) for a in section.answers],
            }
        )
    groups.append(
        {
            "linkId": "section.instrument_items",
            "text": "Item-level answers",
            "type": "group",
            "item": [
                _coded(
                    {
                        "linkId": f"section.{answers.ANSWERS[name].instrument}_items",
                        "text": f"{answers.ANSWERS[name].short} items",
                        "type": "group",
                        "item": [_coded(_q(i.name, i.label, "integer"), i.loinc) for i in items],
                    },
                    answers.ANSWERS[name].loinc_panel,
                )
                for name, items in answers.INSTRUMENTS.items()
            ],
        }
    )
    for key, title, items in (_RECOMMENDATION, _DECISION):
        groups.append({"linkId": f"section.{key}", "text": title, "type": "group", "item": items})
    return groups


GROUPS = _groups()


def questionnaire() -> dict:
    """The Questionnaire resource every exported QuestionnaireResponse refers to."""
    return {
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_ID,
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "IOPScreening",
        "title": "IOP Screening: level-of-care screening for substance use treatment",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "Structured screening (DESIGN.md §2) scored with PHQ-9, GAD-7, CIWA-Ar, COWS, PAWSS, "
        "DSM-5 SUD criteria and the C-SSRS screener; recommends IOP, residential or inpatient care.",
        "item": GROUPS,
    }


def _answers(item: dict, value: Any) -> list[dict] | None:
    if value is None or value == [] or value == "":
        return None
    values = value if isinstance(value, list) else [value]
    t = item["type"]
    if t == "boolean":
        return [{"valueBoolean": v} for v in values]
    if t == "integer":
        return [{"valueInteger": v} for v in values]
    if t == "choice":
        return [{"valueCoding": {"system": code_system(item["linkId"]), "code": str(v)}} for v in values]
    if t == "date":
        return [{"valueDate": v} for v in values]
    if t == "dateTime":
        return [{"valueDateTime": v} for v in values]
    return [{"valueString": str(v)} for v in values]


def _response_items(items: list[dict], row: dict) -> list[dict]:
    out = []
    for item in items:
        if item["type"] == "group":
            children = _response_items(item["item"], row)
            if children:  # item text is optional in a response: the Questionnaire holds it
                out.append({"linkId": item["linkId"], "item": children})
            continue
        answers = _answers(item, row.get(item["linkId"]))
        if answers:
            out.append({"linkId": item["linkId"], "answer": answers})
    return out


def questionnaire_response(row: dict, *, deidentified: bool, export_id: uuid.UUID) -> dict:
    """One exported row (a `columns()` mapping) as a QuestionnaireResponse."""
    resource: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "meta": {"security": SECURITY}}
    if deidentified:
        scope = f"urn:uuid:{export_id}"  # pseudonyms mean something within this one export only
        resource["identifier"] = {"system": scope, "value": row["screening_ref"]}
        subject = {"identifier": {"system": scope, "value": row["person"]}}
        authored = str(row["signed_year"] or row["created_year"])
    else:
        resource["identifier"] = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{row['screening_id']}"}
        subject = {
            "identifier": {"system": f"{BASE}/record-number", "value": row["record_number"]},
            "display": f"{row['given_name']} {row['family_name']}",
        }
        authored = row["signed_at"] or row["completed_at"] or row["created_at"]
    resource.update(
        {
            "questionnaire": QUESTIONNAIRE_CANONICAL,
            "status": "completed",
            "subject": subject,
            "authored": authored,
        }
    )
    if not deidentified and row.get("clinician"):
        resource["author"] = {"display": row["clinician"]}
    resource["item"] = _response_items(GROUPS, row)
    return resource


# Observations beside each QuestionnaireResponse: one per instrument total, its band as interpretation, and
# one for the six-domain ratings. LOINC where a total has a verified code, else the program's own system.
TOTAL_SYSTEM = f"{BASE}/CodeSystem/instrument-total"
BAND_SYSTEM = f"{BASE}/CodeSystem/band"
DOMAIN_SYSTEM = f"{BASE}/CodeSystem/risk-domain"
RATING_SYSTEM = f"{BASE}/CodeSystem/risk-rating"
_SURVEY = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "survey",
                "display": "Survey",
            }
        ]
    }
]
# (export column of the total, its band column, the answer it comes from), in the order of the rules' bands.
_TOTALS = tuple(
    (
        "dsm5_count" if a.name == "dsm5_criteria" else a.name,
        f"band_{key}",
        a,
    )
    for key, a in answers.BANDED.items()
    if a.name not in answers.OBJECT_ANSWERS
)


def _observation(qr_url: str, code: dict, subject: dict, effective: str, status: str, **value) -> dict:
    return {
        "resourceType": "Observation",
        "meta": {"security": SECURITY},
        "status": status,
        "category": _SURVEY,
        "code": code,
        "subject": subject,
        "effectiveDateTime": effective,
        "derivedFrom": [{"reference": qr_url}],
        **value,
    }


def observations(row: dict, qr: dict, qr_url: str) -> list[dict]:
    """The instrument totals with their bands, and the six-domain ratings, of one exported row.

    Effective when the answers were scored (completed; de-identified, the year started, as the row says);
    final once signed, preliminary while the screening may still be reopened.
    """
    effective = str(row["created_year"]) if "created_year" in row else row["completed_at"]
    status = "final" if row["status"] == "signed" else "preliminary"
    out = []
    for column, band_column, a in _TOTALS:
        total = len(row[a.name]) if a.name in answers.MULTI_ANSWERS else row.get(a.name)
        if total is None:
            continue
        code = {"system": LOINC, "code": a.loinc} if a.loinc else {"system": TOTAL_SYSTEM, "code": column}
        band = row.get(band_column)
        interpretation = {"interpretation": [{"coding": [{"system": BAND_SYSTEM, "code": band}], "text": band}]}
        out.append(
            _observation(
                qr_url,
                {"coding": [code], "text": f"{a.short} total"},
                qr["subject"],
                effective,
                status,
                valueInteger=total,
                **(interpretation if band else {}),
            )
        )
    ratings = [(d, row.get(f"domain_{d.value}")) for d in rules.Domain]
    if any(r is not None for _, r in ratings):
        components = [
            {
                "code": {"coding": [{"system": DOMAIN_SYSTEM, "code": d.value}], "text": d.value.replace("_", " ")},
                "valueInteger": r,
                "interpretation": [
                    {
                        "coding": [{"system": RATING_SYSTEM, "code": rules.RATING_LABELS[r]}],
                        "text": rules.RATING_LABELS[r],
                    }
                ],
            }
            for d, r in ratings
            if r is not None
        ]
        code = {"coding": [{"system": DOMAIN_SYSTEM, "code": "summary"}], "text": "Six-domain risk summary"}
        out.append(_observation(qr_url, code, qr["subject"], effective, status, component=components))
    return out


def bundle_entries(row: dict, *, deidentified: bool, export_id: uuid.UUID) -> list[dict]:
    """The QuestionnaireResponse of one exported row, then its Observations, each a Bundle entry."""
    qr_url = f"urn:uuid:{uuid.uuid4()}"
    qr = questionnaire_response(row, deidentified=deidentified, export_id=export_id)
    entries = [{"fullUrl": qr_url, "resource": qr}]
    entries += [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": o} for o in observations(row, qr, qr_url)]
    return entries


def bundle_head(*, export_id: uuid.UUID, notice: str, timestamp: dt.datetime) -> bytes:
    """The Bundle's opening, up to (not including) its entries: the writer streams those after it."""
    head = {
        "resourceType": "Bundle",
        "id": str(export_id),
        "meta": {"security": SECURITY, "extension": [{"url": NOTICE_EXTENSION, "valueString": notice}]},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{export_id}"},
        "type": "collection",
        "timestamp": timestamp.isoformat(),
    }
    return orjson.dumps(head)[:-1]  # drop the closing brace


ENTRIES_OPEN = b',"entry":['
BUNDLE_TAIL_WITH_ENTRIES = b"]}\n"
BUNDLE_TAIL_EMPTY = b"}\n"
