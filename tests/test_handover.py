"""Patient hand-over for PHQ-9 and GAD-7 (issue 14, item 7): the person answers on the device, which shows nothing
else of the record, cannot be navigated away from and returns to the clinician only with their password."""

import time

import pytest
from django.test import Client as DjangoClient
from django.urls import reverse

from screening import selfreport, services
from screening.models import AuditEvent, Screening
from screening.views.handover import SESSION_KEY
from tests.factories import PASSWORD, ClientFactory, UserFactory, make_screening
from tests.test_purity import non_stdlib_imports, pure_modules
from tests.test_views_clinician import answers_post

pytestmark = pytest.mark.django_db

ALL_ONES = {item.name: "1" for item in selfreport.ITEMS}


@pytest.fixture
def draft(clinician):
    client = ClientFactory(
        created_by=clinician, given_name="Zebulon", family_name="Quartermaine", record_number="R-4242"
    )
    return Screening.objects.create(client=client, clinician=clinician)


def hand_over(browser, draft, version=None, **changes):
    """Press "Hand to the patient" on the questionnaire (the whole form is sent, with its version)."""
    data = answers_post(version or draft.version, **changes)
    return browser.post(reverse("screening_handover_start", args=[draft.public_id]), data)


def handover_events(draft):
    return list(AuditEvent.objects.filter(object_id=str(draft.public_id), details__has_key="handover").order_by("id"))


def finish(browser, answers=None, **extra):
    return browser.post(reverse("handover"), {**(answers if answers is not None else ALL_ONES), "done": "1", **extra})


# --- The pure part: which instruments, in which words.


def test_selfreport_is_pure_standard_library():
    assert "selfreport.py" in pure_modules(roots=("selfreport.py",))
    for name in pure_modules(roots=("selfreport.py",)):
        assert non_stdlib_imports(pure_modules.__globals__["APP"] / name) == []


def test_only_phq9_and_gad7_are_handed_over():
    assert [i.key for i in selfreport.INSTRUMENTS] == ["phq9", "gad7"]
    assert len(selfreport.ITEMS) == 16
    assert selfreport.complete({i.name for i in selfreport.BY_KEY["phq9"].items}) == ("phq9",)
    assert selfreport.complete(set(selfreport.ITEM_NAMES) - {"gad7_7"}) == ("phq9",)


@pytest.mark.parametrize(("value", "alert"), [(None, False), (0, False), (1, True), (3, True)], ids=str)
def test_item9_needs_attention_from_the_safety_review_line(value, alert):
    assert selfreport.item9_needs_attention(value) is alert


# --- Who may hand over, and when.


def test_anonymous_is_sent_to_sign_in(client, draft):
    for url in (reverse("handover"), reverse("handover_return")):
        assert client.get(url)["Location"].startswith(reverse("login"))
    response = client.post(reverse("screening_handover_start", args=[draft.public_id]), {})
    assert response["Location"].startswith(reverse("login"))
    assert client.post(reverse("handover_save"), {}).status_code == 401


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_roles_that_may_not_edit_get_403(client, draft, role):
    client.force_login(UserFactory(role=role))

    response = client.post(reverse("screening_handover_start", args=[draft.public_id]), answers_post(draft.version))

    assert response.status_code == 403
    assert SESSION_KEY not in client.session
    assert client.get(reverse("handover")).status_code == 403
    assert client.get(reverse("handover_return")).status_code == 403
    assert client.post(reverse("handover_save"), ALL_ONES).status_code == 403


@pytest.mark.parametrize("status", [Screening.Status.COMPLETED, Screening.Status.SIGNED])
def test_a_screening_that_is_no_draft_is_not_handed_over(clinician_client, clinician, status):
    screening = make_screening(clinician=clinician, status=status, final_level="iop")

    response = hand_over(clinician_client, screening)

    assert response["Location"] == reverse("screening_detail", args=[screening.public_id])
    assert SESSION_KEY not in clinician_client.session
    assert handover_events(screening) == []


def test_a_stale_version_shows_the_conflict_and_hands_nothing_over(clinician_client, clinician, draft):
    services.screening_save_draft(screening=draft, data={"pregnant": True}, expected_version=1, actor=clinician)

    response = hand_over(clinician_client, draft, version=1)  # the page still had version 1

    assert response.status_code == 409
    assert "saved elsewhere" in response.content.decode()
    assert SESSION_KEY not in clinician_client.session
    assert handover_events(draft) == []


def test_an_invalid_answer_is_shown_at_its_field_and_nothing_is_handed_over(clinician_client, draft):
    response = hand_over(clinician_client, draft, phq9_1="7")

    assert response.status_code == 200
    assert 'id="phq9_1_error"' in response.content.decode() or "phq9_1" in response.context["form"].errors
    assert SESSION_KEY not in clinician_client.session


# --- Handing over.


def test_handing_over_saves_the_clinicians_answers_first_and_is_audited(clinician_client, draft):
    response = hand_over(clinician_client, draft, pregnant="yes")

    draft.refresh_from_db()
    assert response["Location"] == reverse("handover")
    assert draft.pregnant is True and draft.version == 2
    state = clinician_client.session[SESSION_KEY]
    assert state["screening"] == str(draft.public_id) and state["version"] == 2 and not state["locked"]
    (event,) = handover_events(draft)
    assert event.details == {"handover": "handed_over", "instruments": ["phq9", "gad7"]}


def test_the_persons_page_shows_nothing_else_of_the_record(clinician_client, draft):
    hand_over(clinician_client, draft)  # the clinician's PHQ-9 answers (1, 1, 1, 0…) are in the draft now

    page = clinician_client.get(reverse("handover")).content.decode()

    for private in ("Zebulon", "Quartermaine", "R-4242", str(draft.public_id), "clin (clinician)", "Sign out"):
        assert private not in page
    assert 'aria-label="Main"' not in page and reverse("client_list") not in page  # no navigation
    assert "checked" not in page  # not even the draft's own PHQ-9 answers
    assert page.count('type="radio"') == 16 * 4
    assert "Over the last 2 weeks, how often have you been bothered" in page
    assert "<a " not in page.replace('<a class="alert-link"', "")  # no link out


def test_while_handed_over_every_other_page_leads_back_to_the_handover(clinician_client, draft):
    hand_over(clinician_client, draft)

    for url in (
        reverse("home"),
        reverse("client_list"),
        reverse("client_detail", args=[draft.client.public_id]),
        reverse("screening_edit", args=[draft.public_id]),  # the browser's Back button
        reverse("screening_detail", args=[draft.public_id]),
        reverse("password_change"),
        "/admin/",
        "/no-such-page/",
    ):
        assert clinician_client.get(url)["Location"] == reverse("handover"), url
    autosave = clinician_client.post(
        reverse("screening_autosave", args=[draft.public_id]),
        answers_post(2, pregnant="yes"),
        headers={"accept": "application/json"},
    )
    assert autosave.status_code == 423
    draft.refresh_from_db()
    assert draft.pregnant is False  # nothing saved from another tab
    assert clinician_client.post(reverse("session_keep_alive")).status_code == 200  # the idle warning still works


def test_another_browser_of_the_same_clinician_is_not_locked(clinician, draft):
    here, there = DjangoClient(), DjangoClient()
    here.force_login(clinician)
    there.force_login(clinician)
    hand_over(here, draft)

    assert there.get(reverse("client_list")).status_code == 200


# --- Answering.


def test_the_persons_answers_land_in_the_draft_marked_self_reported(clinician_client, draft):
    hand_over(clinician_client, draft)

    response = finish(clinician_client, {**ALL_ONES, "phq9_9": "2", "gad7_7": "3"})

    draft.refresh_from_db()
    assert response["Location"] == reverse("handover_return")
    assert [getattr(draft, i.name) for i in selfreport.BY_KEY["phq9"].items] == [1] * 8 + [2]
    assert draft.phq9_total == 10 and draft.gad7_total == 9
    assert draft.phq9_self_reported and draft.gad7_self_reported
    assert draft.self_reported == ["PHQ-9", "GAD-7"]
    assert clinician_client.session[SESSION_KEY]["locked"]


def test_each_step_is_audited_without_the_answers(clinician_client, draft):
    hand_over(clinician_client, draft)
    finish(clinician_client)

    events = handover_events(draft)

    assert [e.details["handover"] for e in events] == ["handed_over", True, "answered"]
    saved, answered = events[1], events[2]
    assert saved.action == "change" and saved.details["self_reported"] == ["phq9", "gad7"]
    assert "phq9_9" in saved.details["fields"]  # the draft save's usual record: which fields, not their values
    assert answered.details == {
        "handover": "answered",
        "items_answered": 16,
        "items": 16,
        "self_reported": ["phq9", "gad7"],
    }
    for event in events:
        assert not {"phq9_1", "phq9_9", "gad7_1"} & set(event.details)


def test_unanswered_questions_are_pointed_out_at_their_fields(clinician_client, draft):
    hand_over(clinician_client, draft)
    partial = {k: v for k, v in ALL_ONES.items() if k not in ("phq9_4", "gad7_2")}

    response = finish(clinician_client, partial)

    page = response.content.decode()
    assert response.status_code == 200
    assert "2 questions not answered yet" in page
    assert 'aria-describedby="id_phq9_4_error"' in page and 'id="id_phq9_4_error"' in page
    assert 'href="#id_gad7_2_0"' in page
    assert not clinician_client.session[SESSION_KEY]["locked"]
    draft.refresh_from_db()
    assert draft.phq9_1 == 1  # what was answered is saved already


def test_finishing_with_questions_left_to_the_clinician_marks_only_whole_instruments(clinician_client, draft):
    hand_over(clinician_client, draft)
    partial = {k: v for k, v in ALL_ONES.items() if k != "gad7_2"}

    response = finish(clinician_client, partial, anyway="1")

    draft.refresh_from_db()
    assert response["Location"] == reverse("handover_return")
    assert draft.phq9_self_reported and not draft.gad7_self_reported
    assert draft.gad7_2 == 1  # the clinician's answer from before the hand-over stays


def test_an_answer_out_of_range_is_refused_and_saves_nothing(clinician_client, draft):
    hand_over(clinician_client, draft)

    response = finish(clinician_client, {**ALL_ONES, "phq9_1": "4"})

    draft.refresh_from_db()
    assert response.status_code == 200 and "phq9_1" in response.context["form"].errors
    assert draft.phq9_self_reported is False


def test_each_answer_saved_by_the_page_counts_as_activity(clinician_client, draft, settings, monkeypatch):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 60
    now = [time.time()]  # the clock of the session signed in just before
    monkeypatch.setattr("screening.middleware.time.time", lambda: now[0])
    hand_over(clinician_client, draft)

    replies = []
    for item in ("phq9_1", "phq9_2", "phq9_3"):  # an answer every 50 s: 150 s in all, past the 60 s limit
        now[0] += 50
        replies.append(
            clinician_client.post(reverse("handover_save"), {item: "3"}, headers={"accept": "application/json"})
        )

    draft.refresh_from_db()
    assert [r.json() for r in replies] == [{"saved": True, "remaining": 60}] * 3
    assert (draft.phq9_1, draft.phq9_2, draft.phq9_3) == (3, 3, 3) and not draft.phq9_self_reported
    state = clinician_client.session[SESSION_KEY]
    assert state["answered"] == ["phq9_1", "phq9_2", "phq9_3"] and state["version"] == draft.version
    now[0] += 61  # then nothing: the session ends as any other
    assert clinician_client.get(reverse("handover"))["Location"].startswith(reverse("login"))


def test_a_change_elsewhere_to_the_same_items_is_not_overwritten(clinician_client, clinician, draft):
    hand_over(clinician_client, draft)
    draft.refresh_from_db()
    services.screening_save_draft(screening=draft, data={"phq9_1": 3}, expected_version=draft.version, actor=clinician)

    finish(clinician_client)
    response = clinician_client.post(reverse("handover_return"), {"password": PASSWORD}, follow=True)

    draft.refresh_from_db()
    assert draft.phq9_1 == 3 and not draft.phq9_self_reported  # kept, not overwritten
    assert "were not saved" in response.content.decode()


def test_a_change_elsewhere_to_other_questions_is_kept_and_the_answers_saved_onto_it(
    clinician_client, clinician, draft
):
    hand_over(clinician_client, draft)
    draft.refresh_from_db()
    services.screening_save_draft(
        screening=draft, data={"pregnant": True}, expected_version=draft.version, actor=clinician
    )

    finish(clinician_client)

    draft.refresh_from_db()
    assert draft.pregnant is True and draft.phq9_self_reported and draft.gad7_self_reported


def test_a_screening_completed_meanwhile_is_not_changed(clinician_client, clinician, draft):
    hand_over(clinician_client, draft)
    draft.refresh_from_db()
    services.screening_complete(screening=draft, actor=clinician)

    finish(clinician_client)

    draft.refresh_from_db()
    assert draft.status == Screening.Status.COMPLETED and not draft.phq9_self_reported


# --- Returning.


def test_the_lock_screen_asks_the_clinicians_password_and_shows_nothing_else(clinician_client, draft):
    hand_over(clinician_client, draft)
    finish(clinician_client)

    page = clinician_client.get(reverse("handover_return")).content.decode()
    back = clinician_client.get(reverse("handover"))  # Back, to the answers

    assert 'type="password"' in page and 'for="id_password"' in page
    for private in ("Zebulon", "R-4242", 'aria-label="Main"'):
        assert private not in page
    assert back["Location"] == reverse("handover_return")
    assert clinician_client.get(reverse("screening_edit", args=[draft.public_id]))["Location"] == reverse(
        "handover_return"
    )


def test_a_wrong_password_keeps_the_device_locked_and_is_audited(clinician_client, draft):
    hand_over(clinician_client, draft)
    finish(clinician_client)

    response = clinician_client.post(reverse("handover_return"), {"password": "wrong"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "That password is not correct." in page and 'aria-describedby="id_password_error"' in page
    assert clinician_client.session[SESSION_KEY]["locked"]
    assert AuditEvent.objects.filter(action="sign_in_failed", details__during="hand-over return").count() == 1
    assert "returned" not in [e.details["handover"] for e in handover_events(draft)]


def test_wrong_passwords_count_toward_the_lockout_and_the_device_stays_locked(clinician_client, draft, settings):
    hand_over(clinician_client, draft)
    finish(clinician_client)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        clinician_client.post(reverse("handover_return"), {"password": "wrong"})

    response = clinician_client.post(reverse("handover_return"), {"password": PASSWORD})

    page = response.content.decode()
    assert response.status_code == 429
    assert "locked out" in page and 'aria-label="Main"' not in page  # the lock screen, not the app's page
    assert clinician_client.session[SESSION_KEY]["locked"]
    elsewhere = DjangoClient().post(reverse("login"), {"username": "clin", "password": PASSWORD})
    assert elsewhere.status_code == 429  # the same lockout as at sign-in


def test_the_right_password_returns_to_the_questionnaire_and_is_audited(clinician_client, draft):
    hand_over(clinician_client, draft)
    finish(clinician_client)  # item 9 = 1

    response = clinician_client.post(reverse("handover_return"), {"password": PASSWORD})

    edit = reverse("screening_edit", args=[draft.public_id])
    assert response["Location"] == f"{edit}#self-report-alert"
    assert SESSION_KEY not in clinician_client.session
    assert handover_events(draft)[-1].details == {"handover": "returned"}
    page = clinician_client.get(edit).content.decode()
    assert 'role="alert" id="self-report-alert"' in page
    assert "Several days (1)" in page
    assert "The person answered 16 of 16 questions; PHQ-9 and GAD-7 marked self-reported." in page


def test_no_alert_when_item9_is_not_at_all(clinician_client, draft):
    hand_over(clinician_client, draft)
    finish(clinician_client, {**ALL_ONES, "phq9_9": "0"})

    response = clinician_client.post(reverse("handover_return"), {"password": PASSWORD})

    assert response["Location"] == reverse("screening_edit", args=[draft.public_id])
    page = clinician_client.get(response["Location"]).content.decode()
    assert "self-report-alert" not in page and "Self-reported</span> PHQ-9 and GAD-7" in page


def test_item9_answered_with_phq9_left_unfinished_still_alerts(clinician_client, draft):
    hand_over(clinician_client, draft)
    finish(clinician_client, {"phq9_9": "2"}, anyway="1")

    response = clinician_client.post(reverse("handover_return"), {"password": PASSWORD})

    assert response["Location"].endswith("#self-report-alert")
    assert 'id="self-report-alert"' in clinician_client.get(response["Location"]).content.decode()


def test_no_password_before_the_person_is_done(clinician_client, draft):
    hand_over(clinician_client, draft)

    assert clinician_client.get(reverse("handover_return"))["Location"] == reverse("handover")
    clinician_client.post(reverse("handover_return"), {"password": PASSWORD})
    assert SESSION_KEY in clinician_client.session


# --- Self-reported on the draft, the record and the amendment.


def test_a_clinicians_change_to_an_item_unmarks_its_instrument_only(clinician, draft):
    draft.phq9_self_reported = draft.gad7_self_reported = True
    draft.save()

    services.screening_save_draft(screening=draft, data={"phq9_2": 3}, expected_version=draft.version, actor=clinician)
    draft.refresh_from_db()
    assert not draft.phq9_self_reported and draft.gad7_self_reported
    services.screening_save_draft(
        screening=draft, data={"pregnant": True}, expected_version=draft.version, actor=clinician
    )
    draft.refresh_from_db()
    assert draft.gad7_self_reported  # other answers leave it marked


def test_the_record_and_its_print_say_self_reported(clinician_client, clinician):
    screening = make_screening(clinician=clinician, status=Screening.Status.COMPLETED)
    Screening.objects.filter(pk=screening.pk).update(phq9_self_reported=True)

    page = clinician_client.get(reverse("screening_detail", args=[screening.public_id])).content.decode()

    assert 'PHQ-9 <span class="badge text-bg-info self-reported-badge">self-reported</span>' in page
    assert "PHQ-9: answered by the person themselves" in page
    assert "GAD-7 <span" not in page


def test_an_amendment_keeps_where_the_answers_came_from(clinician):
    signed = make_screening(clinician=clinician)
    Screening.objects.filter(pk=signed.pk).update(gad7_self_reported=True)
    signed.refresh_from_db()

    amendment = services.screening_amend(screening=signed, reason="A correction.", actor=clinician)

    assert amendment.gad7_self_reported and not amendment.phq9_self_reported


def test_handover_services_refuse_what_is_not_theirs(clinician, draft):
    signed = make_screening(clinician=clinician)

    with pytest.raises(services.ServiceError):
        services.handover_start(screening=signed, actor=clinician)
    with pytest.raises(services.ServiceError):  # the clinician's questions are never answered by the person
        services.handover_answer(
            screening=draft,
            values={"pregnant": 1},
            answered=frozenset({"pregnant"}),
            expected_version=1,
            actor=clinician,
        )
    with pytest.raises(services.ServiceError):  # an answer it does not count as the person's
        services.handover_answer(
            screening=draft, values={"phq9_1": 1}, answered=frozenset(), expected_version=1, actor=clinician
        )

    draft.refresh_from_db()
    assert draft.version == 1 and handover_events(signed) == []


def test_a_clinicians_change_unmarks_an_instrument_even_in_a_save_of_the_persons_other_answers(clinician, draft):
    # PHQ-9 answered by the person earlier; now a save carries the person's GAD-7 (kept answers, no JavaScript)
    # together with the clinician's change to a PHQ-9 item: that item is the clinician's, PHQ-9 is not self-reported.
    phq9, gad7 = (selfreport.BY_KEY[k] for k in ("phq9", "gad7"))
    services.screening_save_draft(
        screening=draft,
        data={i.name: 1 for i in phq9.items},
        expected_version=draft.version,
        actor=clinician,
        answered_by_person=frozenset(i.name for i in phq9.items),
    )
    draft.refresh_from_db()
    assert draft.phq9_self_reported

    services.screening_save_draft(
        screening=draft,
        data={"phq9_1": 3, **{i.name: 2 for i in gad7.items}},
        expected_version=draft.version,
        actor=clinician,
        answered_by_person=frozenset(i.name for i in gad7.items),
    )

    draft.refresh_from_db()
    assert draft.gad7_self_reported and not draft.phq9_self_reported
