"""`manage.py create_user`: an operator's users (the first admin; a load test's clinicians)."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from screening import accounts
from screening.models import AuditEvent

pytestmark = pytest.mark.django_db
GOOD = "a-long-load-test-password-9"


def run(*args, env=None, monkeypatch=None):
    if env is not None:
        monkeypatch.setenv("IOP_NEW_PASSWORD", env)
    out = StringIO()
    call_command("create_user", *args, stdout=out)
    return out.getvalue()


def test_creates_users_with_one_role_a_password_and_audit_events(monkeypatch):
    out = run(
        "clin01",
        "clin02",
        "--role",
        "clinician",
        "--password-env",
        "IOP_NEW_PASSWORD",
        env=GOOD,
        monkeypatch=monkeypatch,
    )
    assert "Created 2 clinician users" in out
    for name in ("clin01", "clin02"):
        user = get_user_model().objects.get(username=name)
        assert user.check_password(GOOD) and accounts.role_of(user) == "clinician"
        assert not user.is_staff and not user.is_superuser
    events = AuditEvent.objects.filter(object_type="user", actor_username="manage.py create_user")
    assert events.filter(action=AuditEvent.Action.CREATE).count() == 2
    assert GOOD not in str(list(events.values_list("details", flat=True)))


@pytest.mark.parametrize(
    ("args", "password", "names"),
    [
        (["x1", "--role", "clinician", "--password-env", "IOP_NEW_PASSWORD"], "", "--password-env"),
        (["x1", "--role", "clinician", "--password-env", "IOP_NEW_PASSWORD"], "short", "--password-env"),
        (["bad name!", "--role", "admin", "--password-env", "IOP_NEW_PASSWORD"], GOOD, "USERNAME"),
    ],
)
def test_bad_input_exits_2_naming_the_option_and_saves_nothing(monkeypatch, args, password, names):
    with pytest.raises(CommandError) as e:
        run(*args, env=password, monkeypatch=monkeypatch)
    assert e.value.returncode == 2 and names in str(e.value)
    assert not get_user_model().objects.exists()


def test_a_taken_username_saves_none_of_them(monkeypatch, clinician):
    with pytest.raises(CommandError) as e:
        run(
            "fresh",
            clinician.username,
            "--role",
            "auditor",
            "--password-env",
            "IOP_NEW_PASSWORD",
            env=GOOD,
            monkeypatch=monkeypatch,
        )
    assert e.value.returncode == 2 and clinician.username in str(e.value)
    assert not get_user_model().objects.filter(username="fresh").exists()


def test_an_unknown_role_is_refused_by_the_parser():
    with pytest.raises(CommandError, match="--role"):
        call_command("create_user", "x", "--role", "superuser", "--password-env", "X")
