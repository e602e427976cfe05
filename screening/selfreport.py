"""Patient self-report (issue 14, item 7): the instruments a person may answer on the device themselves, in the
words they see, and what their answers must make the clinician see on return.

Only PHQ-9 and GAD-7, which were validated as self-report questionnaires; every other question stays with the
clinician. Pure: the standard library and the sibling pure modules only (no Django), like `rules` and `answers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import answers, rules
from .answers import Input


@dataclass(frozen=True, slots=True)
class SelfReport:
    """One instrument the person answers themselves: its key (as in the answer map), the question stem and items."""

    key: str  # "phq9": the answer map's instrument key, and the prefix of its model field `<key>_self_reported`
    answer: str  # its total's answer name ("phq9_total")
    title: str  # what the person sees above its items
    stem: str
    items: tuple[Input, ...]

    @property
    def field(self) -> str:
        """The model field that records that the person answered every item themselves."""
        return f"{self.key}_self_reported"

    @property
    def short(self) -> str:
        return answers.ANSWERS[self.answer].short


# The printed stems of PHQ-9 (Kroenke, Spitzer & Williams 2001) and GAD-7 (Spitzer et al. 2006).
_STEM = "Over the last 2 weeks, how often have you been bothered by {}?"
INSTRUMENTS: tuple[SelfReport, ...] = tuple(
    SelfReport(key, name, title, _STEM.format(which), answers.INSTRUMENTS[name])
    for key, name, title, which in (
        ("phq9", "phq9_total", "Part 1: how you have been feeling", "any of the following problems"),
        ("gad7", "gad7_total", "Part 2: worry and nerves", "the following problems"),
    )
)
BY_KEY: dict[str, SelfReport] = {i.key: i for i in INSTRUMENTS}
# Every item the person answers, in the order asked.
ITEMS: tuple[Input, ...] = tuple(item for i in INSTRUMENTS for item in i.items)
ITEM_NAMES: frozenset[str] = frozenset(i.name for i in ITEMS)
# The four answers both instruments print for every item (0-3).
RESPONSES: tuple[tuple[int, str], ...] = (
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
)
ITEM9 = answers.ANSWERS["phq9_item9"].column  # "phq9_9": thoughts that you would be better off dead…
# Answers the person sent on a hand-over after the clinician's session had ended are kept like a questionnaire posted
# then (services.answers_keep), with the item names the person gave under this name (no form field has it): saved
# unchanged by the clinician, those items count as the person's (`given_by_person`).
KEPT_BY_PERSON = "answered_by_person"


def complete(answered: set[str] | frozenset[str]) -> tuple[str, ...]:
    """The instruments (keys) whose every item is among the item names `answered` by the person."""
    return tuple(i.key for i in INSTRUMENTS if all(item.name in answered for item in i.items))


def item9_needs_attention(value: int | None, version: str = rules.RULES_VERSION) -> bool:
    """Whether a PHQ-9 item 9 answer is one the clinician must be told about at once: the same line that raises
    the safety review (`rules.Thresholds.phq9_item9_safety_review`, PHQ-9 instructions)."""
    return value is not None and value >= rules.RULE_SETS[version].thresholds.phq9_item9_safety_review


def response_label(value: int | None) -> str:
    """The words of an answer, as the person chose it."""
    return dict(RESPONSES).get(value, "not answered") if value is not None else "not answered"


def given_by_person(kept: dict[str, list[str]], saved: dict[str, int | None]) -> frozenset[str]:
    """Of the items kept as the person's answers (`kept`: a kept questionnaire's data), those `saved` as they were
    given — a clinician's change makes an item theirs."""
    return frozenset(
        name
        for name in kept.get(KEPT_BY_PERSON, ())
        if name in ITEM_NAMES and kept.get(name) and saved.get(name) is not None and kept[name][0] == str(saved[name])
    )
