"""What an export reads and writes, derived from the answer map (DESIGN.md §2, §8; docs/exports.md).

`FIELDS` is what one screening is read as (a `values_list` tuple); `columns(deidentified)` is what is
written. `Row` turns the one into the other as typed values (JSON Lines, FHIR and the Python CSV writer);
`writers.COPY_CELLS` writes the same identified columns in SQL for PostgreSQL's COPY.
"""

from __future__ import annotations

import datetime as dt

from django.db.models.expressions import RawSQL
from django.utils import timezone

from .. import answers, rules
from .deidentify import Pseudonymizer, age_on, safe_age, safe_birth_year

SUBSTANCES, DSM5 = (answers.INPUTS[name] for name in answers.MULTI_ANSWERS)
# The answers of §2 that are one column each (the C-SSRS object's questions included), in §2 order.
ANSWER_COLUMNS = tuple(
    column
    for a in answers.ANSWERS.values()
    if a.name not in answers.MULTI_ANSWERS
    for column in ((a.column,) if a.column else tuple(i.name for i in a.inputs))
)
CODE_COLUMNS = ("recommended_level", "decision", "final_level", "override_reason")
BAND_KEYS = answers.BAND_KEYS
DOMAIN_COLUMNS = tuple(f"domain_{d.value}" for d in rules.Domain)
LISTS = ("flags", "pathway", "reasons")  # the rules' lists of codes, ";"-joined in CSV

IDENTITY_COLUMNS = ("screening_id", "client_id", "record_number", "given_name", "family_name", "date_of_birth")
IDENTITY_COLUMNS += ("age_at_screening", "amends", "carried_from", "status")
IDENTITY_COLUMNS += ("created_at", "completed_at", "decided_at", "signed_at")
DEIDENTIFIED_IDENTITY_COLUMNS = ("screening_ref", "person", "birth_year", "age_at_screening", "amends_ref")
DEIDENTIFIED_IDENTITY_COLUMNS += ("carried_from_ref", "status", "created_year", "signed_year")
PLAIN_COLUMNS = (
    "substances",
    "dsm5_criteria",
    *(answers.ANSWER_OF_COLUMN.get(c, c) for c in ANSWER_COLUMNS),
    *answers.ITEM_COLUMNS,
    *CODE_COLUMNS,
)
SUMMARY_COLUMNS = ("rules_version", *(f"band_{k}" for k in BAND_KEYS), *LISTS, *DOMAIN_COLUMNS)
# The record beyond the answers (issue 14), closed values in both exports: the safety flags acknowledged with the
# signature (who and when: signed_by, signed_at) and the instruments the person answered themselves.
RECORD_COLUMNS = ("emergency_action", "safety_review_confirmed", "phq9_self_reported", "gad7_self_reported")
# Staff's names and what they typed (identified exports only): an override's note, the action taken on an emergency
# referral, an amendment's reason.
STAFF_COLUMNS = ("override_text", "clinician", "decided_by", "signed_by", "emergency_action_text", "amendment_reason")
# Text that people typed (not a closed code list): the cells a spreadsheet could read as a formula.
FREE_TEXT_COLUMNS = ("record_number", "given_name", "family_name", *STAFF_COLUMNS)
TIMES = ("created_at", "completed_at", "decided_at", "signed_at")


def columns(deidentified: bool) -> tuple[str, ...]:
    if deidentified:
        return (*DEIDENTIFIED_IDENTITY_COLUMNS, *PLAIN_COLUMNS, *SUMMARY_COLUMNS, *RECORD_COLUMNS)
    return (*IDENTITY_COLUMNS, *PLAIN_COLUMNS, *SUMMARY_COLUMNS, *RECORD_COLUMNS, *STAFF_COLUMNS)


# --- What is read, in this order. The rules' bands and codes come out of the stored JSON as text, read by
# the database (no JSON is decoded in Python); the six-domain ratings from the summary beside the record.
HEAD = ("id", "client_id", "public_id", "client__public_id", "client__record_number", "client__given_name")
HEAD += ("client__family_name", "client__date_of_birth", "amends__public_id", "amends_id")
HEAD += ("carried_from__public_id", "carried_from_id", "status", *TIMES)
STAFF = ("override_text", "clinician__username", "decided_by__username", "signed_by__username")
STAFF += ("emergency_action_text", "amendment_reason")
SUMMARY = ("rules_version", *(f"band_{k}" for k in BAND_KEYS), *LISTS, *(f"risk_summary__{d}" for d in rules.Domain))
FIELDS = (*HEAD, *STAFF, *SUMMARY, *SUBSTANCES.columns, *DSM5.columns, *ANSWER_COLUMNS, *answers.ITEM_COLUMNS)
FIELDS += (*CODE_COLUMNS, *RECORD_COLUMNS)
AT = {name: i for i, name in enumerate(FIELDS)}
# Choice answers and codes are stored as "" when unanswered: typed output gives null.
_CHOICES = {i.name for i in answers.INPUTS.values() if i.kind is answers.Kind.CHOICE} | set(CODE_COLUMNS)
_CHOICES.add("emergency_action")


def summary_sql(vendor: str) -> dict[str, RawSQL]:
    """The bands and the ";"-joined flags, pathway and reason codes of the stored rules output, as SQL."""
    rec = '"screening_screening"."recommendation"'
    if vendor == "postgresql":
        band = f"{rec}->'bands'->>'{{k}}'"
        # A jsonb array of closed-list codes prints as ["a", "b"]: drop brackets and quotes, join with ";" —
        # exact for lower-case words, and three times faster than unnesting each array.
        joined = "replace(translate(({path})::text, '[]\"', ''), ', ', ';')"
        lists = {k: joined.format(path=f"{rec}->'{k}'") for k in LISTS[:2]}
        lists["reasons"] = joined.format(path=f"jsonb_path_query_array({rec}, '$.reasons[*].code')")
    else:  # SQLite's JSON1
        band = f"json_extract({rec}, '$.bands.{{k}}')"
        joined = "(SELECT group_concat({value}, ';') FROM (SELECT value FROM json_each({rec}, '$.{k}') ORDER BY key))"
        lists = {k: joined.format(value="value", rec=rec, k=k) for k in LISTS[:2]}
        lists["reasons"] = joined.format(value="json_extract(value, '$.code')", rec=rec, k="reasons")
    sql = {f"band_{k}": band.format(k=k) for k in BAND_KEYS} | lists
    # Constant SQL built from code (column and JSON key names of this module), no input: nothing to inject.
    return {name: RawSQL(f"NULLIF({text}, '')", ()) for name, text in sql.items()}  # nosec B611


def iso(value: dt.datetime | None, tz) -> str | None:
    """ISO 8601 in the program's time zone with its offset: the time the screens show, unambiguous."""
    return value.astimezone(tz).isoformat(timespec="microseconds") if value is not None else None


class Row:
    """One `FIELDS` tuple → the typed values of `columns(deidentified)`, in order."""

    def __init__(self, deidentified: bool, pseudonymize: Pseudonymizer | None = None):
        self.deidentified = deidentified
        self.pseudonymize = pseudonymize or Pseudonymizer()
        self.columns = columns(deidentified)
        self.tz = timezone.get_current_timezone()
        self._plain = slice(AT[ANSWER_COLUMNS[0]], AT[CODE_COLUMNS[-1]] + 1)
        self._blank = [
            i - self._plain.start for i in range(self._plain.start, self._plain.stop) if FIELDS[i] in _CHOICES
        ]
        self._substances = [(AT[c], code) for c, (code, _) in zip(SUBSTANCES.columns, SUBSTANCES.choices, strict=True)]
        self._dsm5 = [(AT[c], code) for c, (code, _) in zip(DSM5.columns, DSM5.choices, strict=True)]
        self._summary = slice(AT["rules_version"], AT["rules_version"] + len(SUMMARY))
        self._lists = [AT[k] - self._summary.start for k in LISTS]
        self._record = slice(AT[RECORD_COLUMNS[0]], AT[RECORD_COLUMNS[-1]] + 1)
        self._record_blank = [i for i, c in enumerate(RECORD_COLUMNS) if c in _CHOICES]

    def _identity(self, r: tuple) -> list:
        tz = self.tz
        dob = r[AT["client__date_of_birth"]]
        age = age_on(dob, r[AT["created_at"]].astimezone(tz).date())  # the program's local day
        if self.deidentified:
            p, signed = self.pseudonymize, r[AT["signed_at"]]
            return [
                p("screening", r[0]),
                p("person", r[1]),
                safe_birth_year(dob, age),
                safe_age(age),
                p("screening", r[AT["amends_id"]]) if r[AT["amends_id"]] is not None else None,
                p("screening", r[AT["carried_from_id"]]) if r[AT["carried_from_id"]] is not None else None,
                r[AT["status"]],
                r[AT["created_at"]].astimezone(tz).year,
                signed.astimezone(tz).year if signed is not None else None,
            ]
        amends, carried_from = r[AT["amends__public_id"]], r[AT["carried_from__public_id"]]
        return [
            str(r[AT["public_id"]]),
            str(r[AT["client__public_id"]]),
            *r[AT["client__record_number"] : AT["client__date_of_birth"]],
            dob.isoformat(),
            age,
            amends and str(amends),
            carried_from and str(carried_from),
            r[AT["status"]],
        ] + [iso(r[AT[t]], tz) for t in TIMES]

    def __call__(self, r: tuple) -> list:
        plain = list(r[self._plain])
        for i in self._blank:
            if plain[i] == "":
                plain[i] = None
        summary = list(r[self._summary])
        for i in self._lists:
            summary[i] = summary[i].split(";") if summary[i] else []
        out = self._identity(r)
        out.append([code for i, code in self._substances if r[i]])
        out.append([code for i, code in self._dsm5 if r[i]])
        out += plain
        out += summary
        record = list(r[self._record])
        for i in self._record_blank:
            record[i] = record[i] or None
        out += record
        if not self.deidentified:
            out += r[AT["override_text"] : AT["override_text"] + len(STAFF)]
        return out
