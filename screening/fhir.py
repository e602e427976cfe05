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
STAFF_TEXT = {"clinician": "Clinician", "decided_by": "Decided by", "signed_by": "Signed by"}
TIMES_TEXT = {"created_at": "Started", "completed_at": "Completed", "decided_at": "Decided", "signed_at": "Signed"}
# Security labels: 42 CFR Part 2 policy, no redisclosure without consent, restricted confidentiality.
SECURITY = [
    {"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {"system": ACT_CODE, "code": "NORDSCLCD", "display": "no redisclosure without consent directive"},
    {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"},
]


LOINC = "http://loinc.org"


def code_system(link_id: str) -> str:
    return f"{BASE}/CodeSystem/{link_id}"


def _q(link_id: str, text: str, type_: str, options=None, repeats: bool = False, loinc: str = "") -> dict:
    """A Questionnaire item; `options` are codes (any iterable); a LOINC code without display (ours is not
    LOINC's name: the text says it)."""
    item: dict[str, Any] = {"linkId": link_id, "text": text, "type": type_}
    if repeats:
        item["repeats"] = True
    if options is not None:
        item["answerOption"] = [{"valueCoding": {"system": code_system(link_id), "code": str(c)}} for c in options]
    if loinc:
        item["code"] = [{"system": LOINC, "code": loinc}]
    return item


def _group(key: str, text: str, items: list[dict], loinc: str = "") -> dict:
    # Group linkIds carry a "section." prefix: linkIds are unique, and "readiness" is both a section and an answer.
    return {**_q(f"section.{key}", text, "group", loinc=loinc), "item": items}


def _input_item(inp: answers.Input, link_id: str, text: str = "") -> dict:
    text = text or inp.label
    if inp.kind is Kind.YES_NO:
        return _q(link_id, text, "boolean")
    if inp.kind in (Kind.CHOICE, Kind.MULTI):
        return _q(link_id, text, "choice", [code for code, _ in inp.choices], repeats=inp.kind is Kind.MULTI)
    return _q(link_id, text, "integer")


def _answer_item(answer: answers.Answer) -> dict:
    if answer.name in answers.OBJECT_ANSWERS:
        return _group(answer.name, answer.label, [_input_item(i, f"{answer.name}.{i.key}") for i in answer.inputs])
    if answer.column in answers.INPUTS or answer.name in answers.MULTI_ANSWERS:
        return _input_item(answers.INPUTS.get(answer.column) or answer.inputs[0], answer.name, answer.label)
    return _q(answer.name, answer.label, "integer", loinc=answer.loinc)


_ID, _DE = "identified exports only", "de-identified exports"
GROUPS = [
    _group(
        "person",
        "Person",
        [
            _q("date_of_birth", f"Date of birth ({_ID})", "date"),
            _q("birth_year", f"Year of birth ({_DE}; withheld from age 90)", "integer"),
            _q("age_at_screening", f'Age at screening in completed years ("90+" from 90 in {_DE})', "string"),
        ],
    ),
    *(_group(s.key, s.title, [_answer_item(a) for a in s.answers]) for s in answers.SECTIONS),
    _group(
        "instrument_items",
        "Item-level answers",
        [
            _group(
                f"{answers.ANSWERS[name].instrument}_items",
                f"{answers.ANSWERS[name].short} items",
                [_q(i.name, i.label, "integer", loinc=i.loinc) for i in items],
                loinc=answers.ANSWERS[name].loinc_panel,
            )
            for name, items in answers.INSTRUMENTS.items()
        ],
    ),
    _group(
        "recommendation",
        "Recommendation (rules output)",
        [
            _q("rules_version", "Rule set version", "string"),
            _q("recommended_level", "Recommended level of care", "choice", rules.Level),
            *(_q(f"band_{k}", f"Band: {k}", "string") for k in answers.BAND_KEYS),
            _q("flags", "Flags", "choice", rules.Flag, repeats=True),
            _q("pathway", "Pathway (ordered steps of care)", "choice", rules.Step, repeats=True),
            _q("reasons", "Reason codes, in rule-table order", "string", repeats=True),
        ],
    ),
    _group(
        "decision",
        "Decision and signature",
        [
            _q("status", "Status", "choice", Screening.Status.values),
            _q("decision", "Decision", "choice", Screening.Decision.values),
            _q("final_level", "Final level of care", "choice", rules.Level),
            _q("override_reason", "Override reason", "choice", Screening.OverrideReason.values),
            _q("override_text", f"Override explanation ({_ID})", "text"),
            *(_q(n, f"{text} ({_ID})", "string") for n, text in STAFF_TEXT.items()),
            *(_q(n, f"{text} ({_ID})", "dateTime") for n, text in TIMES_TEXT.items()),
            _q("created_year", f"Year started ({_DE})", "integer"),
            _q("signed_year", f"Year signed ({_DE})", "integer"),
        ],
    ),
]


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


def _group(item: dict, at: dict[str, int]) -> Callable[[list], str | None] | None:
    """The encoder of a group of the Questionnaire over the columns `at`; None if none of its items is exported.

    A group's answered items, in order: each item's answers as JSON (an unanswered item is left out; item text
    is optional in a response, the Questionnaire holds it). Its own items are read in one loop (this runs
    about a hundred times per screening), its sub-groups by their encoders."""
    parts: list = []
    for child in item["item"]:
        if child["type"] == "group":
            if (encode_group := _group(child, at)) is not None:
                parts.append(encode_group)
        elif child["linkId"] in at:
            parts.append((at[child["linkId"]], f'{{"linkId":{_json(child["linkId"])},"answer":[', _one(child)))
    head = f'{{"linkId":{_json(item["linkId"])},"item":['

    def encode(row: list) -> str | None:
        out = []
        for part in parts:
            if type(part) is tuple:
                i, leaf, one = part
                value = row[i]
                if value is None or value == "" or value == []:
                    continue
                out.append(leaf + (",".join(map(one, value)) if type(value) is list else one(value)) + "]}")
            elif (text := part(row)) is not None:
                out.append(text)
        return head + ",".join(out) + "]}" if out else None

    return encode if parts else None


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


# Every (domain, rating) component, made once: a screening's summary picks six of them.
_RATINGS = {(d, r): _rating(d, r) for d in rules.Domain for r in range(len(rules.RATING_LABELS))}


class BundleEntries:
    """Turns one exported row (the values of `columns`, in order) into its Bundle entries."""

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
        ratings = [_RATINGS[d, row[i]] for d, i in self.domains if row[i] is not None]
        if ratings:
            out.append(common | {"code": _SUMMARY_CODE} | tail | {"component": ratings})
        return out

    def __call__(self, row: list) -> list[dict]:
        """The row's entries: its QuestionnaireResponse (items already JSON, as an `orjson.Fragment`), then its
        Observations. The writer encodes them, several rows at once."""
        qr_url = f"urn:uuid:{uuid.uuid4()}"
        qr = self._response(row)
        items = self.items(row)
        if items:  # never empty in practice (the person's group), but FHIR allows no empty array
            qr["item"] = orjson.Fragment(f"[{items}]")
        entries = [{"fullUrl": qr_url, "resource": qr}]
        for o in self._observations(row, qr["subject"], qr_url):
            entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": o})
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
