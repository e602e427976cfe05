"""The exports' data dictionary (issue 10): one row per exported column, generated, never written by hand.

The answers, their items and choices come from the answer map (`screening/answers.py`); the codes
from the models' choices; the bands from the instruments; the rest (identity, dates, the summary of
the recommendation, staff) from the small table below. Which columns there are, and in which export,
is `exports.columns`: a column that appears there without a row here fails `tests/test_dictionary.py`.
The CSV follows the shape of a REDCap data dictionary where it fits.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass

from . import answers, exports, instruments, rules
from .answers import Kind
from .models import Level, Screening

FORMATS = ("csv", "json")


@dataclass(frozen=True)
class Entry:
    variable: str
    section: str
    label: str
    type: str  # integer, boolean, text, choice, list, date, datetime
    choices: tuple[tuple[str, str], ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    unit_or_band: str = ""
    exports: str = "both"  # both, identified only, de-identified only


# Columns that are not answers: what each means, and in which export it appears.
_ID, _DE = "identified only", "de-identified only"
_OTHER: dict[str, tuple[str, str, str, str]] = {
    # variable: (section, label, type, exports)
    "screening_id": ("identity", "The screening's public UUID", "text", _ID),
    "client_id": ("identity", "The client's public UUID", "text", _ID),
    "record_number": ("identity", "Program record number", "text", _ID),
    "given_name": ("identity", "The client's given name", "text", _ID),
    "family_name": ("identity", "The client's family name", "text", _ID),
    "date_of_birth": ("identity", "Date of birth (YYYY-MM-DD)", "date", _ID),
    "screening_ref": ("identity", "Per-export pseudonym of the screening (screening-…)", "text", _DE),
    "person": ("identity", "Per-export pseudonym of the client (person-…)", "text", _DE),
    "birth_year": ("identity", "Year of birth; empty from age 90", "integer", _DE),
    "age_at_screening": (
        "identity",
        'Completed years on the local day the screening started; de-identified: "90+" from 90 (so text)',
        "text",
        "both",
    ),
    "amends": ("identity", "UUID of the signed screening this one corrects, else empty", "text", _ID),
    "amends_ref": ("identity", "Pseudonym of the screening this one corrects, else empty", "text", _DE),
    "carried_from": (
        "identity",
        "A reassessment: UUID of the signed screening its history and circumstances were carried over from, else empty",
        "text",
        _ID,
    ),
    "carried_from_ref": (
        "identity",
        "A reassessment: pseudonym of the screening its history was carried over from, else empty",
        "text",
        _DE,
    ),
    "status": ("identity", "completed or signed", "choice", "both"),
    "created_at": ("dates", "Started (ISO 8601)", "datetime", _ID),
    "completed_at": ("dates", "Completed: recommendation computed (ISO 8601)", "datetime", _ID),
    "decided_at": ("dates", "Decided (ISO 8601)", "datetime", _ID),
    "signed_at": ("dates", "Signed (ISO 8601)", "datetime", _ID),
    "created_year": ("dates", "Year started, in the program's time zone", "integer", _DE),
    "signed_year": ("dates", "Year signed, in the program's time zone", "integer", _DE),
    "rules_version": ("recommendation", "The rule set the recommendation came from", "text", "both"),
    "flags": ("recommendation", "Safety and planning flags, sorted", "list", "both"),
    "pathway": ("recommendation", "Ordered steps of care", "list", "both"),
    "reasons": ("recommendation", "Reason codes of every rule that held, in rule-table order", "list", "both"),
    "override_text": ("decision", "The clinician's explanation of an override", "text", _ID),
    "clinician": ("decision", "User name of the clinician who ran the screening", "text", _ID),
    "decided_by": ("decision", "User name of who decided", "text", _ID),
    "signed_by": ("decision", "User name of who signed", "text", _ID),
    "emergency_action_text": (
        "signature",
        "Emergency referral acknowledged at signing: what was done (free text; by signed_by at signed_at)",
        "text",
        _ID,
    ),
    "amendment_reason": ("amendment", "An amendment: the reason given for it (free text), else empty", "text", _ID),
}
# Closed values kept with the record (issue 14), labelled from their model fields; in both exports.
_RECORD: dict[str, tuple[str, str, str]] = {
    # variable: (section, type, what the model's label leaves unsaid)
    "emergency_action": ("signature", "choice", "acknowledged with the signature (signed_by, signed_at); else empty"),
    "safety_review_confirmed": ("signature", "boolean", "with the signature (signed_by, signed_at)"),
    "phq9_self_reported": ("self-report", "boolean", "every item answered by the person on a patient hand-over"),
    "gad7_self_reported": ("self-report", "boolean", "every item answered by the person on a patient hand-over"),
}
_CODES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "recommended_level": ("The rules' recommended level of care", tuple(Level.choices)),
    "decision": ("Accepted or overridden; empty if not decided", tuple(Screening.Decision.choices)),
    "final_level": ("The level the clinician chose", tuple(Level.choices)),
    "override_reason": (
        "Why another level was chosen; empty unless overridden",
        tuple(Screening.OverrideReason.choices),
    ),
}
_BAND_TABLES = {
    "phq9": instruments.PHQ9_BANDS,
    "gad7": instruments.GAD7_BANDS,
    "ciwa_ar": instruments.CIWA_AR_BANDS,
    "cows": instruments.COWS_BANDS,
    "pawss": instruments.PAWSS_BANDS,
    "dsm5": instruments.DSM5_BANDS,
}


def _bands(key: str) -> str:
    table = _BAND_TABLES.get(key)
    if table is None:  # the C-SSRS screener is rated, not summed (DESIGN.md §3)
        return "bands: none, low, moderate, high"
    edges = [lowest for lowest, _ in table[1:]]
    tops = [e - 1 for e in edges] + [None]
    return "bands: " + ", ".join(
        f"{lo}–{hi} {label}" if hi is not None else f"{lo}+ {label}"
        for (lo, label), hi in zip(table, tops, strict=True)
    )


def _answer_entry(column: str) -> Entry | None:
    """The entry of an answer or item column (exports name answers by §2 names, items by column), from the map."""
    name = column
    if "." in name:  # a question of an object answer (the C-SSRS)
        parent, key = name.split(".", 1)
        inp = next(i for i in answers.ANSWERS[parent].inputs if i.key == key)
        return _input_entry(name, answers.ANSWERS[parent].section, inp)
    answer = answers.ANSWERS.get(name)
    if answer is not None:
        inp = answers.INPUTS.get(answer.column) or (answer.inputs[0] if answer.inputs else None)
        if answer.name in answers.MULTI_ANSWERS:
            return Entry(name, answer.section, answer.label, "list", choices=inp.choices)
        if answer.maximum is not None:
            band = _bands(answer.band) if answer.band else ""
            return Entry(
                name, answer.section, answer.label, "integer", minimum=0, maximum=answer.maximum, unit_or_band=band
            )
        return _input_entry(name, answer.section, inp, label=answer.label)
    inp = answers.INPUTS.get(column)
    if inp is not None:  # an item of an instrument
        owner = next(a for a in answers.ANSWERS.values() if inp in a.inputs)
        return Entry(column, owner.section, f"{owner.short}: {inp.label}", "integer", minimum=0, maximum=inp.maximum)
    return None


def _input_entry(variable: str, section: str, inp: answers.Input, label: str = "") -> Entry:
    label = label or inp.label
    if inp.kind is Kind.YES_NO:
        return Entry(variable, section, label, "boolean")
    if inp.kind is Kind.CHOICE:
        return Entry(variable, section, label, "choice", choices=inp.choices)
    return Entry(variable, section, label, "integer", minimum=0, maximum=inp.maximum)


def entry(column: str) -> Entry:
    """The dictionary entry of one exported column."""
    if column in _OTHER:
        section, label, type_, where = _OTHER[column]
        choices = tuple(Screening.Status.choices[1:]) if column == "status" else ()
        return Entry(column, section, label, type_, choices=choices, exports=where)
    if column in _RECORD:
        section, type_, note = _RECORD[column]
        field = Screening._meta.get_field(column)
        label = f"{str(field.verbose_name)[:1].upper()}{str(field.verbose_name)[1:]}: {note}"
        return Entry(column, section, label, type_, choices=tuple(field.choices or ()))
    if column in _CODES:
        label, choices = _CODES[column]
        return Entry(
            column, "recommendation" if column == "recommended_level" else "decision", label, "choice", choices
        )
    if column in exports.DOMAIN_COLUMNS:
        row = next(r for r in rules.DOMAINS if f"domain_{r.domain.value}" == column)
        ratings = ", ".join(f"{int(r)} {r.label}" for r in rules.Rating)
        return Entry(
            column,
            "recommendation",
            f"Six-domain risk summary (DESIGN.md §10): {row.title.lower()}",
            "integer",
            minimum=0,
            maximum=int(max(rules.Rating)),
            unit_or_band=f"ratings: {ratings}",
        )
    if column.startswith("band_"):
        key = column.removeprefix("band_")
        return Entry(column, "recommendation", f"{answers.BANDED[key].short} band", "text", unit_or_band=_bands(key))
    found = _answer_entry(column)
    if found is None:
        raise KeyError(f"no data dictionary entry for exported column {column!r}")
    return found


def entries() -> list[Entry]:
    """Every exported column once, in the identified export's order, then the de-identified export's own."""
    order = list(exports.columns(deidentified=False))
    order += [c for c in exports.columns(deidentified=True) if c not in order]
    return [entry(c) for c in order]


_CSV_HEADER = (
    # REDCap's data dictionary columns where they fit, then ours.
    "variable_field_name",
    "form_name",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "text_validation_min",
    "text_validation_max",
    "field_note",
    "identifier",
    "exports",
)


def as_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    for e in entries():
        writer.writerow(
            (
                e.variable,
                e.section,
                e.type,
                e.label,
                " | ".join(f"{code}, {label}" for code, label in e.choices),
                "" if e.minimum is None else e.minimum,
                "" if e.maximum is None else e.maximum,
                e.unit_or_band,
                "y" if e.exports == _ID else "",
                e.exports,
            )
        )
    return out.getvalue()


def as_json() -> str:
    return json.dumps([asdict(e) for e in entries()], indent=2, ensure_ascii=False) + "\n"
