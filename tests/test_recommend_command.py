import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.answers import baseline, load_vignettes

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "recommend", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_one_answer_set_from_file(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(baseline(ciwa_ar=12)))

    proc = run(str(path))

    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["level"] == "inpatient"
    assert out["pathway"] == ["medically_supervised_detox", "iop"]
    assert out["rules_version"] == "2026.11"
    assert list(out["domains"]) == ["withdrawal", "physical", "mental", "readiness", "continued_use", "environment"]
    assert out["domains"]["withdrawal"] == {
        "rating": 3,
        "label": "high",
        "evidence": ["DETOX_ALCOHOL", "Alcohol, opioids or sedatives listed"],
    }


def test_array_from_stdin_keeps_order():
    vignettes = load_vignettes()

    proc = run("-", stdin=json.dumps([v["answers"] for v in vignettes]))

    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [o["level"] for o in out] == [v["expected"]["level"] for v in vignettes]
    assert [[r["code"] for r in o["reasons"]] for o in out] == [v["expected"]["reason_codes"] for v in vignettes]
    assert [{k: d["rating"] for k, d in o["domains"].items()} for o in out] == [
        v["expected"]["domains"] for v in vignettes
    ]


def test_invalid_array_exits_2_naming_every_field_with_index():
    bad = [baseline(), baseline(home_safe=1), baseline(cssrs__plan=True, readiness="x")]

    proc = run("-", stdin=json.dumps(bad))

    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "[1].home_safe" in proc.stderr
    assert "[2].cssrs.plan" in proc.stderr
    assert "[2].readiness" in proc.stderr
    assert "[0]." not in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("stdin", "needle"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({**baseline(), "zzz": 1}), "zzz: unknown field"),
        (json.dumps(baseline(ciwa_ar=None)), "ciwa_ar: is required when alcohol is listed"),
        ("42", "__root__"),
    ],
    ids=["bad-json", "unknown-field", "consistency", "not-object"],
)
def test_invalid_input_exits_2_without_traceback(stdin, needle):
    proc = run("-", stdin=stdin)

    assert proc.returncode == 2
    assert needle in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_missing_file_exits_2(tmp_path):
    proc = run(str(tmp_path / "nope.json"))

    assert proc.returncode == 2
    assert "FILE" in proc.stderr


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b'{"phq9_total": ' + b"9" * 5001 + b"}", "not usable JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not usable JSON"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"pregnant": true, "pregnant": false}', "appears twice"),
    ],
    ids=["huge-int", "deep-nesting", "not-utf8", "duplicate-key"],
)
def test_hostile_input_exits_2_without_traceback(tmp_path, payload, needle):
    path = tmp_path / "answers.json"
    path.write_bytes(payload)

    proc = run(str(path))

    assert proc.returncode == 2
    assert needle in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_unknown_key_is_shown_escaped():
    proc = run("-", stdin=json.dumps({**baseline(), "x\n  phq9_total: fake": 1}))

    assert proc.returncode == 2
    assert "'x\\n  phq9_total: fake': unknown field" in proc.stderr
