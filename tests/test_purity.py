"""rules.py, instruments.py and questionnaire.py stay pure: standard library only."""

import ast
import sys
from pathlib import Path

import pytest

from screening import models, rules

APP = Path(__file__).resolve().parents[1] / "screening"
# The pure modules may import each other, and nothing else outside the standard library.
PURE = {"rules.py", "instruments.py", "questionnaire.py"}
PURE_SIBLINGS = {"instruments", "rules"}


def imported_modules(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(
                (alias.name.split(".")[0], node.level if hasattr(node, "level") else 0) for alias in node.names
            )
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: only the pure siblings
                names = [node.module] if node.module else [a.name for a in node.names]
                found.extend((f".{n.split('.')[0]}", node.level) for n in names)
            else:
                found.append((node.module.split(".")[0], 0))
    return found


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_module_imports_only_stdlib(name):
    offenders = [
        mod
        for mod, _ in imported_modules(APP / name)
        if not (
            mod in sys.stdlib_module_names
            or mod == "__future__"
            or mod.lstrip(".") in PURE_SIBLINGS
            and mod.startswith(".")
        )
    ]

    assert offenders == []


def test_checker_catches_a_django_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from django.db import models\nimport json\nfrom .models import X\n")

    mods = [m for m, _ in imported_modules(bad)]

    assert "django" in mods and ".models" in mods


def test_level_enum_matches_model_choices():
    assert {level.value for level in rules.Level} == set(models.Level.values)
