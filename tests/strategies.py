"""Hypothesis strategies for valid answer sets (DESIGN.md §2)."""

from hypothesis import strategies as st

from screening.instruments import Dsm5Criterion
from screening.rules import MentalHealthCondition, Readiness, Substance

SUBSTANCES = [s.value for s in Substance]
DSM5 = [c.value for c in Dsm5Criterion]


@st.composite
def cssrs_answers(draw):
    thoughts = draw(st.booleans())
    return {
        "wish_dead": draw(st.booleans()),
        "suicidal_thoughts": thoughts,
        "method": thoughts and draw(st.booleans()),
        "intent": thoughts and draw(st.booleans()),
        "plan": thoughts and draw(st.booleans()),
        "behavior": draw(st.sampled_from(["never", "over_3_months", "past_3_months"])),
    }


@st.composite
def valid_answers(draw):
    substances = draw(st.lists(st.sampled_from(SUBSTANCES), min_size=1, max_size=6, unique=True))
    alcohol, opioids, sedatives = "alcohol" in substances, "opioids" in substances, "sedatives" in substances
    phq9_item9 = draw(st.integers(0, 3))
    phq9_total = draw(st.integers(phq9_item9, phq9_item9 + 24))
    return {
        "substances": substances,
        "ciwa_ar": draw(st.integers(0, 67)) if alcohol else None,
        "cows": draw(st.integers(0, 48)) if opioids else None,
        "pawss": draw(st.one_of(st.none(), st.integers(0, 10))) if alcohol else None,
        "withdrawal_seizure_or_dt_history": draw(st.booleans()),
        "daily_sedative_use": sedatives and draw(st.booleans()),
        "complicated_withdrawal_now": draw(st.booleans()),
        "unstable_medical_condition": draw(st.booleans()),
        "pregnant": draw(st.booleans()),
        "dsm5_criteria": draw(st.lists(st.sampled_from(DSM5), unique=True)),
        "phq9_total": phq9_total,
        "phq9_item9": phq9_item9,
        "gad7_total": draw(st.integers(0, 21)),
        "mental_health_condition": draw(st.sampled_from([m.value for m in MentalHealthCondition])),
        "psychotic_symptoms": draw(st.booleans()),
        "cssrs": draw(cssrs_answers()),
        "homicidal_ideation": draw(st.booleans()),
        "readiness": draw(st.sampled_from([r.value for r in Readiness])),
        "relapse_after_outpatient_12mo": draw(st.booleans()),
        "recent_higher_level_care": draw(st.booleans()),
        "lives_with_substance_users": draw(st.booleans()),
        "home_safe": draw(st.booleans()),
        "stable_housing": draw(st.booleans()),
        "supportive_network": draw(st.booleans()),
        "work_or_school_commitments": draw(st.booleans()),
        "family_commitments": draw(st.booleans()),
        "can_attend_9h_week": draw(st.booleans()),
    }
