"""The app's user management (DESIGN.md §6) and every user's own password (issue 11: findings 1, 7 and 8)."""

import datetime as dt
import re
import smtplib
from urllib.parse import urlparse

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from screening import accounts
from screening.forms import UserCreateForm, UserRoleForm
from screening.models import AuditEvent
from tests.factories import PASSWORD, ClientFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
NEW_PASSWORD = "a-fresh-synthetic-passphrase-42"


@pytest.fixture(autouse=True)
def _no_second_factor_step(settings):
    # These tests are about passwords and roles; the second factor's own tests cover its step at sign-in.
    settings.MFA_REQUIRED = False


def user_events(user) -> list[dict]:
    events = AuditEvent.objects.filter(object_type="user", object_id=str(user.pk)).order_by("id")
    events = events.exclude(action__in=[AuditEvent.Action.SIGN_IN, AuditEvent.Action.SIGN_OUT])
    return [{"action": e.action, "actor": e.actor_username, **e.details} for e in events]


@pytest.fixture
def other_browser():
    """A second browser: `client` and the role fixtures' clients are one and the same object."""
    return Client()


def link_in(message) -> str:
    (link,) = re.findall(r"https?://\S+/accounts/reset/\S+/", message.body)
    return urlparse(link).path


def create(client, **changes):
    data = {"username": "newclin", "email": "newclin@example.org", "role": "clinician", **changes}
    return client.post(reverse("user_create"), data)


# --- Access: admins only.

USER_PAGES = [("user_list", {}), ("user_create", {}), ("user_detail", {"pk": 1})]


@pytest.mark.parametrize(("name", "kwargs"), USER_PAGES, ids=[n for n, _ in USER_PAGES])
def test_user_pages_send_anonymous_visitors_to_sign_in(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("who", ["clinician_client", "auditor_client"])
@pytest.mark.parametrize(("name", "kwargs"), USER_PAGES, ids=[n for n, _ in USER_PAGES])
def test_user_pages_forbidden_to_other_roles(request, who, name, kwargs):
    other = UserFactory(role="clinician")
    kwargs = {"pk": other.pk} if kwargs else {}
    client = request.getfixturevalue(who)

    got = client.get(reverse(name, kwargs=kwargs))
    posted = client.post(reverse(name, kwargs=kwargs), {"action": "deactivate", "username": "x", "role": "admin"})

    assert got.status_code == 403 and posted.status_code == 403
    other.refresh_from_db()
    assert other.is_active and not User.objects.filter(username="x").exists()


def test_nav_links_users_for_admins_and_change_password_for_everyone(admin_client_, clinician):
    admin_page = admin_client_.get(reverse("home")).content.decode()

    admin_client_.force_login(clinician)
    clinician_page = admin_client_.get(reverse("home")).content.decode()

    assert f'href="{reverse("user_list")}"' in admin_page
    assert f'href="{reverse("user_list")}"' not in clinician_page
    assert (
        f'href="{reverse("password_change")}"' in admin_page
        and f'href="{reverse("password_change")}"' in clinician_page
    )
    assert "Django admin" not in admin_page  # the Django admin is the operators' (superusers') only


# --- The list.


def test_user_list_shows_role_activity_second_factor_and_last_sign_in(admin_client_, django_assert_num_queries):
    enrolled = UserFactory(username="enrolled", role="clinician", email="e@example.org")
    TOTPDevice.objects.create(user=enrolled, name="phone", confirmed=True)
    unconfirmed = UserFactory(username="halfway", role="auditor")
    TOTPDevice.objects.create(user=unconfirmed, name="phone", confirmed=False)
    UserFactory(username="gone", role="clinician", is_active=False)
    admin_client_.get(reverse("user_list"))

    # session, user, the admin's permissions (2) and roles (nav), the users, their groups
    with django_assert_num_queries(7):
        response = admin_client_.get(reverse("user_list"))
    for i in range(5):
        UserFactory(username=f"more{i}", role="clinician")
    with django_assert_num_queries(7):
        admin_client_.get(reverse("user_list"))

    rows = {u.username: u for u in response.context["users"]}
    assert rows["enrolled"].has_second_factor and not rows["halfway"].has_second_factor
    html = response.content.decode()
    row = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>enrolled</a>.*?</tr>", html, re.S).group(0)
    assert "e@example.org" in row and "clinician" in row and "<td>yes</td>" in row and "never" in row
    gone = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>gone</a>.*?</tr>", html, re.S).group(0)
    assert ">no</span>" in gone


# --- Finding 1: nothing in the app makes anyone superuser or staff, or grants a permission.


def test_user_forms_offer_no_superuser_staff_group_or_permission_field():
    assert set(UserCreateForm().fields) == {"username", "email", "role"}
    assert set(UserRoleForm().fields) == {"role"}


def test_admin_cannot_grant_superuser_staff_or_permissions_through_the_app(admin_client_, admin_user):
    perm = Permission.objects.get(codename="manage_users")
    admin_group = Group.objects.get(name="admin")
    escalation = {
        "is_superuser": "on",
        "is_staff": "on",
        "user_permissions": [perm.pk],
        "groups": [admin_group.pk],
        "permissions": [perm.pk],
    }
    other = UserFactory(username="other", role="clinician")

    create(admin_client_, **escalation)
    admin_client_.post(reverse("user_detail", args=[other.pk]), {"action": "role", "role": "auditor", **escalation})
    own = admin_client_.post(
        reverse("user_detail", args=[admin_user.pk]), {"action": "role", "role": "admin", **escalation}
    )
    for action in ("reactivate", "send_link", "reset_mfa"):
        admin_client_.post(reverse("user_detail", args=[other.pk]), {"action": action, **escalation})
    bad_role = admin_client_.post(reverse("user_detail", args=[other.pk]), {"action": "role", "role": "superuser"})

    assert own.status_code == 400 and bad_role.status_code == 400
    assert not User.objects.filter(is_superuser=True).exists()
    assert not User.objects.filter(is_staff=True).exclude(pk=admin_user.pk).exists()  # the factory's own admin
    assert not User.user_permissions.through.objects.exists()
    created = User.objects.get(username="newclin")
    assert [g.name for g in created.groups.all()] == ["clinician"]
    assert [g.name for g in other.groups.all()] == ["auditor"]
    assert [g.name for g in admin_user.groups.all()] == ["admin"]


def test_role_change_clears_staff_status_left_from_an_older_setup(admin_client_):
    old_admin = UserFactory(username="oldadmin", role="admin")
    assert old_admin.is_staff

    admin_client_.post(reverse("user_detail", args=[old_admin.pk]), {"action": "role", "role": "clinician"})

    old_admin.refresh_from_db()
    assert not old_admin.is_staff and not old_admin.is_superuser
    assert {"field": "is_staff", "old": True, "new": False}.items() <= user_events(old_admin)[-1].items()


# --- Create, and the password-set link.


def test_create_user_emails_a_link_and_never_shows_it(admin_client_, admin_user):
    response = create(admin_client_, role="auditor")

    user = User.objects.get(username="newclin")
    assert response.status_code == 302 and response["Location"] == reverse("user_detail", args=[user.pk])
    page = admin_client_.get(response["Location"]).content.decode()
    assert "A link was sent to newclin@example.org" in page
    (message,) = mail.outbox
    assert message.to == ["newclin@example.org"]
    assert link_in(message) not in page and "/accounts/reset/" not in page
    assert not user.has_usable_password() and user.is_active
    assert not user.is_staff and not user.is_superuser
    assert [g.name for g in user.groups.all()] == ["auditor"]
    events = user_events(user)
    assert events[0]["action"] == "create" and events[0]["actor"] == admin_user.username
    assert events[0]["role"] == "auditor" and events[0]["email"] == "newclin@example.org"
    assert {"action": "change", "field": "password_link", "new": "sent"}.items() <= events[1].items()


def test_password_link_sets_a_password_once_and_not_twice(admin_client_, other_browser):
    create(admin_client_)
    path = link_in(mail.outbox[0])

    opened = other_browser.get(path)
    form_page = other_browser.get(opened["Location"])
    posted = other_browser.post(opened["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    again = other_browser.get(path)

    assert opened.status_code == 302 and "set-password" in opened["Location"]  # the token leaves the address
    assert form_page.context["validlink"]
    assert posted.status_code == 302 and posted["Location"] == reverse("password_reset_complete")
    user = User.objects.get(username="newclin")
    assert user.check_password(NEW_PASSWORD)
    assert again.status_code == 200 and not again.context["validlink"]
    assert "This link is not valid" in again.content.decode()
    assert {"field": "password", "new": "set by link"}.items() <= user_events(user)[-1].items()


def test_new_user_signs_in_with_the_password_from_the_link(admin_client_, other_browser):
    create(admin_client_)
    set_page = other_browser.get(link_in(mail.outbox[0]))["Location"]
    other_browser.post(set_page, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    response = other_browser.post(reverse("login"), {"username": "newclin", "password": NEW_PASSWORD})

    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_password_link_expires_after_24_hours(admin_client_, other_browser, monkeypatch):
    create(admin_client_)
    path = link_in(mail.outbox[0])
    later = PasswordResetTokenGenerator()._now() + dt.timedelta(hours=24, minutes=1)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)

    response = other_browser.get(path)

    assert response.status_code == 200 and not response.context["validlink"]


def test_password_link_of_a_deactivated_user_is_dead(admin_client_, other_browser):
    create(admin_client_)
    user = User.objects.get(username="newclin")
    admin_client_.post(reverse("user_detail", args=[user.pk]), {"action": "deactivate"})

    response = other_browser.get(link_in(mail.outbox[0]))

    assert response.status_code == 200 and not response.context["validlink"]


def test_set_password_page_checks_the_password_at_its_field(admin_client_, other_browser):
    create(admin_client_)
    set_page = other_browser.get(link_in(mail.outbox[0]))["Location"]

    response = other_browser.post(set_page, {"new_password1": NEW_PASSWORD, "new_password2": "something-else-entirely"})

    assert response.status_code == 200 and "new_password2" in response.context["form"].errors
    assert not User.objects.get(username="newclin").has_usable_password()


def test_send_link_emails_the_user_and_is_audited(admin_client_):
    user = UserFactory(username="forgetful", role="clinician", email="forgetful@example.org")

    response = admin_client_.post(reverse("user_detail", args=[user.pk]), {"action": "send_link"}, follow=True)

    (message,) = mail.outbox
    assert message.to == ["forgetful@example.org"]
    page = response.content.decode()
    assert "A link was sent to forgetful@example.org" in page and link_in(message) not in page
    assert {"field": "password_link", "new": "sent"}.items() <= user_events(user)[-1].items()


def test_send_link_refused_for_an_inactive_user_or_one_without_email(admin_client_):
    inactive = UserFactory(username="inactive", role="clinician", email="i@example.org", is_active=False)
    no_email = UserFactory(username="noemail", role="clinician", email="")

    first = admin_client_.post(reverse("user_detail", args=[inactive.pk]), {"action": "send_link"})
    second = admin_client_.post(reverse("user_detail", args=[no_email.pk]), {"action": "send_link"})

    assert first.status_code == 400 and "reactivate them" in first.content.decode()
    assert second.status_code == 400 and "no email address" in second.content.decode()
    assert mail.outbox == [] and user_events(inactive) == [] and user_events(no_email) == []


def test_create_saves_nothing_when_the_email_cannot_be_sent(admin_client_, monkeypatch):
    def refuse(*args, **kwargs):
        raise smtplib.SMTPException("mail server down")

    monkeypatch.setattr(accounts, "send_mail", refuse)

    response = create(admin_client_)

    assert response.status_code == 503 and "could not be sent" in response.content.decode()
    assert not User.objects.filter(username="newclin").exists()
    assert not AuditEvent.objects.filter(object_type="user", action="create").exists()


# --- Role and activity: audited with old and new; never one's own.


def test_role_change_is_audited_with_old_and_new(admin_client_, admin_user):
    user = UserFactory(username="moving", role="clinician")

    response = admin_client_.post(reverse("user_detail", args=[user.pk]), {"action": "role", "role": "auditor"})

    assert response.status_code == 302
    assert [g.name for g in user.groups.all()] == ["auditor"]
    (event,) = user_events(user)
    assert event == {
        "action": "change",
        "actor": admin_user.username,
        "field": "role",
        "old": "clinician",
        "new": "auditor",
    }


def test_deactivate_and_reactivate_are_audited(admin_client_):
    user = UserFactory(username="leaving", role="clinician")

    admin_client_.post(reverse("user_detail", args=[user.pk]), {"action": "deactivate"})
    user.refresh_from_db()
    assert not user.is_active
    admin_client_.post(reverse("user_detail", args=[user.pk]), {"action": "reactivate"})

    user.refresh_from_db()
    assert user.is_active
    off, on = user_events(user)
    assert (off["field"], off["old"], off["new"]) == ("is_active", True, False)
    assert (on["field"], on["old"], on["new"]) == ("is_active", False, True)


def test_deactivated_users_session_ends(admin_client_, other_browser):
    user = UserFactory(username="signedin", role="clinician")
    other_browser.force_login(user)
    assert other_browser.get(reverse("client_list")).status_code == 200

    admin_client_.post(reverse("user_detail", args=[user.pk]), {"action": "deactivate"})
    response = other_browser.get(reverse("client_list"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    assert user_events(user)[-1]["sessions_ended"] == 1


def test_inactive_user_is_signed_out_even_if_their_session_row_stays(client):
    user = UserFactory(username="lingering", role="clinician")
    client.force_login(user)
    User.objects.filter(pk=user.pk).update(is_active=False)  # no session cleanup: the backend alone

    response = client.get(reverse("client_list"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "role", "role": "clinician"}, "You cannot change your own role"),
        ({"action": "deactivate"}, "You cannot deactivate or reactivate yourself"),
        ({"action": "reset_mfa"}, "You cannot reset your own second factor"),
    ],
    ids=["own-role", "self-deactivation", "own-second-factor"],
)
def test_admin_cannot_change_their_own_role_or_deactivate_themselves(admin_client_, admin_user, data, message):
    response = admin_client_.post(reverse("user_detail", args=[admin_user.pk]), data)

    assert response.status_code == 400 and message in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active and [g.name for g in admin_user.groups.all()] == ["admin"]
    assert user_events(admin_user) == []


def test_own_user_page_offers_no_role_or_deactivate_controls(admin_client_, admin_user):
    html = admin_client_.get(reverse("user_detail", args=[admin_user.pk])).content.decode()

    assert 'value="deactivate"' not in html and 'name="role"' not in html
    assert "This is your own account" in html


def test_an_operators_account_cannot_be_changed_in_the_app(admin_client_):
    operator = User.objects.create_superuser("operator", "op@example.org", PASSWORD)

    for data in ({"action": "role", "role": "clinician"}, {"action": "deactivate"}, {"action": "send_link"}):
        response = admin_client_.post(reverse("user_detail", args=[operator.pk]), data)
        assert response.status_code == 400 and "operator" in response.content.decode()

    operator.refresh_from_db()
    assert operator.is_active and operator.is_superuser and not operator.groups.exists() and mail.outbox == []


def test_reset_second_factor_removes_the_devices_and_is_audited(admin_client_, admin_user):
    user = UserFactory(username="lostphone", role="clinician")
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    StaticDevice.objects.create(user=user, name="recovery")

    response = admin_client_.post(reverse("user_detail", args=[user.pk]), {"action": "reset_mfa"}, follow=True)

    assert "sets one up at the next sign-in" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=user).exists() and not StaticDevice.objects.filter(user=user).exists()
    event = user_events(user)[-1]
    assert event["field"] == "second_factor" and event["old"] == "enrolled" and event["actor"] == admin_user.username


# --- Bad input: errors at the field, nothing saved, never a 500.


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": ""}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "x" * 151}, "username"),
        ({"username": "BOSS"}, "username"),  # the admin fixture's "boss", in another case
        ({"email": ""}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "TAKEN@example.org"}, "email"),
        ({"role": ""}, "role"),
        ({"role": "superuser"}, "role"),
    ],
    ids=[
        "no-username",
        "space",
        "too-long",
        "taken-username",
        "no-email",
        "bad-email",
        "taken-email",
        "no-role",
        "bad-role",
    ],
)
def test_create_user_bad_input_gets_field_errors(admin_client_, changes, field):
    UserFactory(username="someone", email="taken@example.org")
    before = User.objects.count()

    response = create(admin_client_, **changes)

    assert response.status_code == 400 and field in response.context["form"].errors
    assert f'href="#id_{field}' in response.content.decode()  # the summary links to the field
    assert User.objects.count() == before and mail.outbox == []


def test_user_page_bad_input_is_an_error_not_a_500(admin_client_):
    user = UserFactory(username="plain", role="clinician")

    unknown = admin_client_.post(reverse("user_detail", args=[user.pk]), {"action": "promote"})
    missing = admin_client_.post(reverse("user_detail", args=[user.pk]), {})
    nobody = admin_client_.get(reverse("user_detail", args=[999_999]))

    assert unknown.status_code == 400 and missing.status_code == 400 and nobody.status_code == 404
    assert user_events(user) == []


# --- Finding 7: a user's own password.


def test_password_change_requires_the_current_password(clinician_client, clinician):
    data = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}

    wrong = clinician_client.post(reverse("password_change"), {"old_password": "not-my-password", **data})
    clinician.refresh_from_db()
    assert wrong.status_code == 200 and "old_password" in wrong.context["form"].errors
    assert clinician.check_password(PASSWORD)
    right = clinician_client.post(reverse("password_change"), {"old_password": PASSWORD, **data})

    clinician.refresh_from_db()
    assert right.status_code == 302 and right["Location"] == reverse("password_change_done")
    assert clinician.check_password(NEW_PASSWORD)
    assert clinician_client.get(reverse("password_change_done")).status_code == 200  # this session stays
    assert {"field": "password", "new": "set by change"}.items() <= user_events(clinician)[-1].items()


def test_password_change_ends_the_users_other_sessions(client, clinician):
    other_device = Client()
    other_device.force_login(clinician)
    client.force_login(clinician)
    data = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}

    client.post(reverse("password_change"), data)

    assert client.get(reverse("client_list")).status_code == 200
    assert other_device.get(reverse("client_list")).status_code == 302


def test_password_change_page_needs_sign_in(client):
    response = client.get(reverse("password_change"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_forgot_password_emails_the_users_own_address(client):
    user = UserFactory(username="forgot", role="clinician", email="forgot@example.org")

    response = client.post(reverse("password_reset"), {"email": "Forgot@Example.org"})

    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    (message,) = mail.outbox
    assert message.to == ["forgot@example.org"]
    set_page = client.get(link_in(message))["Location"]
    client.post(set_page, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_forgot_password_reaches_a_user_whose_first_link_expired(admin_client_, other_browser):
    create(admin_client_)
    mail.outbox.clear()

    other_browser.post(reverse("password_reset"), {"email": "newclin@example.org"})

    (message,) = mail.outbox
    assert message.to == ["newclin@example.org"]


@pytest.mark.parametrize("email", ["nobody@example.org", "inactive@example.org"], ids=["unknown", "inactive"])
def test_forgot_password_answers_the_same_for_unknown_and_inactive(client, email):
    UserFactory(username="inactive", role="clinician", email="inactive@example.org", is_active=False)

    response = client.post(reverse("password_reset"), {"email": email}, follow=True)

    assert response.redirect_chain == [(reverse("password_reset_done"), 302)]
    assert "If an account exists for that address" in response.content.decode()
    assert mail.outbox == []


def test_sign_in_page_links_to_forgot_password(client):
    html = client.get(reverse("login")).content.decode()

    assert f'href="{reverse("password_reset")}"' in html


# --- Finding 8: identifier fields tell browsers not to remember them.


def _input(html: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)


def test_new_client_fields_are_not_autocompleted(clinician_client):
    html = clinician_client.get(reverse("client_create")).content.decode()

    for name in ("record_number", "given_name", "family_name", "date_of_birth"):
        assert 'autocomplete="off"' in _input(html, name), name


def test_client_search_box_is_not_autocompleted(clinician_client):
    html = clinician_client.get(reverse("client_list")).content.decode()

    assert 'autocomplete="off"' in _input(html, "q")


def test_auditor_record_number_lookup_is_not_autocompleted(auditor_client):
    ClientFactory()
    html = auditor_client.get(reverse("audit_disclosures")).content.decode()

    assert 'autocomplete="off"' in _input(html, "record_number")


def test_new_user_fields_are_not_autocompleted(admin_client_):
    html = admin_client_.get(reverse("user_create")).content.decode()

    assert 'autocomplete="off"' in _input(html, "username") and 'autocomplete="off"' in _input(html, "email")
