"""Reassessment (issue 14, item 6): the carry-over policy of the answer map, the services that start a reassessment
and keep its confirmations, and the questionnaire page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from screening import answers, questionnaire, services
from screening.models import AuditEvent, Screening
from tests.factories import ClientFactory, make_screening
from tests.test_views_clinician import answers_post

# The lists, written out here rather than read from the map: the map must agree with them.
CARRIED = {
    "dsm5_criteria",
    "withdrawal_seizure_or_dt_history",
    "relapse_after_outpatient_12mo",
    "recent_higher_level_care",
    "mental_health_condition",
    # The home-and-life section, whole.
    "lives_with_substance_users",
    "home_safe",
    "stable_housing",
    "supportive_network",
    "work_or_school_commitments",
    "family_commitments",
    "can_attend_9h_week",
}
NEVER = {
    "substances",
    "ciwa_ar",
    "cows",
    "pawss",
    "phq9_total",
    "phq9_item9",
    "gad7_total",
    "cssrs",
    "homicidal_ideation",
    "psychotic_symptoms",
    "complicated_withdrawal_now",
    "unstable_medical_condition",
    "pregnant",
    "daily_sedative_use",
    "readiness",
}


def test_policy_lists_cover_every_answer_once():
    assert set(answers.ANSWERS) == CARRIED | NEVER and not CARRIED & NEVER


@pytest.mark.parametrize("name", sorted(answers.ANSWERS), ids=str)
def test_answer_carries_over_only_when_history_or_circumstances(name):
    expected = name in CARRIED

    assert answers.ANSWERS[name].carries_over is expected


def test_home_and_life_section_carries_over_whole():
    (home,) = [s for s in answers.SECTIONS if s.key == "home"]

    assert all(a.carries_over for a in home.answers)


def test_carried_sections_in_questionnaire_order():
    assert list(answers.CARRIED_SECTIONS) == ["substances", "severity", "mental_health", "readiness", "home"]
    assert [i.name for i in answers.CARRIED_SECTIONS["readiness"]] == [
        "relapse_after_outpatient_12mo",
        "recent_higher_level_care",
    ]


def _signed_columns(**changes) -> dict:
    from tests.answers import baseline

    columns = answers.to_columns(baseline(**changes), {"phq9": [1] * 9, "gad7": [1] * 7})
    columns.update(answers.compute_totals(columns))
    return columns


def test_carry_over_copies_carried_columns_and_nothing_else():
    source = _signed_columns(
        supportive_network=False, relapse_after_outpatient_12mo=True, mental_health_condition="stable"
    )

    carried = answers.carry_over(source)

    carried_columns = {c for i in answers.CARRIED_INPUTS for c in i.columns}
    assert set(carried.columns) == carried_columns
    assert all(carried.columns[c] == source[c] for c in carried_columns)
    never_columns = {c for a in NEVER for i in answers.ANSWERS[a].inputs for c in i.columns}
    assert not never_columns & set(carried.columns)
    assert carried.columns["supportive_network"] is False and carried.columns["mental_health_condition"] == "stable"
    assert carried.sections == tuple(answers.CARRIED_SECTIONS)


def test_carry_over_of_no_dsm5_criteria_is_none_of_these():
    carried = answers.carry_over(_signed_columns(dsm5_criteria=[]))

    assert carried.none_ticked == ("dsm5_criteria",)
    assert "severity" in carried.sections


def test_carry_over_of_some_dsm5_criteria_is_not_none():
    carried = answers.carry_over(_signed_columns())

    assert carried.none_ticked == ()
    assert carried.columns["dsm5_craving"] is True


def test_carry_over_leaves_out_a_section_with_nothing_given():
    source = _signed_columns()
    for inp in answers.CARRIED_SECTIONS["readiness"]:
        source[inp.name] = None

    carried = answers.carry_over(source)

    assert "readiness" not in carried.sections and "home" in carried.sections


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["home_safe"], {"home"}),
        (["dsm5_craving"], {"severity"}),  # a checklist's column
        (["dsm5_criteria"], {"severity"}),  # or its input
        (["withdrawal_seizure_or_dt_history", "substance_alcohol"], {"substances"}),
        (["substance_alcohol", "ciwa_nausea", "pregnant", "readiness"], set()),  # fresh questions confirm nothing
        (["recent_higher_level_care", "can_attend_9h_week"], {"readiness", "home"}),
    ],
    ids=["home", "dsm5-column", "dsm5-input", "withdrawal-history", "fresh-only", "two-sections"],
)
def test_changing_a_carried_answer_confirms_its_section(changed, expected):
    assert answers.confirmed_by_change(changed, answers.CARRIED_SECTIONS) == expected


def test_change_confirms_only_sections_that_were_carried():
    assert answers.confirmed_by_change(["home_safe"], ["severity"]) == set()


def test_unconfirmed_in_questionnaire_order():
    assert answers.unconfirmed(["home", "severity", "readiness"], ["readiness"]) == ["severity", "home"]
    assert answers.unconfirmed([], []) == []


# --- Services: starting a reassessment, keeping its confirmations, completing it.
DAY = dt.timedelta(days=1)


def _signed(client, clinician, days_ago: int, **changes) -> Screening:
    return make_screening(client=client, clinician=clinician, created_at=timezone.now() - days_ago * DAY, **changes)


def test_start_without_a_signed_screening_is_blank(clinician):
    client = ClientFactory()
    make_screening(client=client, clinician=clinician, status="completed")  # completed, never signed

    s = services.screening_start(client=client, clinician=clinician)

    assert s.carried_from is None and s.carried_sections == []
    assert s.home_safe is None and s.dsm5_craving is False
    assert AuditEvent.objects.get(action="create", object_id=str(s.public_id)).details == {}


def test_start_carries_over_history_and_circumstances_only(clinician):
    client = ClientFactory()
    source = _signed(client, clinician, 30, lives_with_substance_users=True, withdrawal_seizure_or_dt_history=True)

    s = services.screening_start(client=client, clinician=clinician)

    assert s.carried_from == source
    assert s.carried_sections == list(answers.CARRIED_SECTIONS)
    assert s.confirmed_sections == []
    assert s.lives_with_substance_users is True and s.withdrawal_seizure_or_dt_history is True
    assert s.dsm5_craving is True and s.mental_health_condition == "none" and s.home_safe is True
    # Never carried: what is recalled over days or weeks, or the present state.
    assert s.substance_alcohol is False and s.ciwa_nausea is None and s.ciwa_ar is None and s.pawss is None
    assert s.phq9_1 is None and s.phq9_total is None and s.gad7_total is None
    assert s.cssrs_wish_dead is None and s.cssrs_behavior == "" and s.readiness == ""
    assert s.pregnant is None and s.unstable_medical_condition is None and s.homicidal_ideation is None
    assert s.psychotic_symptoms is None and s.complicated_withdrawal_now is None and s.daily_sedative_use is None


def test_start_event_names_the_screening_carried_from_never_the_answers(clinician):
    client = ClientFactory()
    source = _signed(client, clinician, 30)

    s = services.screening_start(client=client, clinician=clinician)

    details = AuditEvent.objects.get(action="create", object_id=str(s.public_id)).details
    assert details == {"carried_from": str(source.public_id), "carried_sections": list(answers.CARRIED_SECTIONS)}


def test_start_carries_no_dsm5_criteria_as_none_of_these(clinician):
    client = ClientFactory()
    _signed(client, clinician, 30, dsm5_criteria=[])

    s = services.screening_start(client=client, clinician=clinician)

    assert s.none_ticked == ["dsm5_criteria"] and "severity" in s.carried_sections


def test_start_carries_from_the_latest_signed_screening(clinician):
    client = ClientFactory()
    _signed(client, clinician, 90, stable_housing=False)
    latest = _signed(client, clinician, 30, stable_housing=True)
    make_screening(client=client, clinician=clinician, status="completed", created_at=timezone.now())  # unsigned

    s = services.screening_start(client=client, clinician=clinician)

    assert s.carried_from == latest and s.stable_housing is True


def test_start_carries_from_the_latest_version_of_an_amended_screening(clinician):
    client = ClientFactory()
    original = _signed(client, clinician, 30, supportive_network=True)
    amendment = _signed(client, clinician, 1, supportive_network=False)
    amendment.amends = original
    amendment.amendment_reason = "Support network corrected."
    amendment.save()

    s = services.screening_start(client=client, clinician=clinician)

    assert s.carried_from == amendment and s.supportive_network is False


def test_latest_screening_wins_over_a_later_amendment_of_an_older_one(clinician):
    client = ClientFactory()
    older = _signed(client, clinician, 60)
    newer = _signed(client, clinician, 30)
    correction = _signed(client, clinician, 1)
    correction.amends, correction.amendment_reason = older, "Corrected."
    correction.save()

    assert services.latest_signed(client) == newer


def test_draft_save_keeps_confirmed_sections_and_a_change_confirms(clinician):
    client = ClientFactory()
    _signed(client, clinician, 30)
    s = services.screening_start(client=client, clinician=clinician)

    s = services.screening_save_draft(
        screening=s,
        data={"home_safe": False, "pregnant": False},
        expected_version=1,
        actor=clinician,
        confirmed=frozenset({"severity"}),
    )

    assert s.confirmed_sections == ["severity", "home"]
    assert s.home_safe is False
    event = AuditEvent.objects.filter(action="change", object_id=str(s.public_id)).latest("id")
    assert event.details["confirmed_sections"] == ["severity", "home"]


def test_draft_save_of_fresh_questions_confirms_nothing(clinician):
    client = ClientFactory()
    _signed(client, clinician, 30)
    s = services.screening_start(client=client, clinician=clinician)

    s = services.screening_save_draft(
        screening=s, data={"substance_alcohol": True, "pregnant": False}, expected_version=1, actor=clinician
    )

    assert s.confirmed_sections == []


def test_draft_save_without_confirmations_leaves_them_as_saved(clinician):
    client = ClientFactory()
    _signed(client, clinician, 30)
    s = services.screening_start(client=client, clinician=clinician)
    s = services.screening_save_draft(
        screening=s, data={}, expected_version=1, actor=clinician, confirmed=frozenset({"home"})
    )

    s = services.screening_save_draft(screening=s, data={"pregnant": True}, expected_version=2, actor=clinician)

    assert s.confirmed_sections == ["home"]


def test_unticking_none_of_these_confirms_the_checklist_section(clinician):
    client = ClientFactory()
    _signed(client, clinician, 30, dsm5_criteria=[])
    s = services.screening_start(client=client, clinician=clinician)

    s = services.screening_save_draft(
        screening=s, data={}, expected_version=1, actor=clinician, confirmed=frozenset(), none_ticked=frozenset()
    )

    assert s.none_ticked == [] and s.confirmed_sections == ["severity"]


def _complete_answers(s: Screening) -> dict:
    """Column values for the fresh questions of the baseline (the carried ones are already there)."""
    from tests.answers import baseline

    items = {"phq9": [1] * 6 + [0] * 3, "gad7": [1] * 5 + [0] * 2, "ciwa_ar": [4] + [0] * 9}
    columns = answers.to_columns(baseline(), items)
    carried = {c for i in answers.CARRIED_INPUTS for c in i.columns}
    return {c: v for c, v in columns.items() if c not in carried}


def test_complete_needs_every_carried_section_confirmed(clinician):
    client = ClientFactory()
    _signed(client, clinician, 30)
    s = services.screening_start(client=client, clinician=clinician)
    s = services.screening_save_draft(
        screening=s,
        data=_complete_answers(s),
        expected_version=1,
        actor=clinician,
        confirmed=frozenset({"substances", "severity"}),
    )

    with pytest.raises(questionnaire.QuestionnaireError) as exc:
        services.screening_complete(screening=s, actor=clinician)

    assert exc.value.errors == {
        "confirm_mental_health": [answers.UNCONFIRMED],
        "confirm_readiness": [answers.UNCONFIRMED],
        "confirm_home": [answers.UNCONFIRMED],
    }
    assert Screening.objects.get(pk=s.pk).is_draft


def test_complete_reports_unconfirmed_sections_with_missing_answers(clinician):
    client = ClientFactory()
    _signed(client, clinician, 30)
    s = services.screening_start(client=client, clinician=clinician)

    with pytest.raises(questionnaire.QuestionnaireError) as exc:
        services.screening_complete(screening=s, actor=clinician)

    assert "pregnant" in exc.value.errors and "confirm_home" in exc.value.errors


def test_complete_once_every_carried_section_is_confirmed(clinician):
    client = ClientFactory()
    source = _signed(client, clinician, 30)
    s = services.screening_start(client=client, clinician=clinician)
    s = services.screening_save_draft(
        screening=s,
        data=_complete_answers(s),
        expected_version=1,
        actor=clinician,
        confirmed=frozenset(answers.CARRIED_SECTIONS),
    )

    done = services.screening_complete(screening=s, actor=clinician)

    assert done.status == "completed" and done.recommended_level == source.recommended_level
    carried = {a.name for a in answers.ANSWERS.values() if a.carries_over}
    assert {k: v for k, v in done.answers_snapshot.items() if k in carried} == {
        k: v for k, v in source.answers_snapshot.items() if k in carried
    }


# --- The questionnaire page of a reassessment.
# The carried answers of tests.test_views_clinician.answers_post, so that posting it changes none of them.
SAME_AS_POST = {"dsm5_criteria": ["cut_down", "craving", "tolerance"]}


@pytest.fixture
def reassessment(clinician_client, clinician):
    client = ClientFactory()
    source = _signed(client, clinician, 30, **SAME_AS_POST)
    response = clinician_client.post(reverse("screening_start", args=[client.public_id]))
    s = Screening.objects.get(client=client, status="draft")
    assert response.url == reverse("screening_edit", args=[s.public_id])
    return s, source


def test_page_marks_each_carried_section_to_confirm_or_change(clinician_client, reassessment):
    s, source = reassessment

    html = clinician_client.get(reverse("screening_edit", args=[s.public_id])).content.decode()

    day = f"{timezone.localtime(source.signed_at):%Y-%m-%d}"
    assert html.count(f"Carried over from {day} — confirm or change.") == len(answers.CARRIED_SECTIONS)
    link = reverse("screening_detail", args=[source.public_id])
    assert f'carried over from the <a href="{link}">signed screening of {day}</a>' in html
    for key in answers.CARRIED_SECTIONS:
        assert f'name="confirm_{key}" id="id_confirm_{key}" value="on" data-confirm-section="{key}" aria-' in html
    assert 'name="home_safe" value="yes" id="id_home_safe_0" checked' in html  # carried over
    assert 'name="pregnant" value="yes" id="id_pregnant_0">' in html  # asked afresh
    assert html.count('<span class="carried-mark">(carried over)</span>') == len(answers.CARRIED_INPUTS)
    assert "Every answer of this section was carried over." in html
    assert "Carried over: Ever had a withdrawal seizure or delirium tremens." in html


def test_complete_with_unconfirmed_sections_shows_errors_at_their_boxes(clinician_client, reassessment):
    s, _ = reassessment
    url = reverse("screening_edit", args=[s.public_id])

    response = clinician_client.post(url, answers_post(1, complete="1", confirm_home="on"))

    assert response.status_code == 200
    html = response.content.decode()
    for key in ["substances", "severity", "mental_health", "readiness"]:
        assert f'aria-invalid="true" aria-describedby="id_confirm_{key}_what id_confirm_{key}_error"' in html
        assert f'<a class="alert-link" href="#id_confirm_{key}">' in html
    assert 'href="#id_confirm_home"' not in html
    saved = Screening.objects.get(pk=s.pk)
    assert saved.is_draft and saved.confirmed_sections == ["home"]


def test_complete_once_every_section_is_confirmed(clinician_client, reassessment):
    s, source = reassessment
    confirms = {answers.confirm_field(k): "on" for k in answers.CARRIED_SECTIONS}

    response = clinician_client.post(
        reverse("screening_edit", args=[s.public_id]), answers_post(1, complete="1", **confirms)
    )

    assert response.url == reverse("screening_detail", args=[s.public_id])
    assert Screening.objects.get(pk=s.pk).status == "completed"


def test_changing_a_carried_answer_confirms_its_section_without_its_box(clinician_client, reassessment):
    s, _ = reassessment
    confirms = {answers.confirm_field(k): "on" for k in answers.CARRIED_SECTIONS if k != "home"}

    response = clinician_client.post(
        reverse("screening_edit", args=[s.public_id]),
        answers_post(1, complete="1", stable_housing="no", **confirms),
    )

    assert response.url == reverse("screening_detail", args=[s.public_id])
    assert Screening.objects.get(pk=s.pk).recommended_level == "residential"


def test_confirmations_and_none_of_these_survive_a_draft_save_and_reload(clinician_client, clinician):
    client = ClientFactory()
    _signed(client, clinician, 30, dsm5_criteria=[])
    clinician_client.post(reverse("screening_start", args=[client.public_id]))
    s = Screening.objects.get(client=client, status="draft")
    url = reverse("screening_edit", args=[s.public_id])
    html = clinician_client.get(url).content.decode()
    assert 'data-none-of="dsm5_criteria" checked' in html  # a carried-over "none" reads as an answer

    post = answers_post(1, save="draft", confirm_readiness="on", dsm5_criteria_none="on")
    del post["dsm5_criteria"]
    clinician_client.post(url, post)
    html = clinician_client.get(url).content.decode()

    assert 'data-confirm-section="readiness" checked' in html
    assert 'data-confirm-section="home" aria-' in html  # not confirmed
    assert 'data-none-of="dsm5_criteria" checked' in html
    assert Screening.objects.get(pk=s.pk).confirmed_sections == ["readiness"]


def test_autosave_keeps_confirmations_and_reports_them(clinician_client, reassessment):
    s, _ = reassessment

    response = clinician_client.post(
        reverse("screening_autosave", args=[s.public_id]), answers_post(1, confirm_severity="on", home_safe="no")
    )

    assert response.status_code == 200
    assert response.json()["confirmed"] == ["severity", "home"]
    assert Screening.objects.get(pk=s.pk).confirmed_sections == ["severity", "home"]


def test_a_new_client_gets_no_confirm_boxes(clinician_client, clinician):
    client = ClientFactory()
    clinician_client.post(reverse("screening_start", args=[client.public_id]))
    s = Screening.objects.get(client=client)

    html = clinician_client.get(reverse("screening_edit", args=[s.public_id])).content.decode()

    assert "data-confirm-section" not in html and "carried-mark" not in html


def test_reassessment_page_and_autosave_cost_the_queries_of_a_plain_draft(clinician_client, clinician, reassessment):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    s, _ = reassessment
    plain = services.screening_start(client=ClientFactory(), clinician=clinician)
    counts = {}
    for label, draft in [("reassessment", s), ("plain", plain)]:
        with CaptureQueriesContext(connection) as page:
            clinician_client.get(reverse("screening_edit", args=[draft.public_id]))
        with CaptureQueriesContext(connection) as autosave:
            clinician_client.post(reverse("screening_autosave", args=[draft.public_id]), answers_post(draft.version))
        counts[label] = (len(page), len(autosave))

    assert counts["reassessment"] == counts["plain"]


def test_answers_kept_after_the_session_ended_include_the_confirm_boxes(clinician):
    client = ClientFactory()
    _signed(client, clinician, 30)
    s = services.screening_start(client=client, clinician=clinician)
    posted = {"confirm_home": ["on"], "dsm5_criteria_none": ["on"], "home_safe": ["no"], "csrfmiddlewaretoken": ["x"]}

    kept = services.answers_keep(token="browser-token", user=clinician, screening=s, data=posted)

    assert kept.data == {"confirm_home": ["on"], "dsm5_criteria_none": ["on"], "home_safe": ["no"]}
