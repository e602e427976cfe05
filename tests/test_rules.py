import ast
import copy
from dataclasses import MISSING, asdict, fields
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screening import questionnaire, rules
from screening.rules import Flag, Level
from tests.answers import baseline, load_vignettes
from tests.strategies import DSM5, SUBSTANCES, valid_answers


def evaluate(raw: dict, version: str = rules.RULES_VERSION) -> rules.Recommendation:
    return rules.evaluate(questionnaire.parse(raw), version)


def test_baseline_is_iop_with_no_flags():
    result = evaluate(baseline())

    assert result.level == Level.IOP
    assert result.flags == ()
    assert result.pathway == ("iop",)
    assert result.reason_codes == ("IOP_NO_DETOX", "IOP_SEVERITY_MANAGEABLE", "IOP_SAFE_HOME", "IOP_SUPPORTIVE_NETWORK")
    assert result.rules_version == "2026.11"


# Each rule switched on alone against the IOP baseline: (rule code, answer changes).
SEVEN = ["larger_amounts", "cut_down", "time_spent", "craving", "role_failure", "social_problems"]
RULE_ALONE = [
    ("EMERGENCY_SUICIDE_RISK", {"cssrs__suicidal_thoughts": True, "cssrs__plan": True}),
    ("EMERGENCY_HOMICIDE_RISK", {"homicidal_ideation": True}),
    ("DETOX_COMPLICATED", {"complicated_withdrawal_now": True}),
    ("DETOX_ALCOHOL", {"ciwa_ar": 10}),
    ("DETOX_OPIOID", {"substances": ["alcohol", "opioids"], "cows": 13}),
    ("DETOX_HIGH_RISK_HISTORY", {"withdrawal_seizure_or_dt_history": True}),
    ("DETOX_PAWSS", {"pawss": 4}),
    ("DETOX_SEDATIVES", {"substances": ["alcohol", "sedatives"], "daily_sedative_use": True}),
    ("DETOX_PREGNANCY", {"pregnant": True}),
    ("MEDICAL_UNSTABLE", {"unstable_medical_condition": True}),
    ("SEVERE_SUD", {"dsm5_criteria": SEVEN}),
    ("DEPRESSION_SEVERE", {"phq9_total": 20}),
    ("ANXIETY_SEVERE", {"gad7_total": 15}),
    ("PSYCHOSIS", {"psychotic_symptoms": True}),
    ("MENTAL_HEALTH_UNSTABLE", {"mental_health_condition": "unstable"}),
    ("HOME_SUBSTANCE_USE", {"lives_with_substance_users": True}),
    ("HOME_UNSAFE", {"home_safe": False}),
    ("HOUSING_UNSTABLE", {"stable_housing": False}),
    ("NO_SUPPORT_MODERATE_SUD", {"supportive_network": False, "dsm5_criteria": SEVEN[:4]}),
    ("RELAPSE_AFTER_OUTPATIENT", {"relapse_after_outpatient_12mo": True, "dsm5_criteria": SEVEN[:4]}),
]


def test_rule_alone_table_covers_every_rule():
    assert [code for code, _ in RULE_ALONE] == [r.code for r in rules.RULES]


@pytest.mark.parametrize(("code", "changes"), RULE_ALONE, ids=[c for c, _ in RULE_ALONE])
def test_rule_alone_gives_its_level_and_only_its_reason(code, changes):
    rule = next(r for r in rules.RULES if r.code == code)

    result = evaluate(baseline(**changes))

    assert result.level == rule.level
    assert result.reason_codes == (code,)
    assert result.reasons[0].level == rule.level
    assert result.reasons[0].text


# `level` (what the replay compares) is the level `evaluate` recommends, under every version.
@pytest.mark.parametrize(("code", "changes"), RULE_ALONE, ids=[c for c, _ in RULE_ALONE])
@pytest.mark.parametrize("version", list(rules.RULE_SETS))
def test_level_alone_is_evaluates_level_for_each_rule(code, changes, version):
    answers = questionnaire.parse(baseline(**changes))

    assert rules.level(answers, version) is rules.evaluate(answers, version).level


@given(valid_answers(), st.sampled_from(list(rules.RULE_SETS)))
def test_level_alone_is_evaluates_level(raw, version):
    answers = questionnaire.parse(raw)

    assert rules.level(answers, version) is rules.evaluate(answers, version).level


def test_level_alone_of_an_unknown_version_raises():
    with pytest.raises(ValueError, match="unknown rule set version"):
        rules.level(questionnaire.parse(baseline()), "1999.01")


# The same rules just below their thresholds do not hold (the other side of each boundary).
BELOW_THRESHOLD = [
    ("ciwa_ar-9", {"ciwa_ar": 9}),
    ("cows-12", {"substances": ["alcohol", "opioids"], "cows": 12}),
    ("pawss-3", {"pawss": 3}),
    ("pawss-null", {"pawss": None}),
    ("dsm5-5", {"dsm5_criteria": SEVEN[:5]}),
    ("phq9-19", {"phq9_total": 19}),
    ("gad7-14", {"gad7_total": 14}),
    ("mh-stable", {"mental_health_condition": "stable"}),
    ("no-support-3-criteria", {"supportive_network": False, "dsm5_criteria": SEVEN[:3]}),
    ("relapse-3-criteria", {"relapse_after_outpatient_12mo": True, "dsm5_criteria": SEVEN[:3]}),
    (
        "seizure-history-opioids-only",
        {
            "substances": ["opioids"],
            "ciwa_ar": None,
            "pawss": None,
            "cows": 0,
            "withdrawal_seizure_or_dt_history": True,
        },
    ),
    ("pregnant-cannabis-only", {"substances": ["cannabis"], "ciwa_ar": None, "pawss": None, "pregnant": True}),
    ("cssrs-moderate", {"cssrs__suicidal_thoughts": True, "cssrs__method": True}),
]


@pytest.mark.parametrize(("name", "changes"), BELOW_THRESHOLD, ids=[n for n, _ in BELOW_THRESHOLD])
def test_below_threshold_stays_iop(name, changes):
    assert evaluate(baseline(**changes)).level == Level.IOP


def test_inpatient_outranks_residential_and_reports_both():
    result = evaluate(baseline(phq9_total=22, lives_with_substance_users=True))

    assert result.level == Level.INPATIENT
    assert result.reason_codes == ("DEPRESSION_SEVERE", "HOME_SUBSTANCE_USE")
    assert [r.level for r in result.reasons] == [Level.INPATIENT, Level.RESIDENTIAL]


def test_reasons_follow_table_order_not_input_order():
    result = evaluate(baseline(home_safe=False, homicidal_ideation=True, ciwa_ar=12, gad7_total=18))

    assert result.reason_codes == ("EMERGENCY_HOMICIDE_RISK", "DETOX_ALCOHOL", "ANXIETY_SEVERE", "HOME_UNSAFE")


def test_level_rank_order():
    assert Level.INPATIENT.rank > Level.RESIDENTIAL.rank > Level.IOP.rank


@pytest.mark.parametrize(
    ("changes", "pathway"),
    [
        ({}, ("iop",)),
        ({"home_safe": False}, ("residential",)),
        ({"ciwa_ar": 12}, ("medically_supervised_detox", "iop")),
        ({"ciwa_ar": 12, "home_safe": False}, ("medically_supervised_detox", "residential")),
        ({"psychotic_symptoms": True}, ("inpatient", "iop")),
        ({"psychotic_symptoms": True, "stable_housing": False}, ("inpatient", "residential")),
        ({"ciwa_ar": 12, "psychotic_symptoms": True}, ("medically_supervised_detox", "inpatient", "iop")),
        (
            {"ciwa_ar": 12, "psychotic_symptoms": True, "lives_with_substance_users": True},
            ("medically_supervised_detox", "inpatient", "residential"),
        ),
    ],
    ids=[
        "iop",
        "residential",
        "detox-iop",
        "detox-residential",
        "inpatient-iop",
        "inpatient-residential",
        "detox-inpatient-iop",
        "detox-inpatient-residential",
    ],
)
def test_pathway_shapes(changes, pathway):
    assert evaluate(baseline(**changes)).pathway == pathway


FLAG_CASES = [
    # (flag, answers that raise it, answers that do not)
    ("emergency_referral", {"homicidal_ideation": True}, {"psychotic_symptoms": True}),
    ("emergency_referral", {"complicated_withdrawal_now": True}, {"ciwa_ar": 30}),
    ("safety_review", {"phq9_item9": 1, "phq9_total": 7}, {"phq9_item9": 0}),
    ("safety_review", {"cssrs__wish_dead": True}, {"cssrs__behavior": "never"}),
    ("safety_review", {"cssrs__behavior": "over_3_months"}, {}),
    ("detox_first", {"ciwa_ar": 10}, {"ciwa_ar": 9}),
    ("below_iop_threshold", {"dsm5_criteria": ["craving"]}, {"dsm5_criteria": ["craving", "tolerance"]}),
    ("no_support_network", {"supportive_network": False}, {"supportive_network": True}),
    ("commitments_conflict", {"home_safe": False, "family_commitments": True}, {"family_commitments": True}),
    ("commitments_conflict", {"ciwa_ar": 15, "work_or_school_commitments": True}, {"ciwa_ar": 15}),
    ("attendance_barrier", {"can_attend_9h_week": False}, {"can_attend_9h_week": True}),
]


@pytest.mark.parametrize(
    ("flag", "raise_it", "not_it"), FLAG_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FLAG_CASES)]
)
def test_flag_raised_and_not_raised(flag, raise_it, not_it):
    assert flag in evaluate(baseline(**raise_it)).flags
    assert flag not in evaluate(baseline(**not_it)).flags


def test_safety_review_not_raised_with_emergency_referral():
    result = evaluate(baseline(phq9_item9=2, phq9_total=10, homicidal_ideation=True))

    assert "emergency_referral" in result.flags
    assert "safety_review" not in result.flags


def test_iop_only_flags_not_raised_above_iop():
    result = evaluate(baseline(home_safe=False, supportive_network=False, can_attend_9h_week=False, dsm5_criteria=[]))

    assert result.level == Level.RESIDENTIAL
    assert not {"no_support_network", "attendance_barrier", "below_iop_threshold"} & set(result.flags)


def test_flags_are_sorted():
    result = evaluate(baseline(ciwa_ar=12, family_commitments=True, phq9_item9=1, phq9_total=7))

    assert list(result.flags) == sorted(result.flags) == ["commitments_conflict", "detox_first", "safety_review"]


def test_iop_reasons_in_order_with_all_optional():
    result = evaluate(baseline(work_or_school_commitments=True, recent_higher_level_care=True))

    assert result.reason_codes == (
        "IOP_NO_DETOX",
        "IOP_SEVERITY_MANAGEABLE",
        "IOP_SAFE_HOME",
        "IOP_SUPPORTIVE_NETWORK",
        "IOP_COMMITMENTS",
        "IOP_STEP_DOWN",
    )


def test_null_score_never_holds():
    result = evaluate(baseline(substances=["cannabis"], ciwa_ar=None, pawss=None))

    assert result.level == Level.IOP
    assert result.bands.ciwa_ar is None and result.bands.cows is None and result.bands.pawss is None


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="unknown rule set version"):
        evaluate(baseline(), version="1999.01")


VIGNETTES = load_vignettes()


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["name"] for v in VIGNETTES])
def test_vignette_matches_expected_exactly(vignette):
    expected = vignette["expected"]

    out = evaluate(vignette["answers"]).to_dict()

    assert out["level"] == expected["level"]
    assert out["flags"] == expected["flags"]
    assert out["pathway"] == expected["pathway"]
    assert [r["code"] for r in out["reasons"]] == expected["reason_codes"]
    assert out["bands"] == expected["bands"]


def test_output_shape_matches_design():
    out = evaluate(baseline()).to_dict()

    assert set(out) == {"level", "flags", "pathway", "reasons", "rules_version", "bands", "domains"}
    assert set(out["bands"]) == {"phq9", "gad7", "ciwa_ar", "cows", "pawss", "dsm5", "cssrs"}
    assert set(out["reasons"][0]) == {"code", "level", "text"}


@given(valid_answers())
def test_every_valid_answer_set_gets_one_of_three_levels(raw):
    result = evaluate(raw)

    assert result.level in {Level.IOP, Level.RESIDENTIAL, Level.INPATIENT}
    assert result.pathway[-1] in {"iop", "residential"}
    assert result.reasons
    assert (result.level == Level.IOP) == all(r.code.startswith("IOP_") for r in result.reasons)


# Monotonicity: one answer made riskier never lowers the level.
RISKIER_TRUE = [
    "withdrawal_seizure_or_dt_history",
    "complicated_withdrawal_now",
    "unstable_medical_condition",
    "pregnant",
    "psychotic_symptoms",
    "homicidal_ideation",
    "relapse_after_outpatient_12mo",
    "lives_with_substance_users",
]
RISKIER_FALSE = ["home_safe", "stable_housing", "supportive_network", "can_attend_9h_week"]
MH_ORDER = ["none", "stable", "unstable"]
BEHAVIOR_ORDER = ["never", "over_3_months", "past_3_months"]


def riskier_variants(raw: dict):
    """Every answer set that differs from raw by one answer made riskier, and still valid."""

    def variant(**changes):
        new = copy.deepcopy(raw)
        for key, value in changes.items():
            if "__" in key:
                outer, inner = key.split("__")
                new[outer][inner] = value
            else:
                new[key] = value
        return new

    for name in RISKIER_TRUE:
        if not raw[name]:
            yield variant(**{name: True})
    for name in RISKIER_FALSE:
        if raw[name]:
            yield variant(**{name: False})
    if "sedatives" in raw["substances"] and not raw["daily_sedative_use"]:
        yield variant(daily_sedative_use=True)
    for name, top in (("ciwa_ar", 67), ("cows", 48), ("pawss", 10), ("gad7_total", 21)):
        if raw[name] is not None and raw[name] < top:
            yield variant(**{name: raw[name] + 1})
    if "alcohol" in raw["substances"] and raw["pawss"] is None:
        yield variant(pawss=0)
    if raw["phq9_total"] - raw["phq9_item9"] < 24:
        yield variant(phq9_total=raw["phq9_total"] + 1)
    if raw["phq9_item9"] < 3:
        yield variant(phq9_item9=raw["phq9_item9"] + 1, phq9_total=raw["phq9_total"] + 1)
    for code in DSM5:
        if code not in raw["dsm5_criteria"]:
            yield variant(dsm5_criteria=[*raw["dsm5_criteria"], code])
    for sub in SUBSTANCES:
        if sub not in raw["substances"]:
            extra = {"alcohol": {"ciwa_ar": 0}, "opioids": {"cows": 0}}.get(sub, {})
            yield variant(substances=[*raw["substances"], sub], **extra)
    i = MH_ORDER.index(raw["mental_health_condition"])
    if i < 2:
        yield variant(mental_health_condition=MH_ORDER[i + 1])
    c = raw["cssrs"]
    for q in ("wish_dead", "suicidal_thoughts"):
        if not c[q]:
            yield variant(**{f"cssrs__{q}": True})
    if c["suicidal_thoughts"]:
        for q in ("method", "intent", "plan"):
            if not c[q]:
                yield variant(**{f"cssrs__{q}": True})
    b = BEHAVIOR_ORDER.index(c["behavior"])
    if b < 2:
        yield variant(cssrs__behavior=BEHAVIOR_ORDER[b + 1])


@given(valid_answers())
def test_monotonic_riskier_answer_never_lowers_level(raw):
    level = evaluate(raw).level

    for riskier in riskier_variants(raw):
        assert evaluate(riskier).level.rank >= level.rank, riskier


@given(valid_answers(), st.sampled_from(list(rules.RULE_SETS)))
def test_every_registered_version_evaluates(raw, version):
    assert evaluate(raw, version).rules_version == version


# Rule set versions are written out in full (DESIGN.md §4 and §9).
DESIGN_THRESHOLDS_2026_11 = {
    "ciwa_ar_detox": 10,
    "cows_detox": 13,
    "pawss_detox": 4,
    "dsm5_severe": 6,
    "dsm5_moderate": 4,
    "dsm5_mild": 2,
    "phq9_severe": 20,
    "gad7_severe": 15,
    "phq9_item9_safety_review": 1,
}


def test_thresholds_have_no_defaults():
    assert [
        f.name for f in fields(rules.Thresholds) if f.default is not MISSING or f.default_factory is not MISSING
    ] == []


def test_every_rule_set_states_every_threshold_by_name():
    tree = ast.parse(Path(rules.__file__).read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Thresholds"]
    names = [f.name for f in fields(rules.Thresholds)]

    assert len(calls) == len(rules.RULE_SETS)
    for call in calls:
        assert call.args == []
        assert [k.arg for k in call.keywords] == names


def test_rule_set_2026_11_is_design():
    assert asdict(rules.RULE_SETS["2026.11"].thresholds) == DESIGN_THRESHOLDS_2026_11


def test_rule_set_2027_01_differs_only_in_the_alcohol_detox_line():
    assert asdict(rules.RULE_SETS["2027.01"].thresholds) == {**DESIGN_THRESHOLDS_2026_11, "ciwa_ar_detox": 19}


def test_rule_set_keys_are_their_versions():
    assert [rs.version for rs in rules.RULE_SETS.values()] == list(rules.RULE_SETS)


# Override policy (DESIGN.md §5): a lower level is refused while emergency_referral or detox_first is raised.
OVERRIDE_CASES = [
    ("down-with-detox-first", "inpatient", "iop", ["detox_first", "commitments_conflict"], ("detox_first",)),
    ("down-one-with-emergency", "inpatient", "residential", ["emergency_referral"], ("emergency_referral",)),
    (
        "down-with-both",
        "inpatient",
        "iop",
        ["detox_first", "emergency_referral"],
        ("emergency_referral", "detox_first"),
    ),
    ("down-without-blocking-flag", "residential", "iop", ["safety_review", "commitments_conflict"], ()),
    ("down-with-no-flags", "inpatient", "residential", [], ()),
    ("up-with-emergency", "iop", "inpatient", ["emergency_referral", "detox_first"], ()),
    ("up-one-with-detox-first", "residential", "inpatient", ["detox_first"], ()),
    ("same-level-with-both", "inpatient", "inpatient", ["emergency_referral", "detox_first"], ()),
]


@pytest.mark.parametrize(
    ("name", "recommended", "chosen", "flags", "blockers"), OVERRIDE_CASES, ids=[c[0] for c in OVERRIDE_CASES]
)
def test_override_blockers_cases(name, recommended, chosen, flags, blockers):
    assert rules.override_blockers(Level(recommended), Level(chosen), flags) == blockers


ALL_FLAG_SETS = [frozenset(c) for n in range(len(Flag) + 1) for c in combinations(Flag, n)]
LEVEL_PAIRS = [(r, c) for r in Level for c in Level]


@pytest.mark.parametrize(("recommended", "chosen"), LEVEL_PAIRS, ids=[f"{r}-to-{c}" for r, c in LEVEL_PAIRS])
def test_override_blockers_every_flag_combination(recommended, chosen):
    lower = chosen.rank < recommended.rank

    for raised in ALL_FLAG_SETS:
        expected = tuple(f for f in (Flag.EMERGENCY_REFERRAL, Flag.DETOX_FIRST) if lower and f in raised)
        assert rules.override_blockers(recommended, chosen, raised) == expected, raised


def test_override_blockers_accepts_stored_strings():
    blockers = rules.override_blockers("inpatient", "iop", ["detox_first", "emergency_referral"])

    assert blockers == (Flag.EMERGENCY_REFERRAL, Flag.DETOX_FIRST)
    assert all(isinstance(f, Flag) for f in blockers)


def test_override_blocker_text_names_each_blocking_flag():
    assert dict(rules.OVERRIDE_BLOCKER_TEXT) == {
        "emergency_referral": "an emergency referral",
        "detox_first": "detox first",
    }
    assert rules.OVERRIDE_BLOCKING_FLAGS == (Flag.EMERGENCY_REFERRAL, Flag.DETOX_FIRST)


def test_iop_goals_are_design_program_goals():
    assert rules.IOP_GOALS == (
        "Establish support mechanisms",
        "Help with relapse management",
        "Build coping strategies",
    )


@pytest.mark.parametrize(
    ("recommended", "final", "applies"),
    [
        ("iop", "", True),
        ("iop", "residential", True),
        ("residential", "iop", True),
        ("inpatient", "iop", True),
        ("residential", "", False),
        ("inpatient", "residential", False),
        ("residential", "residential", False),
    ],
    ids=lambda v: v if isinstance(v, str) and v else "-",
)
def test_iop_goals_and_groups_belong_when_iop_is_recommended_or_chosen(recommended, final, applies):
    assert rules.iop_program_applies(recommended, final) is applies


@pytest.mark.parametrize("final", [lv.value for lv in rules.Level])
def test_specialty_groups_are_kept_only_at_iop(final):
    assert rules.specialty_groups_kept(final) is (final == "iop")


# --- Flags by urgency, each with what raised it (DESIGN.md §5, issue 14).


def test_flag_order_puts_every_safety_flag_before_every_planning_flag():
    assert set(rules.FLAG_ORDER) == set(Flag)
    assert rules.FLAG_ORDER[:3] == (Flag.EMERGENCY_REFERRAL, Flag.DETOX_FIRST, Flag.SAFETY_REVIEW)
    assert {Flag.EMERGENCY_REFERRAL, Flag.DETOX_FIRST, Flag.SAFETY_REVIEW} == rules.SAFETY_FLAGS


def test_flag_labels_write_iop_in_capitals():
    assert rules.FLAG_LABELS[Flag.BELOW_IOP_THRESHOLD] == "Below IOP threshold"
    assert rules.FLAG_LABELS[Flag.EMERGENCY_REFERRAL] == "Emergency referral"
    assert set(rules.FLAG_LABELS) == set(Flag)


PLAN = {"cssrs__suicidal_thoughts": True, "cssrs__plan": True}
# (answer changes against the IOP baseline, flag, exactly the causes it shows). Every cause of every flag.
FLAG_CAUSES = [
    ({"phq9_item9": 1, "phq9_total": 7}, Flag.SAFETY_REVIEW, ["PHQ-9 item 9 (thoughts of death or self-harm) = 1"]),
    ({"phq9_item9": 2, "phq9_total": 8}, Flag.SAFETY_REVIEW, ["PHQ-9 item 9 (thoughts of death or self-harm) = 2"]),
    ({"cssrs__wish_dead": True}, Flag.SAFETY_REVIEW, ["C-SSRS Q1 (wished to be dead) = yes"]),
    ({"cssrs__suicidal_thoughts": True}, Flag.SAFETY_REVIEW, ["C-SSRS Q2 (thoughts of killing oneself) = yes"]),
    (
        {"cssrs__suicidal_thoughts": True, "cssrs__method": True},
        Flag.SAFETY_REVIEW,
        ["C-SSRS Q2 (thoughts of killing oneself) = yes", "C-SSRS Q3 (thought about how) = yes"],
    ),
    (
        {"cssrs__behavior": "over_3_months", "phq9_item9": 3, "phq9_total": 9, "cssrs__wish_dead": True},
        Flag.SAFETY_REVIEW,
        [
            "PHQ-9 item 9 (thoughts of death or self-harm) = 3",
            "C-SSRS Q1 (wished to be dead) = yes",
            "C-SSRS Q6 (suicidal behaviour) = over 3 months ago",
        ],
    ),
    (
        {"cssrs__suicidal_thoughts": True, "cssrs__intent": True},
        Flag.EMERGENCY_REFERRAL,
        ["C-SSRS Q4 (some intention of acting) = yes"],
    ),
    (PLAN, Flag.EMERGENCY_REFERRAL, ["C-SSRS Q5 (worked out a plan) = yes"]),
    (
        {"cssrs__behavior": "past_3_months", "cssrs__wish_dead": True},
        Flag.EMERGENCY_REFERRAL,
        ["C-SSRS Q6 (suicidal behaviour) = in the past 3 months"],
    ),
    (
        {"homicidal_ideation": True},
        Flag.EMERGENCY_REFERRAL,
        ["Thoughts of harming others with intent or a plan = yes"],
    ),
    (
        {"complicated_withdrawal_now": True},
        Flag.EMERGENCY_REFERRAL,
        ["Seizure, delirium or new hallucinations in the current withdrawal = yes"],
    ),
    (
        {"complicated_withdrawal_now": True},
        Flag.DETOX_FIRST,
        ["Seizure, delirium or new hallucinations in the current withdrawal = yes"],
    ),
    (
        {**PLAN, "homicidal_ideation": True, "complicated_withdrawal_now": True},
        Flag.EMERGENCY_REFERRAL,
        [
            "C-SSRS Q5 (worked out a plan) = yes",
            "Thoughts of harming others with intent or a plan = yes",
            "Seizure, delirium or new hallucinations in the current withdrawal = yes",
        ],
    ),
    ({"ciwa_ar": 10}, Flag.DETOX_FIRST, ["CIWA-Ar = 10 (10 or more)"]),
    (
        {"substances": ["opioids"], "ciwa_ar": None, "pawss": None, "cows": 13},
        Flag.DETOX_FIRST,
        ["COWS = 13 (13 or more)"],
    ),
    ({"pawss": 4}, Flag.DETOX_FIRST, ["PAWSS = 4 (4 or more)"]),
    (
        {"withdrawal_seizure_or_dt_history": True},
        Flag.DETOX_FIRST,
        ["Withdrawal seizure or delirium tremens in the past = yes, with alcohol listed"],
    ),
    (
        {"substances": ["alcohol", "sedatives"], "withdrawal_seizure_or_dt_history": True},
        Flag.DETOX_FIRST,
        ["Withdrawal seizure or delirium tremens in the past = yes, with alcohol and sedatives listed"],
    ),
    (
        {"substances": ["alcohol", "sedatives"], "daily_sedative_use": True},
        Flag.DETOX_FIRST,
        ["Daily benzodiazepine or barbiturate use = yes"],
    ),
    ({"pregnant": True}, Flag.DETOX_FIRST, ["Currently pregnant = yes, with alcohol listed"]),
    (
        {"substances": ["alcohol", "opioids"], "cows": 2, "pregnant": True},
        Flag.DETOX_FIRST,
        ["Currently pregnant = yes, with alcohol and opioids listed"],
    ),
    (
        {"ciwa_ar": 12, "pawss": 5, "withdrawal_seizure_or_dt_history": True, "pregnant": True},
        Flag.DETOX_FIRST,
        [
            "CIWA-Ar = 12 (10 or more)",
            "Withdrawal seizure or delirium tremens in the past = yes, with alcohol listed",
            "PAWSS = 5 (4 or more)",
            "Currently pregnant = yes, with alcohol listed",
        ],
    ),
    ({"dsm5_criteria": []}, Flag.BELOW_IOP_THRESHOLD, ["0 DSM-5 criteria met (fewer than 2)"]),
    ({"dsm5_criteria": ["craving"]}, Flag.BELOW_IOP_THRESHOLD, ["1 DSM-5 criterion met (fewer than 2)"]),
    ({"supportive_network": False}, Flag.NO_SUPPORT_NETWORK, ["Has family or friends who support recovery = no"]),
    (
        {"home_safe": False, "work_or_school_commitments": True},
        Flag.COMMITMENTS_CONFLICT,
        ["Work or school commitments = yes"],
    ),
    (
        {"home_safe": False, "family_commitments": True},
        Flag.COMMITMENTS_CONFLICT,
        ["Caregiving or other family duties = yes"],
    ),
    (
        {"home_safe": False, "work_or_school_commitments": True, "family_commitments": True},
        Flag.COMMITMENTS_CONFLICT,
        ["Work or school commitments = yes", "Caregiving or other family duties = yes"],
    ),
    (
        {"can_attend_9h_week": False},
        Flag.ATTENDANCE_BARRIER,
        ["Can attend at least 9 hours of sessions a week = no"],
    ),
]


def _explanation(result: rules.Recommendation, flag: Flag) -> rules.FlagExplanation:
    return next(e for e in rules.explain_flags(result) if e.flag is flag)


@pytest.mark.parametrize(
    ("changes", "flag", "causes"),
    FLAG_CAUSES,
    ids=[f"{flag}-{'-'.join(f'{k}={v}' for k, v in changes.items())}" for changes, flag, _ in FLAG_CAUSES],
)
def test_explain_flags_names_what_raised_each_flag(changes, flag, causes):
    result = evaluate(baseline(**changes))

    explanation = _explanation(result, flag)

    assert explanation.causes == tuple(causes)
    assert explanation.safety is (flag in rules.SAFETY_FLAGS)
    assert explanation.text == rules.FLAG_TEXT[flag] == f"{explanation.label}: {explanation.advice}"


def test_flag_causes_table_covers_every_flag():
    assert {flag for _, flag, _ in FLAG_CAUSES} == set(Flag)


def test_explain_flags_states_the_threshold_of_the_rule_set_version():
    result = evaluate(baseline(ciwa_ar=19), "2027.01")

    assert _explanation(result, Flag.DETOX_FIRST).causes == ("CIWA-Ar = 19 (19 or more)",)


def test_explain_flags_orders_safety_first_whatever_the_codes_sort():
    result = evaluate(
        baseline(
            ciwa_ar=12,
            phq9_item9=1,
            phq9_total=7,
            work_or_school_commitments=True,
            supportive_network=False,
            dsm5_criteria=[],
        )
    )

    assert [e.flag for e in rules.explain_flags(result)] == [
        Flag.DETOX_FIRST,
        Flag.SAFETY_REVIEW,
        Flag.COMMITMENTS_CONFLICT,
    ]
    assert result.flags == ("commitments_conflict", "detox_first", "safety_review")  # the stored order stays sorted


def test_explain_flags_of_no_flag_is_empty():
    assert rules.explain_flags(evaluate(baseline())) == ()


@given(valid_answers(), st.sampled_from(list(rules.RULE_SETS)))
def test_explain_flags_explains_exactly_the_raised_flags_in_urgency_order(raw, version):
    result = evaluate(raw, version)

    explained = rules.explain_flags(result)

    assert [e.flag for e in explained] == [f for f in rules.FLAG_ORDER if f in result.flags]
    assert all(e.causes for e in explained), "every flag says what raised it"
    safety = [e.safety for e in explained]
    assert safety == sorted(safety, reverse=True), "safety flags lead"
