"""Synthetic answer sets with plausible distributions, for demo data, benchmarks and load tests.
Never real people: every value comes from a seeded random generator."""

from __future__ import annotations

import random

from .instruments import CIWA_AR_ITEMS, COWS_ITEMS, GAD7_ITEMS, PHQ9_ITEMS, Dsm5Criterion

SUBSTANCE_WEIGHTS = {
    "alcohol": 0.55,
    "opioids": 0.3,
    "sedatives": 0.12,
    "stimulants": 0.2,
    "cannabis": 0.3,
    "other": 0.05,
}
DSM5 = [c.value for c in Dsm5Criterion]


def _items(rng: random.Random, items, severity: float) -> list[int]:
    return [min(item.max_score, int(rng.random() * (item.max_score + 1) * severity)) for item in items]


def answer_set(rng: random.Random) -> dict:
    """One valid raw answer set (DESIGN.md §2) with its item-level answers under '_items'."""
    subs = [s for s, w in SUBSTANCE_WEIGHTS.items() if rng.random() < w] or [rng.choice(["alcohol", "opioids"])]
    alcohol, opioids, sedatives = "alcohol" in subs, "opioids" in subs, "sedatives" in subs
    withdrawal = rng.random() ** 3  # most people present with mild withdrawal
    mood = rng.random() ** 2.5
    items = {
        "phq9": _items(rng, PHQ9_ITEMS, mood),
        "gad7": _items(rng, GAD7_ITEMS, mood * rng.uniform(0.6, 1.2)),
        "ciwa_ar": _items(rng, CIWA_AR_ITEMS, withdrawal * 0.5) if alcohol else None,
        "cows": _items(rng, COWS_ITEMS, withdrawal * 0.8) if opioids else None,
    }
    thoughts = rng.random() < 0.12
    n_criteria = min(11, max(0, int(rng.gauss(3.6, 2))))
    return {
        "substances": subs,
        "ciwa_ar": sum(items["ciwa_ar"]) if alcohol else None,
        "cows": sum(items["cows"]) if opioids else None,
        "pawss": (min(10, int(rng.random() ** 3 * 7)) if rng.random() < 0.8 else None) if alcohol else None,
        "withdrawal_seizure_or_dt_history": rng.random() < 0.05,
        "daily_sedative_use": sedatives and rng.random() < 0.4,
        "complicated_withdrawal_now": rng.random() < 0.01,
        "unstable_medical_condition": rng.random() < 0.04,
        "pregnant": rng.random() < 0.02,
        "dsm5_criteria": rng.sample(DSM5, n_criteria),
        "phq9_total": sum(items["phq9"]),
        "phq9_item9": items["phq9"][8],
        "gad7_total": sum(items["gad7"]),
        "mental_health_condition": rng.choices(["none", "stable", "unstable"], [0.6, 0.35, 0.05])[0],
        "psychotic_symptoms": rng.random() < 0.03,
        "cssrs": {
            "wish_dead": rng.random() < 0.15,
            "suicidal_thoughts": thoughts,
            "method": thoughts and rng.random() < 0.3,
            "intent": thoughts and rng.random() < 0.1,
            "plan": thoughts and rng.random() < 0.08,
            "behavior": rng.choices(["never", "over_3_months", "past_3_months"], [0.9, 0.08, 0.02])[0],
        },
        "homicidal_ideation": rng.random() < 0.01,
        "readiness": rng.choice(["precontemplation", "contemplation", "preparation", "action", "maintenance"]),
        "relapse_after_outpatient_12mo": rng.random() < 0.2,
        "recent_higher_level_care": rng.random() < 0.15,
        "lives_with_substance_users": rng.random() < 0.15,
        "home_safe": rng.random() < 0.93,
        "stable_housing": rng.random() < 0.9,
        "supportive_network": rng.random() < 0.75,
        "work_or_school_commitments": rng.random() < 0.55,
        "family_commitments": rng.random() < 0.35,
        "can_attend_9h_week": rng.random() < 0.88,
        "_items": items,
    }


def answers_only(raw: dict) -> dict:
    """The §2 answers without the item-level extras."""
    return {k: v for k, v in raw.items() if k != "_items"}
