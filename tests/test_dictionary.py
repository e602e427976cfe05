"""The exports' data dictionary: generated from the answer map, one row per exported column."""

import csv
import io
import json

import pytest
from django.core.management import ManagementUtility, call_command
from django.urls import reverse

from screening import answers, dictionary, exports


def test_every_exported_column_has_exactly_one_entry():
    variables = [e.variable for e in dictionary.entries()]

    assert len(variables) == len(set(variables))
    assert set(variables) == set(exports.columns(deidentified=False)) | set(exports.columns(deidentified=True))


@pytest.mark.parametrize("deidentified", [False, True])
def test_entries_say_which_export_carries_them(deidentified):
    columns = set(exports.columns(deidentified=deidentified))
    absent = "identified only" if deidentified else "de-identified only"

    for e in dictionary.entries():
        assert (e.variable in columns) == (e.exports != absent), e.variable


def test_answer_entries_come_from_the_answer_map():
    by_name = {e.variable: e for e in dictionary.entries()}

    for a in answers.ANSWER_TABLE:
        if a.name in answers.OBJECT_ANSWERS:
            for i in a.inputs:
                assert by_name[f"{a.name}.{i.key}"].label == i.label
        else:
            assert by_name[a.name].label == a.label
    assert by_name["phq9_total"].maximum == 27 and "20+ severe" in by_name["phq9_total"].unit_or_band
    assert by_name["cows_gooseflesh"].maximum == 5 and by_name["cows_gooseflesh"].label.startswith("COWS:")
    assert ("precontemplation", "Precontemplation") in by_name["readiness"].choices
    assert by_name["record_number"].exports == "identified only"


def test_csv_follows_redcaps_columns_and_json_has_every_field():
    rows = list(csv.DictReader(io.StringIO(dictionary.as_csv())))
    data = json.loads(dictionary.as_json())

    assert rows[0]["variable_field_name"] == "screening_id" and rows[0]["identifier"] == "y"
    assert {"field_type", "field_label", "select_choices_or_calculations", "text_validation_max"} <= set(rows[0])
    assert len(rows) == len(data) == len(dictionary.entries())
    assert set(data[0]) == {
        "variable",
        "section",
        "label",
        "type",
        "choices",
        "minimum",
        "maximum",
        "unit_or_band",
        "exports",
    }


def test_command_writes_the_dictionary(tmp_path, capsys):
    out = tmp_path / "dictionary.json"

    call_command("data_dictionary", "--format", "json", "--output", str(out))

    assert len(json.loads(out.read_text())) == len(dictionary.entries())


@pytest.mark.parametrize(
    ("argv", "option"), [(["--format", "xml"], "--format"), (["--output", "/no/such/dir/x"], "--output")]
)
def test_command_bad_arguments_exit_2_naming_the_option(capsys, argv, option):
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "data_dictionary", *argv]).execute()

    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_page_for_auditors_with_downloads(auditor_client):
    page = auditor_client.get(reverse("data_dictionary"))
    as_csv = auditor_client.get(reverse("data_dictionary"), {"format": "csv"})

    assert page.status_code == 200
    assert "<code>phq9_total</code>" in page.content.decode()
    assert as_csv["Content-Type"].startswith("text/csv")
    assert as_csv.content.decode() == dictionary.as_csv()


@pytest.mark.parametrize("fixture", ["clinician_client", "admin_client_"])
def test_page_refuses_other_roles(request, fixture):
    assert request.getfixturevalue(fixture).get(reverse("data_dictionary")).status_code == 403


def test_page_asks_anonymous_users_to_sign_in(client):
    response = client.get(reverse("data_dictionary"))

    assert response.status_code == 302 and reverse("login") in response.url
