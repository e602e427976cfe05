"""The clinical core stays pure: rules.py, instruments.py, questionnaire.py and every sibling module
they import (transitively) use the standard library only."""

import ast
import sys
from pathlib import Path

import pytest

from screening import models, rules

APP = Path(__file__).resolve().parents[1] / "screening"
PURE_ROOTS = ("rules.py", "instruments.py", "questionnaire.py")


def imported_modules(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend(
                (alias.name.split(".")[0], node.level if hasattr(node, "level") else 0) for alias in node.names
            )
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: a sibling, which must be pure in turn
                names = [node.module] if node.module else [a.name for a in node.names]
                found.extend((f".{n.split('.')[0]}", node.level) for n in names)
            else:
                found.append((node.module.split(".")[0], 0))
    return found


def pure_modules(app: Path = APP, roots: tuple[str, ...] = PURE_ROOTS) -> list[str]:
    """The roots and every sibling module they import, transitively: each must be pure too."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(f"{mod[1:]}.py" for mod, _ in imported_modules(app / name) if mod.startswith("."))
    return sorted(seen)


def non_stdlib_imports(path: Path) -> list[str]:
    return [
        mod
        for mod, _ in imported_modules(path)
        if not (mod in sys.stdlib_module_names or mod == "__future__" or mod.startswith("."))
    ]


@pytest.mark.parametrize("name", pure_modules())
def test_pure_module_imports_only_stdlib(name):
    assert non_stdlib_imports(APP / name) == []


def test_pure_set_follows_relative_imports(tmp_path):
    (tmp_path / "core.py").write_text("import json\nfrom . import helper\n")
    (tmp_path / "helper.py").write_text("from .models import X\n")
    (tmp_path / "models.py").write_text("from django.db import models\n")

    pure = pure_modules(tmp_path, ("core.py",))

    assert pure == ["core.py", "helper.py", "models.py"]
    assert non_stdlib_imports(tmp_path / "models.py") == ["django"]


def test_checker_catches_a_django_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from django.db import models\nimport json\nfrom .models import X\n")

    mods = [m for m, _ in imported_modules(bad)]

    assert "django" in mods and ".models" in mods


def test_level_enum_matches_model_choices():
    assert {level.value for level in rules.Level} == set(models.Level.values)
