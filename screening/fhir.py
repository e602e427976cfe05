"""FHIR R4 shapes of the screening: the Questionnaire, and one QuestionnaireResponse per exported row.

Built as plain dicts (JSON-ready) so the export can stream them; the tests validate them with
the `fhir.resources` R4B models. Item linkIds are the export's column names (docs/exports.md),
which are the DESIGN.md §2 names for the answers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
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


# --- The export: per row, a QuestionnaireResponse and its Observations, written straight as JSON text. The
# response's items are compiled once per column set into small encoders (a fixed linkId, a value's JSON),
# so a row costs one call per answered item, not a walk of the Questionnaire; the tests validate the result
# with fhir.resources.


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _one(item: dict) -> Callable[[Any], str]:
    """The JSON of one answer of an item, given its value: closed values looked up, not encoded each time."""
    if item["type"] == "boolean":
        return {True: '{"valueBoolean":true}', False: '{"valueBoolean":false}'}.__getitem__
    if item["type"] == "integer":
        return '{{"valueInteger":{}}}'.format
    if item["type"] == "choice":
        system = _json(code_system(item["linkId"]))
        coding = {
            o["valueCoding"][
                "code"
            ]: f'{{"valueCoding":{{"system":{system},"code":{_json(o["valueCoding"]["code"])}}}}}'
            for o in item["answerOption"]
        }
        return lambda v: coding[str(v)]
    key = {"date": "valueDate", "dateTime": "valueDateTime"}.get(item["type"], "valueString")
    return lambda v: f'{{"{key}":{_json(str(v))}}}'


def _leaf(item: dict, at: int) -> Callable[[list], str | None]:
    """The encoder of one item: its answers as JSON, or None when unanswered (the item is then left out)."""
    head, one = f'{{"linkId":{_json(item["linkId"])},"answer":[', _one(item)

    def encode(row: list) -> str | None:
        value = row[at]
        if value is None or value == "" or value == []:
            return None
        return head + (",".join(map(one, value)) if type(value) is list else one(value)) + "]}"

    return encode


def _group(item: dict, at: dict[str, int]) -> Callable[[list], str | None] | None:
    """The encoder of a group of the Questionnaire over the columns `at`; None if none of its items is exported.

    Item text is left out: it is optional in a response, and the Questionnaire holds it."""
    if item["type"] != "group":
        return _leaf(item, at[item["linkId"]]) if item["linkId"] in at else None
    children = [c for c in (_group(i, at) for i in item["item"]) if c is not None]
    head = f'{{"linkId":{_json(item["linkId"])},"item":['

    def encode(row: list) -> str | None:
        parts = [p for p in (c(row) for c in children) if p is not None]
        return head + ",".join(parts) + "]}" if parts else None

    return encode if children else None


# Observations beside each QuestionnaireResponse: one per instrument total, its band as interpretation, and
# one for the six-domain ratings. LOINC where a total has a verified code, else the program's own system.
TOTAL_SYSTEM = f"{BASE}/CodeSystem/instrument-total"
BAND_SYSTEM = f"{BASE}/CodeSystem/band"
DOMAIN_SYSTEM = f"{BASE}/CodeSystem/risk-domain"
RATING_SYSTEM = f"{BASE}/CodeSystem/risk-rating"
_SURVEY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}]
# (export column of the total, its band column, the answer it comes from), in the order of the rules' bands.
_TOTALS = tuple(
    ("dsm5_count" if a.name == "dsm5_criteria" else a.name, f"band_{key}", a)
    for key, a in answers.BANDED.items()
    if a.name not in answers.OBJECT_ANSWERS
)
_SUMMARY_CODE = {"coding": [{"system": DOMAIN_SYSTEM, "code": "summary"}], "text": "Six-domain risk summary"}


def _rating(domain: rules.Domain, rating: int) -> dict:
    label = rules.RATING_LABELS[rating]
    return {
        "code": {"coding": [{"system": DOMAIN_SYSTEM, "code": domain.value}], "text": domain.value.replace("_", " ")},
        "valueInteger": rating,
        "interpretation": [{"coding": [{"system": RATING_SYSTEM, "code": label}], "text": label}],
    }


class BundleEntries:
    """Encodes one exported row (the values of `columns`, in order) as its Bundle entries, comma-separated."""

    def __init__(self, columns: tuple[str, ...], *, deidentified: bool, export_id: uuid.UUID):
        self.at = at = {c: i for i, c in enumerate(columns)}
        self.deidentified, self.scope = deidentified, f"urn:uuid:{export_id}"
        groups = [g for g in (_group(item, at) for item in GROUPS) if g is not None]
        self.items = lambda row: ",".join(p for p in (g(row) for g in groups) if p is not None)
        self.totals = [
            (
                at[a.name],
                a.name in answers.MULTI_ANSWERS,
                at[band],
                {
                    "coding": [{"system": LOINC, "code": a.loinc} if a.loinc else {"system": TOTAL_SYSTEM, "code": c}],
                    "text": f"{a.short} total",
                },
            )
            for c, band, a in _TOTALS
        ]
        self.domains = [(d, at[f"domain_{d.value}"]) for d in rules.Domain]

    def _response(self, row: list) -> dict:
        at = self.at
        if self.deidentified:  # pseudonyms mean something within this one export only
            identifier = {"system": self.scope, "value": row[at["screening_ref"]]}
            subject = {"identifier": {"system": self.scope, "value": row[at["person"]]}}
            authored = str(row[at["signed_year"]] or row[at["created_year"]])
        else:
            identifier = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{row[at['screening_id']]}"}
            subject = {
                "identifier": {"system": f"{BASE}/record-number", "value": row[at["record_number"]]},
                "display": f"{row[at['given_name']]} {row[at['family_name']]}",
            }
            authored = row[at["signed_at"]] or row[at["completed_at"]] or row[at["created_at"]]
        resource = {"resourceType": "QuestionnaireResponse", "meta": {"security": SECURITY}}
        resource |= {"identifier": identifier, "questionnaire": QUESTIONNAIRE_CANONICAL, "status": "completed"}
        resource |= {"subject": subject, "authored": authored}
        if not self.deidentified and row[at["clinician"]]:
            resource["author"] = {"display": row[at["clinician"]]}
        return resource

    def _observations(self, row: list, subject: dict, qr_url: str) -> list[dict]:
        """The totals with their bands, and the six-domain ratings. Effective when the answers were scored
        (completed; de-identified, the year started, as the row says); final once signed, else preliminary."""
        at = self.at
        common = {
            "resourceType": "Observation",
            "meta": {"security": SECURITY},
            "status": "final" if row[at["status"]] == "signed" else "preliminary",
            "category": _SURVEY,
        }
        tail = {
            "subject": subject,
            "effectiveDateTime": str(row[at["created_year"]]) if self.deidentified else row[at["completed_at"]],
            "derivedFrom": [{"reference": qr_url}],
        }
        out = []
        for total_at, counted, band_at, code in self.totals:
            total = row[total_at]
            if counted:
                total = len(total)
            elif total is None:
                continue
            band = row[band_at]
            value = {"valueInteger": total}
            if band:
                value["interpretation"] = [{"coding": [{"system": BAND_SYSTEM, "code": band}], "text": band}]
            out.append(common | {"code": code} | tail | value)
        ratings = [_rating(d, row[i]) for d, i in self.domains if row[i] is not None]
        if ratings:
            out.append(common | {"code": _SUMMARY_CODE} | tail | {"component": ratings})
        return out

    def __call__(self, row: list) -> bytes:
        qr_url = f"urn:uuid:{uuid.uuid4()}"
        qr = self._response(row)
        items = self.items(row)  # never empty in practice (the person's group), but FHIR allows no empty array
        parts = [f'{{"fullUrl":"{qr_url}","resource":'.encode(), orjson.dumps(qr)[:-1]]
        parts += [b',"item":[', items.encode(), b"]}}"] if items else [b"}}"]
        for o in self._observations(row, qr["subject"], qr_url):
            parts += [f',{{"fullUrl":"urn:uuid:{uuid.uuid4()}","resource":'.encode(), orjson.dumps(o), b"}"]
        return b"".join(parts)


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
