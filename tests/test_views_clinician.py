import pytest
from django.db import connection
from django.urls import reverse

from screening import services
from screening.models import AuditEvent, Client, Screening
from tests.factories import ClientFactory, UserFactory, make_screening

pytestmark = pytest.mark.django_db


def audit_queries() -> int:
    """Queries one audit event costs: savepoint, last hash, insert, release (+ advisory lock on PostgreSQL)."""
    return 5 if connection.vendor == "postgresql" else 4


def answers_post(version: int, **changes) -> dict:
    """A complete POST of the questionnaire that yields IOP."""
    data = {
        "version": version,
        "substances": ["alcohol"],
        "pawss": "1",
        "dsm5_criteria": ["craving", "cut_down", "tolerance"],
        "mental_health_condition": "none",
        "readiness": "action",
        "cssrs_behavior": "never",
    }
    for key in [
        "ciwa_nausea",
        "ciwa_tremor",
        "ciwa_sweats",
        "ciwa_anxiety",
        "ciwa_agitation",
        "ciwa_tactile",
        "ciwa_auditory",
        "ciwa_visual",
        "ciwa_headache",
        "ciwa_orientation",
    ]:
        data[key] = "0"
    for n in range(1, 10):
        data[f"phq9_{n}"] = "1" if n < 4 else "0"
    for n in range(1, 8):
        data[f"gad7_{n}"] = "1"
    for name in [
        "withdrawal_seizure_or_dt_history",
        "complicated_withdrawal_now",
        "unstable_medical_condition",
        "pregnant",
        "psychotic_symptoms",
        "cssrs_wish_dead",
        "cssrs_suicidal_thoughts",
        "homicidal_ideation",
        "relapse_after_outpatient_12mo",
        "recent_higher_level_care",
        "lives_with_substance_users",
        "family_commitments",
        "work_or_school_commitments",
    ]:
        data[name] = "no"
    for name in ["home_safe", "stable_housing", "supportive_network", "can_attend_9h_week"]:
        data[name] = "yes"
    data.update(changes)
    return data


@pytest.fixture
def draft(clinician):
    client = ClientFactory(created_by=clinician)
    return Screening.objects.create(client=client, clinician=clinician)


def page_urls(screening: Screening) -> list[str]:
    return [
        reverse("client_list"),
        reverse("client_create"),
        reverse("client_detail", args=[screening.client.public_id]),
        reverse("screening_edit", args=[screening.public_id]),
        reverse("screening_detail", args=[screening.public_id]),
    ]


def test_anonymous_is_sent_to_sign_in(client, draft):
    for url in page_urls(draft):
        response = client.get(url)

        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_auditor_gets_403_on_clinician_pages(auditor_client, draft):
    for url in page_urls(draft):
        assert auditor_client.get(url).status_code == 403, url


def test_admin_reads_but_cannot_write(admin_client_, draft):
    signed = make_screening()

    assert admin_client_.get(reverse("client_list")).status_code == 200
    assert admin_client_.get(reverse("screening_detail", args=[signed.public_id])).status_code == 200
    assert admin_client_.get(reverse("client_create")).status_code == 403
    assert admin_client_.get(reverse("screening_edit", args=[draft.public_id])).status_code == 403
    assert admin_client_.post(reverse("screening_start", args=[draft.client.public_id])).status_code == 403
    assert admin_client_.post(reverse("screening_amend", args=[signed.public_id])).status_code == 403


def test_client_create_valid_makes_row_and_audit_event(clinician_client):
    response = clinician_client.post(
        reverse("client_create"),
        {
            "record_number": "p-777",
            "given_name": "Dana",
            "family_name": "Example",
            "date_of_birth": "1980-02-03",
        },
    )

    client = Client.objects.get(record_number="P-777")
    assert response.status_code == 302 and str(client.public_id) in response["Location"]
    assert AuditEvent.objects.filter(action="create", object_id=str(client.public_id)).exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "not a date"}, "date_of_birth"),
        ({"given_name": ""}, "given_name"),
        ({"record_number": "T-DUP"}, "record_number"),
    ],
    ids=["future-dob", "bad-dob", "missing-name", "duplicate-record"],
)
def test_client_create_invalid_rerenders_with_field_error(clinician_client, clinician, data, field):
    ClientFactory(record_number="T-DUP", created_by=clinician)
    post = {"record_number": "p-1", "given_name": "Dana", "family_name": "Example", "date_of_birth": "1980-02-03"}
    post.update(data)

    response = clinician_client.post(reverse("client_create"), post)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert Client.objects.count() == 1
    assert 'aria-invalid="true"' in response.content.decode()


def test_client_search_is_a_post_and_finds_by_name_or_record(clinician_client, clinician):
    ClientFactory(given_name="Harper", family_name="Quill", record_number="R-1", created_by=clinician)
    ClientFactory(given_name="Sage", family_name="Other", record_number="R-2", created_by=clinician)

    by_name = clinician_client.post(reverse("client_list"), {"q": "harper quill"})
    by_record = clinician_client.post(reverse("client_list"), {"q": "r-2"})

    assert [c.record_number for c in by_name.context["results"]] == ["R-1"]
    assert [c.record_number for c in by_record.context["results"]] == ["R-2"]


def test_client_list_query_count_is_constant(clinician_client, clinician, django_assert_num_queries):
    for _ in range(3):
        ClientFactory(created_by=clinician)
    clinician_client.get(reverse("client_list"))  # warm the session
    # session, user, perms (2), roles, one page of clients: no COUNT(*) (the list pages from a cursor); then the
    # audit event naming the clients shown
    with django_assert_num_queries(6 + audit_queries()) as few:
        clinician_client.get(reverse("client_list"))
    for _ in range(20):
        ClientFactory(created_by=clinician)

    with django_assert_num_queries(len(few.captured_queries)):
        clinician_client.get(reverse("client_list"))


def test_client_detail_query_count_is_constant(clinician_client, clinician, django_assert_num_queries):
    client = ClientFactory(created_by=clinician)
    make_screening(client=client, clinician=clinician)
    url = reverse("client_detail", args=[client.public_id])
    clinician_client.get(url)
    with django_assert_num_queries(7 + audit_queries()) as few:
        clinician_client.get(url)
    for _ in range(10):
        make_screening(client=client, clinician=UserFactory(role="clinician"))

    with django_assert_num_queries(len(few.captured_queries)):
        clinician_client.get(url)


def test_screening_detail_query_count_is_constant(clinician_client, django_assert_num_queries):
    s = make_screening()
    url = reverse("screening_detail", args=[s.public_id])
    clinician_client.get(url)

    # session, user, perms x2, roles, screening, the audit event, specialty groups, amendments
    with django_assert_num_queries(8 + audit_queries()):
        clinician_client.get(url)


def test_questionnaire_page_query_count_is_constant(clinician_client, clinician, django_assert_num_queries):
    draft = services.screening_start(client=ClientFactory(created_by=clinician), clinician=clinician)
    url = reverse("screening_edit", args=[draft.public_id])
    clinician_client.get(url)

    # session, user, perms x2, roles, the draft with its client and clinician, the audit event; the
    # screening it amends only when there is one
    with django_assert_num_queries(6 + audit_queries()):
        clinician_client.get(url)
    amendment = services.screening_amend(
        screening=make_screening(clinician=clinician), reason="A correction.", actor=clinician
    )
    with django_assert_num_queries(7 + audit_queries()):
        clinician_client.get(reverse("screening_edit", args=[amendment.public_id]))


def test_save_draft_keeps_partial_answers(clinician_client, draft):
    response = clinician_client.post(
        reverse("screening_edit", args=[draft.public_id]),
        {
            "version": draft.version,
            "substances": ["opioids"],
            "cows_pulse": "2",
            "save": "draft",
        },
    )

    draft.refresh_from_db()
    assert response.status_code == 302
    assert draft.substance_opioids and draft.cows_pulse == 2 and draft.cows is None  # partial COWS: no total
    assert draft.status == "draft" and draft.version == 2


def test_invalid_item_value_rerenders_and_saves_nothing(clinician_client, draft):
    response = clinician_client.post(
        reverse("screening_edit", args=[draft.public_id]),
        {
            "version": draft.version,
            "substances": ["opioids"],
            "cows_pulse": "9",
            "save": "draft",
        },
    )

    draft.refresh_from_db()
    assert response.status_code == 200
    assert "cows_pulse" in response.context["form"].errors
    assert draft.version == 1 and not draft.substance_opioids


def test_complete_with_missing_answers_names_each_field(clinician_client, draft):
    post = answers_post(draft.version, complete="1")
    del post["home_safe"]
    del post["phq9_4"]

    response = clinician_client.post(reverse("screening_edit", args=[draft.public_id]), post)

    errors = response.context["form"].errors
    assert response.status_code == 200 and {"home_safe", "phq9_4"} <= set(errors)
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert draft.substance_alcohol and draft.phq9_1 == 1 and draft.home_safe is None  # the rest is saved
    assert 'name="version" value="2"' in response.content.decode()


def test_complete_inconsistent_cssrs_reported_at_field(clinician_client, draft):
    post = answers_post(draft.version, complete="1", cssrs_plan="yes")

    response = clinician_client.post(reverse("screening_edit", args=[draft.public_id]), post)

    assert "cssrs_plan" in response.context["form"].errors
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.cssrs_plan is True  # kept as entered, not completed


def test_complete_stores_recommendation_and_snapshot(clinician_client, draft):
    response = clinician_client.post(reverse("screening_edit", args=[draft.public_id]), answers_post(1, complete="1"))

    draft.refresh_from_db()
    assert response.status_code == 302
    assert draft.status == "completed" and draft.recommended_level == "iop"
    assert draft.phq9_total == 3 and draft.gad7_total == 7 and draft.ciwa_ar == 0
    assert draft.answers_snapshot["phq9_total"] == 3 and draft.rules_version == "2026.11"
    assert AuditEvent.objects.filter(action="complete", object_id=str(draft.public_id)).exists()


def test_stale_version_is_a_conflict_that_keeps_both(clinician_client, draft, clinician):
    url = reverse("screening_edit", args=[draft.public_id])
    other = UserFactory(role="clinician")
    from django.test import Client as HttpClient

    theirs = HttpClient()
    theirs.force_login(other)
    theirs.post(url, {"version": 1, "substances": ["cannabis"], "save": "draft"})

    response = clinician_client.post(url, {"version": 1, "substances": ["stimulants"], "save": "draft"})

    draft.refresh_from_db()
    assert response.status_code == 409
    assert draft.substance_cannabis and not draft.substance_stimulants  # theirs saved, mine not silently
    assert response.context["form"]["substances"].value() == ["stimulants"]  # mine still on screen
    labels = [row["label"] for row in response.context["conflict"]["rows"]]
    assert "Cannabis" in " ".join(labels) or "cannabis" in " ".join(labels).lower()
    assert 'name="version" value="2"' in response.content.decode()


def test_decide_lower_override_refused_with_detox_first(clinician_client, clinician):
    s = make_screening(ciwa_ar=15, status="completed", clinician=clinician)

    response = clinician_client.post(
        reverse("screening_decide", args=[s.public_id]),
        {
            "final_level": "iop",
            "override_reason": "patient_preference",
            "override_text": "wants home",
        },
    )

    s.refresh_from_db()
    assert response.status_code == 200
    assert "final_level" in response.context["decision_form"].errors
    assert s.final_level == ""


def test_decide_higher_override_needs_reason_and_text(clinician_client, clinician):
    s = make_screening(status="completed", clinician=clinician)
    url = reverse("screening_decide", args=[s.public_id])

    missing = clinician_client.post(url, {"final_level": "residential"})
    ok = clinician_client.post(
        url,
        {
            "final_level": "residential",
            "override_reason": "clinical_judgment",
            "override_text": "Unsafe to travel daily.",
        },
    )

    assert {"override_reason", "override_text"} <= set(missing.context["decision_form"].errors)
    s.refresh_from_db()
    assert ok.status_code == 302 and s.final_level == "residential" and s.decision == "overridden"
    assert AuditEvent.objects.filter(action="override", object_id=str(s.public_id)).exists()


def test_sign_needs_the_password_then_is_read_only(clinician_client, clinician, password):
    s = make_screening(status="completed", final_level="iop", clinician=clinician)
    url = reverse("screening_sign", args=[s.public_id])

    wrong = clinician_client.post(url, {"password": "nope"})
    s.refresh_from_db()
    assert "password" in wrong.context["sign_form"].errors and s.status == "completed"

    right = clinician_client.post(url, {"password": password})
    s.refresh_from_db()
    assert right.status_code == 302 and s.status == "signed" and s.signed_by == clinician

    edit = clinician_client.post(reverse("screening_edit", args=[s.public_id]), answers_post(s.version, save="1"))
    decide = clinician_client.post(
        reverse("screening_decide", args=[s.public_id]),
        {"final_level": "inpatient", "override_reason": "other", "override_text": "x"},
    )
    s.refresh_from_db()
    assert edit.status_code == 302 and s.final_level == "iop"  # redirected to the read-only page
    assert decide.status_code == 302 and decide["Location"] == reverse("screening_detail", args=[s.public_id])


def test_amend_makes_linked_draft_and_both_stay_visible(clinician_client, clinician):
    original = make_screening(clinician=clinician)

    response = clinician_client.post(reverse("screening_amend", args=[original.public_id]), {"reason": "A correction."})

    amendment = Screening.objects.get(amends=original)
    assert response.status_code == 302 and str(amendment.public_id) in response["Location"]
    assert amendment.status == "draft" and amendment.ciwa_ar == original.ciwa_ar
    timeline = clinician_client.get(reverse("client_detail", args=[original.client.public_id]))
    assert {s.pk for s in timeline.context["screenings"]} == {original.pk, amendment.pk}


def test_emergency_banner_shown_above_all(clinician_client):
    s = make_screening(homicidal_ideation=True, status="completed")

    html = clinician_client.get(reverse("screening_detail", args=[s.public_id])).content.decode()

    assert 'id="emergency-banner"' in html
    assert html.index("emergency-banner") < html.index("recommended-level")


def test_viewing_a_screening_is_an_audit_event(admin_client_, admin_user):
    s = make_screening()

    admin_client_.get(reverse("screening_detail", args=[s.public_id]))

    event = AuditEvent.objects.get(action="view", object_id=str(s.public_id))
    assert event.actor == admin_user and event.ip_address == "127.0.0.1"


def test_recommendation_page_carries_redisclosure_notice_for_print(clinician_client):
    s = make_screening()

    html = clinician_client.get(reverse("screening_detail", args=[s.public_id])).content.decode()

    assert "42 CFR part 2" in html and 'class="print-only redisclosure-notice"' in html


def test_home_lists_my_unfinished_screenings_only(clinician_client, clinician, draft):
    mine_done = make_screening(clinician=clinician)
    others = make_screening(status="completed")

    listed = clinician_client.get(reverse("home")).context["unfinished"]

    assert [s.pk for s in listed] == [draft.pk]
    assert mine_done not in listed and others not in listed


def test_decide_iop_notes_specialty_groups_and_other_levels_clear_them(clinician_client, clinician):
    s = make_screening(status="completed", clinician=clinician)
    url = reverse("screening_decide", args=[s.public_id])

    clinician_client.post(url, {"final_level": "iop", "groups": ["library", "horticulture"]})
    assert sorted(s.specialty_interests.values_list("group", flat=True)) == ["horticulture", "library"]

    clinician_client.post(
        url,
        {
            "final_level": "residential",
            "override_reason": "clinical_judgment",
            "override_text": "Needs structure.",
            "groups": ["library"],
        },
    )
    assert not s.specialty_interests.exists()


def test_reopen_completed_screening_clears_recommendation(clinician_client, clinician):
    s = make_screening(status="completed", final_level="iop", clinician=clinician)

    response = clinician_client.post(reverse("screening_reopen", args=[s.public_id]))

    s.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == reverse("screening_edit", args=[s.public_id])
    assert s.status == "draft" and s.recommended_level == "" and s.final_level == "" and s.flags == []
    assert s.home_safe is True  # answers kept


def test_reopen_refuses_signed(clinician_client, clinician):
    s = make_screening(clinician=clinician)

    clinician_client.post(reverse("screening_reopen", args=[s.public_id]))

    s.refresh_from_db()
    assert s.status == "signed"


def test_superseded_screening_cannot_be_amended_again(clinician_client, clinician):
    original = make_screening(clinician=clinician)
    amendment = make_screening(client=original.client, clinician=clinician)
    amendment.amends = original
    amendment.save()

    response = clinician_client.post(reverse("screening_amend", args=[original.public_id]), {"reason": "A correction."})
    page = clinician_client.get(reverse("screening_detail", args=[original.public_id]))

    assert Screening.objects.filter(amends=original).count() == 1
    assert response.status_code == 302
    assert page.context["superseded_by"] == amendment and not page.context["can_amend"]


def test_403_page_explains_and_links_home(auditor_client):
    response = auditor_client.get(reverse("client_list"))

    assert response.status_code == 403
    assert "Your role does not include this page" in response.content.decode()


# --- The client list and the client search (screening.selectors)


def found(response) -> list[str]:
    return [c.record_number for c in response.context["results"]]


@pytest.fixture
def muller(clinician):
    ClientFactory(given_name="José", family_name="Müller", record_number="R-100", created_by=clinician)
    ClientFactory(given_name="Harper", family_name="Quill", record_number="R-200", created_by=clinician)


@pytest.mark.parametrize("term", ["Müller, José", "muller, jo", "Jose Muller", "MÜLLER", "jos", "r-10"])
def test_client_search_ignores_accents_and_case_in_every_form(clinician_client, muller, term):
    response = clinician_client.post(reverse("client_list"), {"q": term})

    assert found(response) == ["R-100"]


def test_client_search_says_when_more_match_than_shown(clinician_client, clinician, monkeypatch):
    monkeypatch.setattr("screening.selectors.SEARCH_LIMIT", 2)
    for _ in range(3):
        ClientFactory(family_name="Same", created_by=clinician)

    response = clinician_client.post(reverse("client_list"), {"q": "same"})

    assert len(found(response)) == 2
    assert "More than 2 clients match" in response.content.decode()


def test_client_list_pages_newest_first_through_uuid_cursors(clinician_client, clinician, monkeypatch):
    monkeypatch.setattr("screening.selectors.CLIENTS_PER_PAGE", 2)
    made = [ClientFactory(created_by=clinician) for _ in range(5)]
    newest_first = [c.public_id for c in reversed(made)]

    first = clinician_client.get(reverse("client_list")).context["page"]
    second = clinician_client.get(reverse("client_list"), {"after": first.older}).context["page"]
    third = clinician_client.get(reverse("client_list"), {"after": second.older}).context["page"]
    back = clinician_client.get(reverse("client_list"), {"before": third.newer}).context["page"]

    assert [c.public_id for c in first.clients + second.clients + third.clients] == newest_first
    assert (first.first, first.newer, third.older) == (True, None, None)
    assert [c.public_id for c in back.clients] == [c.public_id for c in second.clients]
    assert back.newer == second.newer and back.older == second.older


@pytest.mark.parametrize("cursor", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"], ids=["malformed", "unknown"])
def test_client_list_bad_cursor_shows_the_newest_page(clinician_client, clinician, cursor):
    newest = ClientFactory(created_by=clinician)

    response = clinician_client.get(reverse("client_list"), {"after": cursor})

    assert response.status_code == 200
    assert response.context["page"].first and response.context["page"].clients == [newest]


def test_client_list_links_carry_uuids_never_names_or_record_numbers(clinician_client, clinician, monkeypatch):
    monkeypatch.setattr("screening.selectors.CLIENTS_PER_PAGE", 1)
    older = ClientFactory(given_name="Wren", family_name="Lark", record_number="R-OLD", created_by=clinician)
    ClientFactory(created_by=clinician)

    html = clinician_client.get(reverse("client_list")).content.decode()

    assert f'href="?after={older.public_id}"' not in html  # the cursor is the last row shown, not the next one
    assert 'rel="next"' in html
    for text in ("R-OLD", "Wren", "Lark", "R-", "T-"):
        assert f"after={text}" not in html and f"before={text}" not in html


def test_client_list_later_page_and_search_query_counts_are_constant(
    clinician_client, clinician, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr("screening.selectors.CLIENTS_PER_PAGE", 2)
    for _ in range(3):
        ClientFactory(family_name="Same", created_by=clinician)
    cursor = clinician_client.get(reverse("client_list")).context["page"].older
    # session, user, perms (2), roles, the cursor's row, one page of clients; the audit event
    with django_assert_num_queries(7 + audit_queries()):
        clinician_client.get(reverse("client_list"), {"after": cursor})
    # session, user, perms (2), roles, the matches (one query, however the term is written); the audit event
    with django_assert_num_queries(6 + audit_queries()):
        clinician_client.post(reverse("client_list"), {"q": "Same, Giv"})
    for _ in range(30):
        ClientFactory(family_name="Same", created_by=clinician)

    with django_assert_num_queries(7 + audit_queries()):
        clinician_client.get(reverse("client_list"), {"after": cursor})
    with django_assert_num_queries(6 + audit_queries()):
        clinician_client.post(reverse("client_list"), {"q": "Same, Giv"})


def test_home_query_count_does_not_grow_with_signed_history(
    clinician_client, clinician, draft, django_assert_num_queries
):
    clinician_client.get(reverse("home"))
    # session, user, perms (2), roles, the unfinished screenings with their clients; the audit event naming them
    with django_assert_num_queries(6 + audit_queries()):
        response = clinician_client.get(reverse("home"))
    for _ in range(5):
        make_screening(clinician=clinician)

    with django_assert_num_queries(6 + audit_queries()):
        clinician_client.get(reverse("home"))
    assert [s.pk for s in response.context["unfinished"]] == [draft.pk]
