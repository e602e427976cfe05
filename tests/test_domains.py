"""The six-domain risk summary of DESIGN.md §10: tables, every boundary on both sides, vignettes."""

import json
import re
from collections import Counter
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screening import questionnaire, rules
from screening.rules import Domain, Level
from tests.answers import baseline, load_vignettes
from tests.strategies import valid_answers

SIX = ["withdrawal", "physical", "mental", "readiness", "continued_use", "environment"]
LABELS = ["none", "low", "moderate", "high", "severe"]

LISTED = "Alcohol, opioids or sedatives listed"
HISTORY = "History of withdrawal seizure or delirium tremens"
COWS_MILD = "COWS band mild"
PREGNANT = "Pregnant"
ITEM9 = "PHQ-9 item 9 (thoughts of death or self-harm) 1 or more"
MH_STABLE = "Mental-health condition, stable with treatment"
RECENT_CARE = "Detox, inpatient or residential care in the last 30 days"
NO_SUPPORT = "No supportive network"
COMMITMENTS = "Work, school or family commitments"
CANNOT_ATTEND = "Cannot attend 9 hours a week"
CRITERIA = ["larger_amounts", "cut_down", "time_spent", "craving", "role_failure", "social_problems"]


def evaluate(raw: dict, version: str = rules.RULES_VERSION) -> rules.Recommendation:
    return rules.evaluate(questionnaire.parse(raw), version)


def quiet(**changes) -> dict:
    """The IOP baseline with every domain at 0: cannabis only, one criterion, minimal PHQ-9 and GAD-7."""
    base = {
        "substances": ["cannabis"],
        "ciwa_ar": None,
        "pawss": None,
        "dsm5_criteria": ["craving"],
        "phq9_total": 4,
        "gad7_total": 4,
    }
    return baseline(**{**base, **changes})


def test_quiet_answers_rate_every_domain_none():
    result = evaluate(quiet())

    assert [(str(d.domain), d.rating, d.label, d.evidence) for d in result.domains] == [
        (name, 0, "none", ()) for name in SIX
    ]


# (id, domain, answer changes to quiet(), rating, evidence)
CASES = [
    # withdrawal
    ("w-other-substances", "withdrawal", {"substances": ["stimulants", "cannabis", "other"]}, 0, ()),
    ("w-alcohol-listed-ciwa-0", "withdrawal", {"substances": ["alcohol"], "ciwa_ar": 0}, 1, (LISTED,)),
    ("w-cows-4-band-none", "withdrawal", {"substances": ["opioids"], "cows": 4}, 1, (LISTED,)),
    ("w-cows-5-band-mild", "withdrawal", {"substances": ["opioids"], "cows": 5}, 2, (COWS_MILD, LISTED)),
    ("w-cows-12-band-mild", "withdrawal", {"substances": ["opioids"], "cows": 12}, 2, (COWS_MILD, LISTED)),
    ("w-cows-13-detox", "withdrawal", {"substances": ["opioids"], "cows": 13}, 3, ("DETOX_OPIOID", LISTED)),
    ("w-sedatives-not-daily", "withdrawal", {"substances": ["sedatives"]}, 1, (LISTED,)),
    (
        "w-sedatives-daily",
        "withdrawal",
        {"substances": ["sedatives"], "daily_sedative_use": True},
        3,
        ("DETOX_SEDATIVES", LISTED),
    ),
    ("w-ciwa-9", "withdrawal", {"substances": ["alcohol"], "ciwa_ar": 9}, 1, (LISTED,)),
    ("w-ciwa-10", "withdrawal", {"substances": ["alcohol"], "ciwa_ar": 10}, 3, ("DETOX_ALCOHOL", LISTED)),
    ("w-pawss-3", "withdrawal", {"substances": ["alcohol"], "ciwa_ar": 0, "pawss": 3}, 1, (LISTED,)),
    ("w-pawss-4", "withdrawal", {"substances": ["alcohol"], "ciwa_ar": 0, "pawss": 4}, 3, ("DETOX_PAWSS", LISTED)),
    ("w-seizure-history-cannabis-only", "withdrawal", {"withdrawal_seizure_or_dt_history": True}, 1, (HISTORY,)),
    (
        "w-seizure-history-opioids",
        "withdrawal",
        {"substances": ["opioids"], "cows": 0, "withdrawal_seizure_or_dt_history": True},
        1,
        (LISTED, HISTORY),
    ),
    (
        "w-seizure-history-alcohol",
        "withdrawal",
        {"substances": ["alcohol"], "ciwa_ar": 0, "withdrawal_seizure_or_dt_history": True},
        3,
        ("DETOX_HIGH_RISK_HISTORY", LISTED, HISTORY),
    ),
    ("w-complicated-now", "withdrawal", {"complicated_withdrawal_now": True}, 4, ("DETOX_COMPLICATED",)),
    (
        "w-complicated-now-cows-mild-stays-4",
        "withdrawal",
        {"substances": ["opioids"], "cows": 8, "complicated_withdrawal_now": True},
        4,
        ("DETOX_COMPLICATED", COWS_MILD, LISTED),
    ),
    (
        "w-detox-cows-13-ciwa-10-stays-3",
        "withdrawal",
        {"substances": ["alcohol", "opioids"], "ciwa_ar": 10, "cows": 13},
        3,
        ("DETOX_ALCOHOL", "DETOX_OPIOID", LISTED),
    ),
    (
        "w-pregnancy-detox-not-3",
        "withdrawal",
        {"substances": ["alcohol"], "ciwa_ar": 0, "pregnant": True},
        1,
        (LISTED,),
    ),
    # physical
    ("p-pregnant-cannabis", "physical", {"pregnant": True}, 1, (PREGNANT,)),
    (
        "p-pregnant-opioids-detox",
        "physical",
        {"substances": ["opioids"], "cows": 0, "pregnant": True},
        3,
        ("DETOX_PREGNANCY", PREGNANT),
    ),
    ("p-medical-unstable", "physical", {"unstable_medical_condition": True}, 3, ("MEDICAL_UNSTABLE",)),
    (
        "p-medical-and-pregnancy-in-table-order",
        "physical",
        {"substances": ["alcohol"], "ciwa_ar": 0, "pregnant": True, "unstable_medical_condition": True},
        3,
        ("MEDICAL_UNSTABLE", "DETOX_PREGNANCY", PREGNANT),
    ),
    # mental: PHQ-9 bands
    ("m-phq9-4", "mental", {"phq9_total": 4}, 0, ()),
    ("m-phq9-5", "mental", {"phq9_total": 5}, 1, ("PHQ-9 band mild",)),
    ("m-phq9-9", "mental", {"phq9_total": 9}, 1, ("PHQ-9 band mild",)),
    ("m-phq9-10", "mental", {"phq9_total": 10}, 2, ("PHQ-9 band moderate",)),
    ("m-phq9-14", "mental", {"phq9_total": 14}, 2, ("PHQ-9 band moderate",)),
    ("m-phq9-15", "mental", {"phq9_total": 15}, 2, ("PHQ-9 band moderately severe",)),
    ("m-phq9-19", "mental", {"phq9_total": 19}, 2, ("PHQ-9 band moderately severe",)),
    ("m-phq9-20", "mental", {"phq9_total": 20}, 3, ("DEPRESSION_SEVERE",)),
    # mental: GAD-7 bands
    ("m-gad7-4", "mental", {"gad7_total": 4}, 0, ()),
    ("m-gad7-5", "mental", {"gad7_total": 5}, 1, ("GAD-7 band mild",)),
    ("m-gad7-9", "mental", {"gad7_total": 9}, 1, ("GAD-7 band mild",)),
    ("m-gad7-10", "mental", {"gad7_total": 10}, 2, ("GAD-7 band moderate",)),
    ("m-gad7-14", "mental", {"gad7_total": 14}, 2, ("GAD-7 band moderate",)),
    ("m-gad7-15", "mental", {"gad7_total": 15}, 3, ("ANXIETY_SEVERE",)),
    ("m-phq9-and-gad7-mild", "mental", {"phq9_total": 5, "gad7_total": 5}, 1, ("PHQ-9 band mild", "GAD-7 band mild")),
    # mental: item 9, C-SSRS, homicide, psychosis, condition
    ("m-item9-0", "mental", {"phq9_item9": 0}, 0, ()),
    ("m-item9-1", "mental", {"phq9_item9": 1}, 2, (ITEM9,)),
    ("m-cssrs-wish-dead", "mental", {"cssrs__wish_dead": True}, 2, ("C-SSRS band low",)),
    ("m-cssrs-thoughts", "mental", {"cssrs__suicidal_thoughts": True}, 2, ("C-SSRS band low",)),
    (
        "m-cssrs-method",
        "mental",
        {"cssrs__suicidal_thoughts": True, "cssrs__method": True},
        2,
        ("C-SSRS band moderate",),
    ),
    ("m-cssrs-behaviour-old", "mental", {"cssrs__behavior": "over_3_months"}, 2, ("C-SSRS band moderate",)),
    (
        "m-cssrs-intent",
        "mental",
        {"cssrs__suicidal_thoughts": True, "cssrs__intent": True},
        4,
        ("EMERGENCY_SUICIDE_RISK",),
    ),
    (
        "m-cssrs-plan",
        "mental",
        {"cssrs__suicidal_thoughts": True, "cssrs__plan": True},
        4,
        ("EMERGENCY_SUICIDE_RISK",),
    ),
    ("m-cssrs-behaviour-recent", "mental", {"cssrs__behavior": "past_3_months"}, 4, ("EMERGENCY_SUICIDE_RISK",)),
    ("m-homicidal", "mental", {"homicidal_ideation": True}, 4, ("EMERGENCY_HOMICIDE_RISK",)),
    ("m-psychosis", "mental", {"psychotic_symptoms": True}, 3, ("PSYCHOSIS",)),
    ("m-condition-none", "mental", {"mental_health_condition": "none"}, 0, ()),
    ("m-condition-stable", "mental", {"mental_health_condition": "stable"}, 1, (MH_STABLE,)),
    ("m-condition-unstable", "mental", {"mental_health_condition": "unstable"}, 3, ("MENTAL_HEALTH_UNSTABLE",)),
    (
        "m-emergency-with-moderate-signals-stays-4",
        "mental",
        {"homicidal_ideation": True, "phq9_total": 12, "phq9_item9": 1},
        4,
        ("EMERGENCY_HOMICIDE_RISK", "PHQ-9 band moderate", ITEM9),
    ),
    (
        "m-inpatient-rule-with-moderate-signal-stays-3",
        "mental",
        {"psychotic_symptoms": True, "gad7_total": 12},
        3,
        ("PSYCHOSIS", "GAD-7 band moderate"),
    ),
    (
        "m-every-rule-in-table-order",
        "mental",
        {
            "cssrs__behavior": "past_3_months",
            "homicidal_ideation": True,
            "phq9_total": 22,
            "phq9_item9": 2,
            "gad7_total": 16,
            "psychotic_symptoms": True,
            "mental_health_condition": "unstable",
        },
        4,
        (
            "EMERGENCY_SUICIDE_RISK",
            "EMERGENCY_HOMICIDE_RISK",
            "DEPRESSION_SEVERE",
            "ANXIETY_SEVERE",
            "PSYCHOSIS",
            "MENTAL_HEALTH_UNSTABLE",
            ITEM9,
        ),
    ),
    # readiness
    ("r-precontemplation", "readiness", {"readiness": "precontemplation"}, 2, ("Stage of change: precontemplation",)),
    ("r-contemplation", "readiness", {"readiness": "contemplation"}, 1, ("Stage of change: contemplation",)),
    ("r-preparation", "readiness", {"readiness": "preparation"}, 0, ()),
    ("r-action", "readiness", {"readiness": "action"}, 0, ()),
    ("r-maintenance", "readiness", {"readiness": "maintenance"}, 0, ()),
    # continued use
    ("c-dsm5-0", "continued_use", {"dsm5_criteria": []}, 0, ()),
    ("c-dsm5-1", "continued_use", {"dsm5_criteria": CRITERIA[:1]}, 0, ()),
    ("c-dsm5-2", "continued_use", {"dsm5_criteria": CRITERIA[:2]}, 1, ("DSM-5 band mild",)),
    ("c-dsm5-3", "continued_use", {"dsm5_criteria": CRITERIA[:3]}, 1, ("DSM-5 band mild",)),
    ("c-dsm5-4", "continued_use", {"dsm5_criteria": CRITERIA[:4]}, 2, ("DSM-5 band moderate",)),
    ("c-dsm5-5", "continued_use", {"dsm5_criteria": CRITERIA[:5]}, 2, ("DSM-5 band moderate",)),
    ("c-dsm5-6", "continued_use", {"dsm5_criteria": CRITERIA[:6]}, 3, ("SEVERE_SUD",)),
    ("c-recent-higher-care", "continued_use", {"recent_higher_level_care": True}, 1, (RECENT_CARE,)),
    (
        "c-recent-higher-care-dsm5-4",
        "continued_use",
        {"recent_higher_level_care": True, "dsm5_criteria": CRITERIA[:4]},
        2,
        ("DSM-5 band moderate", RECENT_CARE),
    ),
    ("c-relapse-dsm5-1", "continued_use", {"relapse_after_outpatient_12mo": True}, 0, ()),
    (
        "c-relapse-dsm5-3",
        "continued_use",
        {"relapse_after_outpatient_12mo": True, "dsm5_criteria": CRITERIA[:3]},
        1,
        ("DSM-5 band mild",),
    ),
    (
        "c-relapse-dsm5-4",
        "continued_use",
        {"relapse_after_outpatient_12mo": True, "dsm5_criteria": CRITERIA[:4]},
        2,
        ("RELAPSE_AFTER_OUTPATIENT", "DSM-5 band moderate"),
    ),
    (
        "c-relapse-dsm5-6",
        "continued_use",
        {"relapse_after_outpatient_12mo": True, "dsm5_criteria": CRITERIA[:6]},
        3,
        ("SEVERE_SUD", "RELAPSE_AFTER_OUTPATIENT"),
    ),
    # environment
    ("e-no-support-dsm5-1", "environment", {"supportive_network": False}, 1, (NO_SUPPORT,)),
    (
        "e-no-support-dsm5-3",
        "environment",
        {"supportive_network": False, "dsm5_criteria": CRITERIA[:3]},
        1,
        (NO_SUPPORT,),
    ),
    (
        "e-no-support-dsm5-4",
        "environment",
        {"supportive_network": False, "dsm5_criteria": CRITERIA[:4]},
        2,
        ("NO_SUPPORT_MODERATE_SUD", NO_SUPPORT),
    ),
    ("e-work-or-school", "environment", {"work_or_school_commitments": True}, 1, (COMMITMENTS,)),
    ("e-family", "environment", {"family_commitments": True}, 1, (COMMITMENTS,)),
    (
        "e-work-and-family-once",
        "environment",
        {"work_or_school_commitments": True, "family_commitments": True},
        1,
        (COMMITMENTS,),
    ),
    ("e-cannot-attend", "environment", {"can_attend_9h_week": False}, 1, (CANNOT_ATTEND,)),
    ("e-lives-with-users", "environment", {"lives_with_substance_users": True}, 2, ("HOME_SUBSTANCE_USE",)),
    ("e-home-unsafe", "environment", {"home_safe": False}, 2, ("HOME_UNSAFE",)),
    ("e-housing-unstable", "environment", {"stable_housing": False}, 2, ("HOUSING_UNSTABLE",)),
    (
        "e-everything-in-table-order",
        "environment",
        {
            "lives_with_substance_users": True,
            "home_safe": False,
            "stable_housing": False,
            "supportive_network": False,
            "dsm5_criteria": CRITERIA[:4],
            "family_commitments": True,
            "can_attend_9h_week": False,
        },
        2,
        (
            "HOME_SUBSTANCE_USE",
            "HOME_UNSAFE",
            "HOUSING_UNSTABLE",
            "NO_SUPPORT_MODERATE_SUD",
            NO_SUPPORT,
            COMMITMENTS,
            CANNOT_ATTEND,
        ),
    ),
]


@pytest.mark.parametrize(("name", "domain", "changes", "rating", "evidence"), CASES, ids=[c[0] for c in CASES])
def test_domain_rating_and_evidence(name, domain, changes, rating, evidence):
    result = evaluate(quiet(**changes))

    summary = result.domain(domain)
    assert (summary.rating, summary.label, summary.evidence) == (rating, LABELS[rating], evidence)


def test_domain_summary_follows_the_rule_set_version():
    raw = quiet(substances=["alcohol"], ciwa_ar=12)

    assert evaluate(raw, "2026.11").domain("withdrawal").evidence == ("DETOX_ALCOHOL", LISTED)
    assert evaluate(raw, "2027.01").domain("withdrawal").evidence == (LISTED,)
    assert evaluate(raw, "2027.01").domain("withdrawal").rating == 1


# The tables.


def test_domains_are_the_six_of_design_in_order():
    assert [str(d) for d in Domain] == SIX
    assert [row.domain for row in rules.DOMAINS] == list(Domain)
    assert list(rules.RATING_LABELS) == LABELS


DESIGN_DOMAIN_RULES = {
    "withdrawal": [
        "DETOX_COMPLICATED",
        "DETOX_ALCOHOL",
        "DETOX_OPIOID",
        "DETOX_HIGH_RISK_HISTORY",
        "DETOX_PAWSS",
        "DETOX_SEDATIVES",
    ],
    "physical": ["MEDICAL_UNSTABLE", "DETOX_PREGNANCY"],
    "mental": [
        "EMERGENCY_SUICIDE_RISK",
        "EMERGENCY_HOMICIDE_RISK",
        "DEPRESSION_SEVERE",
        "ANXIETY_SEVERE",
        "PSYCHOSIS",
        "MENTAL_HEALTH_UNSTABLE",
    ],
    "readiness": [],
    "continued_use": ["SEVERE_SUD", "RELAPSE_AFTER_OUTPATIENT"],
    "environment": ["HOME_SUBSTANCE_USE", "HOME_UNSAFE", "HOUSING_UNSTABLE", "NO_SUPPORT_MODERATE_SUD"],
}


def test_domain_rules_are_design_table():
    assert {str(row.domain): list(row.rules) for row in rules.DOMAINS} == DESIGN_DOMAIN_RULES


def test_every_rule_belongs_to_exactly_one_domain():
    counts = Counter(code for row in rules.DOMAINS for code in row.rules)

    assert sorted(counts) == sorted(r.code for r in rules.RULES)
    assert set(counts.values()) == {1}


def test_domain_answers_partition_the_questionnaire():
    listed = [name for row in rules.DOMAINS for name in row.answers]

    assert sorted(listed) == sorted(f.name for f in fields(rules.Answers))


RULE_RATINGS = {
    "EMERGENCY_SUICIDE_RISK": 4,
    "EMERGENCY_HOMICIDE_RISK": 4,
    "DETOX_COMPLICATED": 4,
    "HOME_SUBSTANCE_USE": 2,
    "HOME_UNSAFE": 2,
    "HOUSING_UNSTABLE": 2,
    "NO_SUPPORT_MODERATE_SUD": 2,
    "RELAPSE_AFTER_OUTPATIENT": 2,
}


@pytest.mark.parametrize("rule", rules.RULES, ids=[r.code for r in rules.RULES])
def test_rule_rating_severe_for_emergency_high_for_other_inpatient_moderate_for_residential(rule):
    assert rules.rule_rating(rule) == RULE_RATINGS.get(rule.code, 3)


def test_signals_rate_low_or_moderate_and_read_distinctly():
    texts = [text for _, text in rules.signal_texts()]

    assert {s.rating for s in rules.SIGNALS} == {1, 2}
    assert len(set(texts)) == len(texts)
    assert not set(texts) & {r.code for r in rules.RULES}


def test_signals_of_a_domain_are_moderate_then_low():
    for domain in Domain:
        ratings = [s.rating for s in rules.SIGNALS if s.domain is domain]
        assert ratings == sorted(ratings, reverse=True), domain


def test_item9_signal_text_carries_the_version_threshold():
    assert ITEM9 in [text for _, text in rules.signal_texts("2026.11")]


DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_rules_doc_lists_domains_and_signals_as_the_code_does():
    lines = DOC.read_text().splitlines()
    name = "|".join(SIX)
    domain_rows = [m.groups() for line in lines if (m := re.match(rf"^\| `({name})` \| [a-z ]+ \| ([^|]+) \|$", line))]
    signal_rows = [m.groups() for line in lines if (m := re.match(rf"^\| `({name})` \| (\d) \| (.+?) \| .+ \|$", line))]

    assert domain_rows == [(str(row.domain), ", ".join(row.rules) or "—") for row in rules.DOMAINS]
    assert signal_rows == [(str(s.domain), str(int(s.rating)), text) for s, text in rules.signal_texts()]


# The output.


def test_to_dict_domains_shape():
    out = evaluate(baseline(ciwa_ar=12, family_commitments=True)).to_dict()

    assert list(out["domains"]) == SIX
    assert out["domains"]["withdrawal"] == {"rating": 3, "label": "high", "evidence": ["DETOX_ALCOHOL", LISTED]}
    for value in out["domains"].values():
        assert list(value) == ["rating", "label", "evidence"]
        assert value["label"] == LABELS[value["rating"]]
    assert json.loads(json.dumps(out)) == out


VIGNETTES = load_vignettes()


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["name"] for v in VIGNETTES])
def test_vignette_domain_ratings_match_expected_exactly(vignette):
    out = evaluate(vignette["answers"]).to_dict()

    assert {name: d["rating"] for name, d in out["domains"].items()} == vignette["expected"]["domains"]


# Properties over every valid answer set: the summary follows §10 and never decides the level.

SEVERE_RULES = {"EMERGENCY_SUICIDE_RISK", "EMERGENCY_HOMICIDE_RISK", "DETOX_COMPLICATED"}
RESIDENTIAL_RULES = {"HOME_SUBSTANCE_USE", "HOME_UNSAFE", "HOUSING_UNSTABLE", "NO_SUPPORT_MODERATE_SUD"}
RESIDENTIAL_RULES |= {"RELAPSE_AFTER_OUTPATIENT"}


def design_ratings(raw: dict, result: rules.Recommendation) -> dict[str, int]:
    """§10 read straight from DESIGN.md: the rules that held, the answers and the §3 bands."""
    b, held, subs = result.bands, set(result.reason_codes), set(raw["substances"])
    signals = {
        "withdrawal": [
            (2, b.cows == "mild"),
            (1, bool(subs & {"alcohol", "opioids", "sedatives"})),
            (1, raw["withdrawal_seizure_or_dt_history"]),
        ],
        "physical": [(1, raw["pregnant"])],
        "mental": [
            (2, b.phq9 in ("moderate", "moderately_severe")),
            (2, b.gad7 == "moderate"),
            (2, raw["phq9_item9"] >= 1),
            (2, b.cssrs in ("low", "moderate")),
            (1, "mild" in (b.phq9, b.gad7)),
            (1, raw["mental_health_condition"] == "stable"),
        ],
        "readiness": [(2, raw["readiness"] == "precontemplation"), (1, raw["readiness"] == "contemplation")],
        "continued_use": [(2, b.dsm5 == "moderate"), (1, b.dsm5 == "mild"), (1, raw["recent_higher_level_care"])],
        "environment": [
            (1, not raw["supportive_network"]),
            (1, raw["work_or_school_commitments"] or raw["family_commitments"]),
            (1, not raw["can_attend_9h_week"]),
        ],
    }
    ratings = {}
    for domain, codes in DESIGN_DOMAIN_RULES.items():
        from_rules = [4 if c in SEVERE_RULES else 2 if c in RESIDENTIAL_RULES else 3 for c in held & set(codes)]
        from_signals = [rating for rating, holds in signals[domain] if holds]
        ratings[domain] = max([0, *from_rules, *from_signals])
    return ratings


@given(valid_answers(), st.sampled_from(list(rules.RULE_SETS)))
def test_ratings_follow_design_for_every_valid_answer_set(raw, version):
    result = evaluate(raw, version)

    assert {str(d.domain): d.rating for d in result.domains} == design_ratings(raw, result)


@given(valid_answers(), st.sampled_from(list(rules.RULE_SETS)))
def test_evidence_lists_each_rule_that_held_once_in_its_domain(raw, version):
    result = evaluate(raw, version)

    rule_codes = {r.code for r in rules.RULES}
    listed = [e for d in result.domains for e in d.evidence if e in rule_codes]
    held = [code for code in result.reason_codes if not code.startswith("IOP_")]
    assert sorted(listed) == sorted(held)
    for d in result.domains:
        codes = [e for e in d.evidence if e in rule_codes]
        assert codes == [c for c in DESIGN_DOMAIN_RULES[d.domain] if c in held]
        assert d.evidence[: len(codes)] == tuple(codes)


@given(valid_answers())
def test_summary_agrees_with_level_and_flags(raw):
    result = evaluate(raw)

    top = max(d.rating for d in result.domains)
    assert (top == 4) == ("emergency_referral" in result.flags)
    assert (top >= 3) == (result.level == Level.INPATIENT)
    if result.level == Level.RESIDENTIAL:
        assert top == 2
    if result.level == Level.IOP:
        assert top <= 2
        assert not {e for d in result.domains for e in d.evidence} & {r.code for r in rules.RULES}
