"""docs/rules.md and the code's rule table agree, row by row."""

import re
from pathlib import Path

from screening import rules

DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
ROW = re.compile(r"^\| `([A-Z_]+)` \| (\w+) \| (.+?) \| (.+?) \| (.+?) \|$")


def doc_rows() -> list[tuple[str, ...]]:
    return [m.groups() for line in DOC.read_text().splitlines() if (m := ROW.match(line))]


def test_rules_doc_matches_code_table():
    code_rows = [(r.code, str(r.level), threshold, text, r.source) for r, threshold, text in rules.rule_texts()]

    assert doc_rows() == code_rows


def test_rules_doc_lists_every_iop_reason_and_flag():
    text = DOC.read_text()

    for reason in rules.IOP_REASONS:
        assert f"| `{reason.code}` |" in text and reason.text in text
    for flag in rules.Flag:
        assert f"| `{flag}` |" in text and rules.FLAG_TEXT[flag] in text
