"""FHIR R4 shapes of the screening: the Questionnaire, and one QuestionnaireResponse per exported row.

Built as plain dicts (JSON-ready) so the export can stream them; the tests validate them with
the `fhir.resources` R4B models. Item linkIds are the export's column names (docs/exports.md),
which are the DESIGN.md §2 names for the answers.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
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


# --- The export: a page of rows at a time, straight to JSON text. Everything that does not vary is made once
# as text (security labels, categories, codes, codings, each (domain, rating) component, each closed answer's
# whole item); a page is encoded a column at a time, each answered item's text looked up in its table, then
# each group joined row by row; orjson encodes only the values people or the database supply. The tests
# validate the output with fhir.resources.


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class _Texts(dict):
    """Value → its JSON text, "" for no value; `make` writes an entry on first use, and the first `_KEPT`
    values are kept.

    Its `__getitem__` is a C call for every value kept, which is what a page's column of closed values
    (booleans, codes, bands, small integers) mostly is; the tables stay small whatever the data."""

    def __init__(self, make: Callable[[Any], str]):
        super().__init__({None: "", "": ""})
        self.make = make

    def __missing__(self, value):
        text = self.make(value)
        if len(self) < _KEPT:
            self[value] = text
        return text


_KEPT = 1000
_OPEN = {"date": "valueDate", "dateTime": "valueDateTime", "text": "valueString"}  # values seldom repeated


def _answer(item: dict) -> Callable[[Any], str]:
    """The JSON text of one answer of an item, given a value (choices: any code, the Questionnaire's or not)."""
    if item["type"] == "choice":
        system = _json(code_system(item["linkId"]))
        return _Texts(lambda code: f'{{"valueCoding":{{"system":{system},"code":{_json(str(code))}}}}}').__getitem__
    if item["type"] == "boolean":
        return {True: '{"valueBoolean":true}', False: '{"valueBoolean":false}'}.__getitem__
    if item["type"] == "integer":
        return '{{"valueInteger":{:d}}}'.format
    return _Texts(lambda v: f'{{"valueString":{_json(str(v))}}}').__getitem__


def _leaf(item: dict) -> Callable[[Any], str]:
    """A question's encoder: a value (a list when it repeats) → its whole item as JSON text after a comma, ""
    if unanswered (the comma lets a group join its items with no filtering: `"".join(...)[1:]`)."""
    head = f',{{"linkId":{_json(item["linkId"])},"answer":['
    if key := _OPEN.get(item["type"]):
        return lambda v: f'{head}{{"{key}":{_json(str(v))}}}]}}' if v is not None and v != "" else ""
    answer = _answer(item)
    if item.get("repeats"):
        return lambda values: head + ",".join(map(answer, values)) + "]}" if values else ""
    return _Texts(lambda v: head + answer(v) + "]}").__getitem__


def _group_encoder(item: dict, at: dict[str, int]) -> Callable[[list], list[str]] | None:
    """The encoder of a group of the Questionnaire over the columns `at`; None if none of its items is exported.

    Given a page's columns (`cols[i]`: column i's values, row by row), the group's JSON text after a comma, for
    each row: its answered items in order (an unanswered item is left out; item text is optional in a
    response, the Questionnaire holds it), "" for a row that answered none of them."""
    children: list[Callable[[list], Any]] = []
    for child in item["item"]:
        if child["type"] == "group":
            if (sub := _group_encoder(child, at)) is not None:
                children.append(sub)
        elif child["linkId"] in at:
            children.append(functools.partial(_column, at[child["linkId"]], _leaf(child)))
    if not children:
        return None
    head = f',{{"linkId":{_json(item["linkId"])},"item":['

    def encode(cols: list) -> list[str]:
        texts = map("".join, zip(*(child(cols) for child in children), strict=True))
        return [f"{head}{text[1:]}]}}" if text else "" for text in texts]

    return encode


def _column(i: int, leaf: Callable[[Any], str], cols: list):
    return map(leaf, cols[i])


def _uuids(n: int) -> list[str]:
    """n random (version 4) UUIDs as text: the entries' fullUrls, from one read of the OS's random source."""
    hexes = os.urandom(16 * n).hex()
    return [
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
        for h in (hexes[k : k + 32] for k in range(0, 32 * n, 32))
    ]


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # RFC 9562: the variant's bits are 10

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
_SUMMARY_CODE = _json({"coding": [{"system": DOMAIN_SYSTEM, "code": "summary"}], "text": "Six-domain risk summary"})


def _rating(domain: rules.Domain, rating: int) -> dict:
    label = rules.RATING_LABELS[rating]
    return {
        "code": {"coding": [{"system": DOMAIN_SYSTEM, "code": domain.value}], "text": domain.value.replace("_", " ")},
        "valueInteger": rating,
        "interpretation": [{"coding": [{"system": RATING_SYSTEM, "code": label}], "text": label}],
    }


# Every (domain, rating) component, made once: a screening's summary picks six of them.
_RATINGS = {(d, r): _json(_rating(d, r)) for d in rules.Domain for r in range(len(rules.RATING_LABELS))}
# The bands' interpretations by band code, made on first use.
_BANDS = _Texts(
    lambda band: (
        f',"interpretation":[{{"coding":[{{"system":{_json(BAND_SYSTEM)},"code":{_json(band)}}}],"text":{_json(band)}}}]'
    )
)
_SECURITY = _json(SECURITY)
_RECORD_NUMBER = _json(f"{BASE}/record-number")
_CANONICAL = _json(QUESTIONNAIRE_CANONICAL)
_RESPONSE_HEAD = f'"resourceType":"QuestionnaireResponse","meta":{{"security":{_SECURITY}}},"identifier":'
# An Observation's text up to its code, by the row's status: final once signed, else preliminary.
_OBSERVATION_HEAD = {
    status: f'"resourceType":"Observation","meta":{{"security":{_SECURITY}}},"status":"{status}",'
    f'"category":{_json(_SURVEY)},"code":'
    for status in ("final", "preliminary")
}


class BundleEntries:
    """Turns a page of exported rows (each the values of `columns`, in order) into its Bundle entries."""

    def __init__(self, columns: tuple[str, ...], *, deidentified: bool, export_id: uuid.UUID):
        self.at = at = {c: i for i, c in enumerate(columns)}
        self.deidentified, self.scope = deidentified, _json(f"urn:uuid:{export_id}")
        self.groups = [g for g in (_group_encoder(item, at) for item in GROUPS) if g is not None]
        self.totals = [
            (
                at[a.name],
                a.name in answers.MULTI_ANSWERS,
                at[band],
                _json(
                    {
                        "coding": [
                            {"system": LOINC, "code": a.loinc} if a.loinc else {"system": TOTAL_SYSTEM, "code": c}
                        ],
                        "text": f"{a.short} total",
                    }
                ),
            )
            for c, band, a in _TOTALS
        ]
        self.domains = [(d, at[f"domain_{d.value}"]) for d in rules.Domain]

    def _response(self, row: list) -> tuple[str, str]:
        """The QuestionnaireResponse's text from its identifier to its author (the items follow), and its
        subject's text (the Observations repeat it)."""
        at, j = self.at, _json
        if self.deidentified:  # pseudonyms mean something within this one export only
            identifier = f'{{"system":{self.scope},"value":{j(row[at["screening_ref"]])}}}'
            subject = f'{{"identifier":{{"system":{self.scope},"value":{j(row[at["person"]])}}}}}'
            authored = j(str(row[at["signed_year"]] or row[at["created_year"]]))
            author = ""
        else:
            screening = j("urn:uuid:" + row[at["screening_id"]])
            name = j(f"{row[at['given_name']]} {row[at['family_name']]}")
            identifier = f'{{"system":"urn:ietf:rfc:3986","value":{screening}}}'
            subject = (
                f'{{"identifier":{{"system":{_RECORD_NUMBER},"value":{j(row[at["record_number"]])}}},"display":{name}}}'
            )
            authored = j(row[at["signed_at"]] or row[at["completed_at"]] or row[at["created_at"]])
            clinician = row[at["clinician"]]
            author = f',"author":{{"display":{j(clinician)}}}' if clinician else ""
        text = f'{identifier},"questionnaire":{_CANONICAL},"status":"completed","subject":{subject}'
        return f'{text},"authored":{authored}{author}', subject

    def _observations(self, row: list, subject: str, qr_url: str, urls) -> list[str]:
        """The totals with their bands, and the six-domain ratings. Effective when the answers were scored
        (completed; de-identified, the year started, as the row says); final once signed, else preliminary."""
        at = self.at
        head = _OBSERVATION_HEAD["final" if row[at["status"]] == "signed" else "preliminary"]
        effective = _json(str(row[at["created_year"]]) if self.deidentified else row[at["completed_at"]])
        tail = f',"subject":{subject},"effectiveDateTime":{effective},"derivedFrom":[{{"reference":"{qr_url}"}}]'
        out = []
        for total_at, counted, band_at, code in self.totals:
            total = row[total_at]
            if counted:
                total = len(total)
            elif total is None:
                continue
            value = f',"valueInteger":{total:d}{_BANDS[row[band_at]]}'
            out.append(f'{{"fullUrl":"urn:uuid:{next(urls)}","resource":{{{head}{code}{tail}{value}}}}}')
        ratings = ",".join(_RATINGS[d, row[i]] for d, i in self.domains if row[i] is not None)
        if ratings:
            summary = f'{_SUMMARY_CODE}{tail},"component":[{ratings}]'
            out.append(f'{{"fullUrl":"urn:uuid:{next(urls)}","resource":{{{head}{summary}}}}}')
        return out

    def page(self, rows: list[list], lead: str = "") -> str:
        """The page's entries as JSON text after `lead`, comma-separated: per row its QuestionnaireResponse,
        then its Observations (at most one per total and one for the domains)."""
        if not rows:
            return lead
        cols = list(zip(*rows, strict=True))
        items = map("".join, zip(*(g(cols) for g in self.groups), strict=True))
        urls = iter(_uuids(len(rows) * (2 + len(self.totals))))
        out = []
        for row, item in zip(rows, items, strict=True):
            qr_url = f"urn:uuid:{next(urls)}"
            response, subject = self._response(row)
            # FHIR allows no empty array: never empty in practice (the person's group), but left out if so.
            item = f',"item":[{item[1:]}]' if item else ""
            out.append(f'{{"fullUrl":"{qr_url}","resource":{{{_RESPONSE_HEAD}{response}{item}}}}}')
            out += self._observations(row, subject, qr_url, urls)
        out[0] = lead + out[0]
        return ",".join(out)


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


ENTRIES_OPEN = ',"entry":['
BUNDLE_TAIL_WITH_ENTRIES = b"]}\n"
BUNDLE_TAIL_EMPTY = b"}\n"
