import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from screening import questionnaire, rules, selectors
from screening.models import Client, Screening

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_generates_signed_screenings_with_real_rules():
    call_command("generate_screenings", 60, seed=3, stdout=io.StringIO())

    screenings = list(Screening.objects.select_related("client"))
    assert len(screenings) == 60
    assert {s.status for s in screenings} == {"signed"}
    for s in screenings:
        answers = questionnaire.parse(s.answers_dict())
        assert rules.evaluate(answers).level == s.recommended_level
        assert s.signed_at >= s.completed_at >= s.created_at
        assert s.client.record_number.startswith("SYN-")
        if s.decision == "overridden":
            assert s.override_reason and s.override_text
            lower = rules.Level(s.final_level).rank < rules.Level(s.recommended_level).rank
            assert not (lower and ({"emergency_referral", "detox_first"} & set(s.flags)))
    assert len({s.recommended_level for s in screenings}) == 3


@pytest.mark.django_db
def test_same_seed_gives_same_answers():
    call_command("generate_screenings", 5, seed=11, stdout=io.StringIO())
    first = [s.answers_snapshot for s in Screening.objects.order_by("id")]
    call_command("generate_screenings", 5, seed=11, stdout=io.StringIO())

    second = [s.answers_snapshot for s in Screening.objects.order_by("id")[5:]]

    assert first == second


@pytest.mark.parametrize(
    "args", [["-3"], ["many"], ["5", "--days", "0"]], ids=["negative", "not-a-number", "zero-days"]
)
def test_bad_arguments_exit_2(args):
    proc = subprocess.run(
        [sys.executable, "manage.py", "generate_screenings", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


@pytest.mark.django_db
def test_generated_clients_can_be_found_by_search():
    call_command("generate_screenings", 3, seed=5, stdout=io.StringIO())
    client = Client.objects.order_by("id").first()

    found = selectors.client_search(f"{client.family_name}, {client.given_name}").clients

    assert client in found
    assert client in selectors.client_search(client.record_number.lower()).clients


@pytest.mark.django_db
def test_generated_screenings_carry_their_six_domain_summary():
    call_command("generate_screenings", 5, seed=9, stdout=io.StringIO())

    for s in Screening.objects.all():
        assert s.domains == s.result().to_dict()["domains"]
