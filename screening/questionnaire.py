"""The questionnaire of DESIGN.md §2: strict validation of the answers the answer map names. Standard library only.

`parse` turns a raw mapping (parsed JSON, or form data already converted to Python types) into the frozen
`rules.Answers`, collecting every error by field name. Shared by the web form, `manage.py recommend` and the exports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import fields
from enum import StrEnum
from itertools import product
from operator import itemgetter
from typing import Any, get_type_hints

from .answers import ANSWERS, LISTED, Kind, opened_by, optional
from .instruments import PHQ9_ITEMS, Cssrs, CssrsBehavior, Dsm5Criterion
from .rules import Answers, Substance

# The answer map says what each name is; the typed `Answers` says which enum a choice becomes.
_TYPES = get_type_hints(Answers)
BOOL_FIELDS: tuple[str, ...] = tuple(
    a.name for a in ANSWERS.values() if a.column == a.name and a.inputs[0].kind is Kind.YES_NO
)
INT_FIELDS: dict[str, int] = {a.name: a.maximum for a in ANSWERS.values() if a.maximum is not None and not a.nullable}
NULLABLE_INT_FIELDS: dict[str, int] = {
    a.name: a.maximum for a in ANSWERS.values() if a.maximum is not None and a.nullable
}
CHOICE_FIELDS: dict[str, type[StrEnum]] = {
    a.name: _TYPES[a.name] for a in ANSWERS.values() if a.column == a.name and a.inputs[0].kind is Kind.CHOICE
}
CSSRS_FIELDS: tuple[str, ...] = tuple(i.key for i in ANSWERS["cssrs"].inputs)
CSSRS_BOOL_FIELDS: tuple[str, ...] = tuple(i.key for i in ANSWERS["cssrs"].inputs if i.kind is Kind.YES_NO)
# C-SSRS follow-ups and the question whose yes opens them: key -> opener's key.
_CSSRS_KEY = {i.name: i.key for i in ANSWERS["cssrs"].inputs}
CSSRS_FOLLOW_UPS: dict[str, str] = {i.key: _CSSRS_KEY[i.when_yes] for i in ANSWERS["cssrs"].inputs if i.when_yes}
# The answers a listed substance opens, with that substance.
_OPENED = tuple((a, s) for a in ANSWERS.values() if (s := opened_by(a)) is not None)
_PHQ9_OTHER_ITEMS_MAX = sum(item.max_score for item in PHQ9_ITEMS[:-1])  # items 1-8; item 9 is its own answer

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Answers))
_FIELD_SET = frozenset(FIELD_NAMES)


class QuestionnaireError(ValueError):
    """Invalid answers: `errors` maps each offending field name to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))


def _key_name(key: Any) -> str:
    """An unknown key as it may be shown: plain names as they are, anything else escaped."""
    return key if isinstance(key, str) and key.isidentifier() else repr(key)


def _choices(enum: type[StrEnum]) -> str:
    return ", ".join(m.value for m in enum)


def parse(raw: Any) -> Answers:
    """Validate a raw answer mapping strictly and return the typed answers, or raise QuestionnaireError."""
    # Nearly every answer set is valid (a stored snapshot always is): the fast path accepts exactly what the strict
    # path accepts, giving the same answers, and hands anything else to it, which collects every error.
    if type(raw) is dict and (answers := _parse_valid(raw)) is not None:
        return answers
    return _parse_strict(raw)


def _parse_strict(raw: Any) -> Answers:
    if not isinstance(raw, Mapping):
        raise QuestionnaireError({"__root__": ["must be a JSON object of answers"]})
    errors: defaultdict[str, list[str]] = defaultdict(list)
    for key in raw:
        if key not in _FIELD_SET:
            errors[_key_name(key)].append("unknown field")
    values: dict[str, Any] = {}
    for name in FIELD_NAMES:
        if name not in raw:
            errors[name].append("is required")

    for name in BOOL_FIELDS:
        if name in raw:
            if isinstance(raw[name], bool):
                values[name] = raw[name]
            else:
                errors[name].append("must be true or false")
    for name, maximum in (*INT_FIELDS.items(), *NULLABLE_INT_FIELDS.items()):
        if name in raw:
            v, nullable = raw[name], name in NULLABLE_INT_FIELDS
            if v is None and nullable:
                values[name] = None
            elif not isinstance(v, int) or isinstance(v, bool):
                errors[name].append("must be an integer or null" if nullable else "must be an integer")
            elif not 0 <= v <= maximum:
                errors[name].append(f"must be from 0 to {maximum}")
            else:
                values[name] = v
    for name, enum in CHOICE_FIELDS.items():
        if name in raw:
            v = raw[name]
            if isinstance(v, str) and v in enum._value2member_map_:
                values[name] = enum(v)
            else:
                errors[name].append(f"must be one of: {_choices(enum)}")

    if "substances" in raw and (substances := _parse_list(raw, "substances", Substance, errors)) is not None:
        if substances:
            values["substances"] = tuple(Substance(s) for s in substances)
        else:
            errors["substances"].append("choose at least one substance")
    if "dsm5_criteria" in raw and (criteria := _parse_list(raw, "dsm5_criteria", Dsm5Criterion, errors)) is not None:
        values["dsm5_criteria"] = tuple(criteria)
    if "cssrs" in raw and (cssrs := _parse_cssrs(raw["cssrs"], errors)) is not None:
        values["cssrs"] = cssrs

    _check_consistency(values, errors)
    if errors:
        raise QuestionnaireError(dict(errors))
    return Answers(**values)


def _parse_list(raw: Mapping, name: str, enum: type[StrEnum], errors: defaultdict[str, list[str]]) -> list[str] | None:
    # Called only for a name given in `raw`: no error is filed under it yet.
    v = raw[name]
    if not isinstance(v, list):
        errors[name].append(f"must be a list of: {_choices(enum)}")
        return None
    seen: set[str] = set()
    for item in v:
        if not isinstance(item, str) or item not in enum._value2member_map_:
            errors[name].append(f"{item!r} is not one of: {_choices(enum)}")
        elif item in seen:
            errors[name].append(f"{item!r} is listed twice")
        else:
            seen.add(item)
    return None if name in errors else list(v)


def _parse_cssrs(v: Any, errors: defaultdict[str, list[str]]) -> Cssrs | None:
    if not isinstance(v, Mapping):
        errors["cssrs"].append("must be an object with " + ", ".join(CSSRS_FIELDS))
        return None
    found: defaultdict[str, list[str]] = defaultdict(list)
    for key in v:
        if key not in CSSRS_FIELDS:
            found[f"cssrs.{_key_name(key)}"].append("unknown field")
    for key in CSSRS_FIELDS:
        if key not in v:
            found[f"cssrs.{key}"].append("is required")
    for key in CSSRS_BOOL_FIELDS:
        if key in v and not isinstance(v[key], bool):
            found[f"cssrs.{key}"].append("must be true or false")
    if "behavior" in v and not (isinstance(v["behavior"], str) and v["behavior"] in CssrsBehavior._value2member_map_):
        found["cssrs.behavior"].append(f"must be one of: {_choices(CssrsBehavior)}")
    # The consistency rule is checked whenever its own fields are valid, even if a sibling is not.
    for key, opener in CSSRS_FOLLOW_UPS.items():
        if v.get(opener) is False and v.get(key) is True:
            found[f"cssrs.{key}"].append(f"must be false when {opener} is false")
    for key, messages in found.items():
        errors[key].extend(messages)
    if found:
        return None
    return Cssrs(**{k: v[k] for k in CSSRS_BOOL_FIELDS}, behavior=CssrsBehavior(v["behavior"]))


def _check_consistency(values: dict[str, Any], errors: defaultdict[str, list[str]]) -> None:
    subs = values.get("substances")
    if subs is not None:
        # The answers a listed substance opens (the answer map's "applies when"): required once it is
        # listed, null (or, for a yes/no, false) while it is not.
        for answer, substance in _OPENED:
            if answer.name not in values:
                continue
            listed, value, phrase = substance in subs, values[answer.name], LISTED[substance]
            if answer.nullable:
                if listed and value is None and not optional(answer):
                    errors[answer.name].append(f"is required when {phrase}")
                elif not listed and value is not None:
                    errors[answer.name].append(f"must be null unless {phrase}")
            elif value is True and not listed:
                errors[answer.name].append(f"can be true only when {phrase}")
    total, item9 = values.get("phq9_total"), values.get("phq9_item9")
    if total is not None and item9 is not None:
        if item9 > total:
            errors["phq9_item9"].append("must not exceed phq9_total")
        elif total - item9 > _PHQ9_OTHER_ITEMS_MAX:
            errors["phq9_item9"].append(
                f"phq9_total minus phq9_item9 must not exceed {_PHQ9_OTHER_ITEMS_MAX} (the other eight items score 0-3)"
            )


# --- The fast path: one answer set without a fault, checked with the strict path's rules but none of its messages.
# It gives up (None) at the first doubt, including every input the strict path accepts only by isinstance (an int or
# a str subclass, a Mapping that is not a dict): the strict path decides those.
_IN_FIELD_ORDER = itemgetter(*FIELD_NAMES)
_BOOLS = itemgetter(*BOOL_FIELDS)
_ONLY_BOOL = frozenset({bool})
_INTS = tuple(INT_FIELDS.items())
_NULLABLE_INTS = tuple(NULLABLE_INT_FIELDS.items())
_CHOICE_MEMBERS = tuple((name, enum._value2member_map_) for name, enum in CHOICE_FIELDS.items())
_SUBSTANCE_MEMBERS = Substance._value2member_map_
_DSM5_MEMBERS = Dsm5Criterion._value2member_map_
_CSSRS_SET = frozenset(CSSRS_FIELDS)
_CSSRS_IN_ORDER = itemgetter(*CSSRS_FIELDS)
_BOOL_OR_STR = frozenset({bool, str})
# (name, substance, nullable, optional) of each answer a listed substance opens, as `_check_consistency` reads them.
_OPENED_RULES = tuple((a.name, s, a.nullable, optional(a)) for a, s in _OPENED)


def _valid_cssrs() -> dict[tuple, Cssrs]:
    """Every C-SSRS answer the strict path accepts (a few dozen), by its values in CSSRS_FIELDS order."""
    table = {}
    for answered in product((False, True), repeat=len(CSSRS_BOOL_FIELDS)):
        for behavior in CssrsBehavior:
            c = {**dict(zip(CSSRS_BOOL_FIELDS, answered, strict=True)), "behavior": behavior.value}
            if (cssrs := _parse_cssrs(c, defaultdict(list))) is not None:
                table[_CSSRS_IN_ORDER(c)] = cssrs
    return table


_VALID_CSSRS = _valid_cssrs()


def _parse_valid(raw: dict) -> Answers | None:
    if raw.keys() != _FIELD_SET or set(map(type, _BOOLS(raw))) != _ONLY_BOOL:
        return None
    for name, maximum in _INTS:
        v = raw[name]
        if type(v) is not int or not 0 <= v <= maximum:
            return None
    for name, maximum in _NULLABLE_INTS:
        v = raw[name]
        if v is not None and (type(v) is not int or not 0 <= v <= maximum):
            return None
    values = dict(raw)
    for name, members in _CHOICE_MEMBERS:
        v = raw[name]
        if type(v) is not str or (member := members.get(v)) is None:
            return None
        values[name] = member

    listed = raw["substances"]
    if type(listed) is not list or not listed:
        return None
    substances = []
    for item in listed:
        if type(item) is not str or (member := _SUBSTANCE_MEMBERS.get(item)) is None:
            return None
        substances.append(member)
    if len(set(substances)) != len(substances):
        return None
    values["substances"] = subs = tuple(substances)
    criteria = raw["dsm5_criteria"]
    if type(criteria) is not list:
        return None
    for item in criteria:
        if type(item) is not str or item not in _DSM5_MEMBERS:
            return None
    if len(set(criteria)) != len(criteria):
        return None
    values["dsm5_criteria"] = tuple(criteria)

    c = raw["cssrs"]
    if type(c) is not dict or c.keys() != _CSSRS_SET:
        return None
    # Only a bool equals a bool of the table and only a str its behaviour, so a match has exactly their types.
    answered = _CSSRS_IN_ORDER(c)
    if not set(map(type, answered)) <= _BOOL_OR_STR or (cssrs := _VALID_CSSRS.get(answered)) is None:
        return None
    values["cssrs"] = cssrs

    for name, substance, nullable, may_be_null in _OPENED_RULES:
        is_listed, value = substance in subs, values[name]
        if nullable:
            if (is_listed and value is None and not may_be_null) or (not is_listed and value is not None):
                return None
        elif value is True and not is_listed:
            return None
    total, item9 = values["phq9_total"], values["phq9_item9"]
    if item9 > total or total - item9 > _PHQ9_OTHER_ITEMS_MAX:
        return None
    return Answers(*_IN_FIELD_ORDER(values))


def to_json(answers: Answers) -> dict[str, Any]:
    """The answers as a JSON-ready mapping with the names of §2 (the stored snapshot)."""
    out: dict[str, Any] = {}
    for name in FIELD_NAMES:
        v = getattr(answers, name)
        if name == "cssrs":
            v = {k: (str(getattr(v, k)) if k == "behavior" else getattr(v, k)) for k in CSSRS_FIELDS}
        elif isinstance(v, tuple):
            v = [str(x) for x in v]
        elif isinstance(v, StrEnum):
            v = str(v)
        out[name] = v
    return out
