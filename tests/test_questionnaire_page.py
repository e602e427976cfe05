"""The questionnaire page (issue 14): fewer interactions, honestly — radios and no dropdowns, nothing pre-answered,
headings in order, bands from the core for the running totals, "None of these", and what unticking a substance
does to its scale."""

import json
import re

import pytest
from django.conf import settings
from django.urls import reverse

from screening import answers, instruments
from screening.forms import NONE_AND_SOME, ScreeningForm
from screening.models import Screening
from tests.factories import ClientFactory
from tests.test_views_clinician import answers_post

pytestmark = pytest.mark.django_db

CIWA_ITEMS = [i.name for i in answers.INSTRUMENTS["ciwa_ar"]]


@pytest.fixture
def draft(clinician):
    return Screening.objects.create(client=ClientFactory(created_by=clinician), clinician=clinician)


def page(browser, draft) -> str:
    response = browser.get(reverse("screening_edit", args=[draft.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_questionnaire_has_no_dropdowns(clinician_client, draft):
    html = page(clinician_client, draft)

    assert "<select" not in html
    assert html.count('type="radio"') > 150  # every scale, choice and yes/no


def test_a_new_screening_has_nothing_pre_answered(clinician_client, draft):
    html = page(clinician_client, draft)

    checked = re.findall(r'<input[^>]*name="([a-z0-9_]+)" value="([^"]*)"[^>]*\bchecked\b', html)
    assert checked == [("pawss", "")]  # "Not assessed", the optional PAWSS's answer until one is given


def test_section_titles_are_h2_between_the_h1_and_the_instruments_h3(clinician_client, draft):
    html = page(clinician_client, draft)

    levels = [int(n) for n in re.findall(r"<h([1-6])\b", html.split('id="main"', 1)[1])]
    assert levels[0] == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))  # never a level skipped
    titles = re.findall(r'<h2 class="h4 mb-0">(\d\. [^<]+)</h2>', html)
    assert titles == [f"{n}. {s.title}" for n, s in enumerate(answers.SECTIONS, 1)]


def test_the_draft_header_shows_no_internal_version_counter(clinician_client, draft):
    url = reverse("screening_edit", args=[draft.public_id])
    clinician_client.post(url, {"version": 1, "substances": ["alcohol"], "save": "draft"})

    html = page(clinician_client, draft)

    assert not re.search(r"version\s+\d", html, re.I)
    assert "last saved" in html


@pytest.mark.parametrize(
    ("grid", "bands", "maximum"),
    [
        ("phq9-total-items", instruments.PHQ9_BANDS, 27),
        ("gad7-total-items", instruments.GAD7_BANDS, 21),
        ("ciwa-ar-items", instruments.CIWA_AR_BANDS, 67),
        ("cows-items", instruments.COWS_BANDS, 48),
        ("pawss-items", instruments.PAWSS_BANDS, 10),
    ],
    ids=["phq9", "gad7", "ciwa_ar", "cows", "pawss"],
)
def test_running_totals_read_their_bands_from_the_instruments(clinician_client, draft, grid, bands, maximum):
    html = page(clinician_client, draft)

    tag = re.search(rf'<div class="instrument" id="{grid}"[^>]*>', html).group(0)
    data = json.loads(re.search(r'data-bands="([^"]*)"', tag).group(1).replace("&quot;", '"'))
    assert data == [[lowest, label.replace("_", " ")] for lowest, label in bands]
    assert f'data-maximum="{maximum}"' in tag


def test_the_page_script_holds_no_clinical_number():
    script = (settings.BASE_DIR / "static" / "js" / "screening_form.js").read_text(encoding="utf-8")

    for label in ("minimal", "moderately", "severe", "mild"):
        assert f'"{label}' not in script


def test_yes_no_error_message_is_in_the_page_and_linked_to_its_question(clinician_client, draft):
    url = reverse("screening_edit", args=[draft.public_id])
    post = answers_post(1, complete="1")
    del post["home_safe"]

    html = clinician_client.post(url, post).content.decode()

    group = re.search(r'<fieldset id="id_home_safe"[^>]*>', html).group(0)
    assert 'aria-describedby="id_home_safe_error"' in group and 'aria-invalid="true"' in group
    error = re.search(r'<div id="id_home_safe_error" class="([^"]*)">(.*?)</div>', html, re.S)
    assert "Answer this to complete the screening." in error.group(2)
    assert "invalid-feedback" not in error.group(1)  # shown as it is, never left to a sibling rule


def test_none_of_these_with_criteria_ticked_is_refused_at_the_field(clinician_client, draft):
    url = reverse("screening_edit", args=[draft.public_id])
    post = answers_post(1, save="draft", dsm5_criteria_none="on")

    response = clinician_client.post(url, post)

    assert response.status_code == 200
    assert NONE_AND_SOME in response.content.decode()
    assert Screening.objects.get(pk=draft.pk).version == 1


def test_none_of_these_alone_completes_with_no_criteria(clinician_client, draft):
    url = reverse("screening_edit", args=[draft.public_id])
    post = answers_post(1, complete="1", dsm5_criteria_none="on")
    del post["dsm5_criteria"]

    response = clinician_client.post(url, post)

    assert response.status_code == 302
    assert Screening.objects.get(pk=draft.pk).answers_snapshot["dsm5_criteria"] == []


def test_unticking_a_substance_keeps_its_scale_in_the_draft_to_tick_again(clinician_client, draft):
    url = reverse("screening_edit", args=[draft.public_id])
    clinician_client.post(url, answers_post(1, save="draft", ciwa_tremor="3"))

    clinician_client.post(url, answers_post(2, save="draft", substances=["cannabis"], ciwa_tremor="3"))

    draft.refresh_from_db()
    assert not draft.substance_alcohol and draft.ciwa_tremor == 3  # hidden, kept as entered
    html = page(clinician_client, draft)
    assert re.search(r'name="ciwa_tremor" value="3" id="id_ciwa_tremor_\d+" checked', html)


def test_an_unticked_substances_scale_never_counts_at_completion(clinician_client, draft):
    url = reverse("screening_edit", args=[draft.public_id])
    heavy = {name: "7" for name in CIWA_ITEMS[:-1]}  # a severe CIWA-Ar, entered and then left behind
    clinician_client.post(url, answers_post(1, save="draft", **heavy))

    response = clinician_client.post(url, answers_post(2, complete="1", substances=["cannabis"], **heavy))

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.recommended_level == "iop"
    assert draft.answers_snapshot["ciwa_ar"] is None and draft.ciwa_ar is None
    assert all(getattr(draft, name) is None for name in CIWA_ITEMS)


def test_form_plan_offers_none_of_these_only_where_none_is_an_answer():
    form = ScreeningForm()

    assert "dsm5_criteria_none" in form.fields and "substances_none" not in form.fields


# --- The page drawn in Python (forms._field_frame, _option_rows): made once per process, per page only what the
# page's own answers and errors decide.


@pytest.mark.parametrize(
    ("data", "initial"),
    [(None, {"version": 4}), ({"version": "3"}, None), ({"version": 'x<"y'}, None), ({}, None)],
    ids=["initial", "posted", "posted-markup", "missing"],
)
def test_hidden_version_is_drawn_as_django_draws_it(data, initial):
    form = ScreeningForm(data, initial=initial)

    assert form.version_html == str(form["version"])


def _field_state(field) -> tuple:
    widget = field.widget
    return (field.label, field.help_text, field.required, list(field.choices), dict(widget.attrs), widget.choices)


def test_question_fields_are_made_once_and_no_page_changes_them(clinician_client, draft):
    fields = ScreeningForm().fields
    before = {name: _field_state(fields[name]) for name in answers.INPUTS}
    url = reverse("screening_edit", args=[draft.public_id])
    clinician_client.post(url, {"version": 1, "pawss": "11", "dsm5_criteria": ["craving", "x"], "complete": "1"})
    page(clinician_client, draft)

    again = ScreeningForm(carried=["home"]).fields
    assert all(again[name] is fields[name] for name in answers.INPUTS)  # shared, never copied per form
    assert {name: _field_state(again[name]) for name in answers.INPUTS} == before


def test_posted_markup_in_an_error_message_is_escaped(clinician_client, draft):
    url = reverse("screening_edit", args=[draft.public_id])
    post = {"version": 1, "pawss": '"><script>alert(1)</script>', "dsm5_criteria": ["<b>x</b>"], "save": "draft"}

    html = clinician_client.post(url, post).content.decode()

    assert "<script>alert" not in html and "<b>x</b>" not in html
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; is not one of the available choices" in html
    error = re.search(r'<div id="id_pawss_error" class="field-error[^"]*">(.*?)</div>', html, re.S)
    assert 'id="error_1_id_pawss"' in error.group(1)


def test_a_page_shows_nothing_of_the_page_drawn_before_it(clinician_client, clinician, draft):
    other = Screening.objects.create(client=ClientFactory(created_by=clinician), clinician=clinician)
    url = reverse("screening_edit", args=[other.public_id])
    post = answers_post(1, complete="1", dsm5_criteria_none="on", ciwa_tremor="7")
    del post["home_safe"]
    assert clinician_client.post(url, post).status_code == 200  # answers, errors, "None of these" ticked

    html = page(clinician_client, draft)  # then a new screening

    checked = re.findall(r'<input[^>]*name="([a-z0-9_]+)" value="([^"]*)"[^>]*\bchecked\b', html)
    assert checked == [("pawss", "")]
    assert "aria-invalid" not in html and "field-error" not in html and "text-danger" not in html
