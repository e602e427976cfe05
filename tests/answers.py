"""Synthetic answer sets for the rules tests."""

import copy
import json
import os
from pathlib import Path


def _shared_dir() -> Path:
    """The team's shared folder: beside the checkout (../shared), or where IOP_SHARED_DIR says."""
    candidates = [os.environ.get("IOP_SHARED_DIR"), Path(__file__).resolve().parents[2] / "shared", "/work/shared"]
    for candidate in filter(None, candidates):
        if (Path(candidate) / "examples" / "vignettes.json").exists():
            return Path(candidate)
    raise FileNotFoundError("../shared/examples/vignettes.json not found; set IOP_SHARED_DIR to the shared folder")


VIGNETTES_PATH = _shared_dir() / "examples" / "vignettes.json"

# A person who clearly fits IOP: moderate alcohol use disorder, mild withdrawal, safe supportive home.
BASELINE_IOP = {
    "substances": ["alcohol"],
    "ciwa_ar": 4,
    "cows": None,
    "pawss": 1,
    "withdrawal_seizure_or_dt_history": False,
    "daily_sedative_use": False,
    "complicated_withdrawal_now": False,
    "unstable_medical_condition": False,
    "pregnant": False,
    "dsm5_criteria": ["larger_amounts", "cut_down", "craving"],
    "phq9_total": 6,
    "phq9_item9": 0,
    "gad7_total": 5,
    "mental_health_condition": "none",
    "psychotic_symptoms": False,
    "cssrs": {
        "wish_dead": False,
        "suicidal_thoughts": False,
        "method": False,
        "intent": False,
        "plan": False,
        "behavior": "never",
    },
    "homicidal_ideation": False,
    "readiness": "preparation",
    "relapse_after_outpatient_12mo": False,
    "recent_higher_level_care": False,
    "lives_with_substance_users": False,
    "home_safe": True,
    "stable_housing": True,
    "supportive_network": True,
    "work_or_school_commitments": False,
    "family_commitments": False,
    "can_attend_9h_week": True,
}


def baseline(**changes) -> dict:
    """A deep copy of the IOP baseline with some answers changed (cssrs__plan=True for nested)."""
    answers = copy.deepcopy(BASELINE_IOP)
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__")
            answers[outer][inner] = value
        else:
            answers[key] = value
    return answers


def load_vignettes() -> list[dict]:
    return json.loads(VIGNETTES_PATH.read_text())
