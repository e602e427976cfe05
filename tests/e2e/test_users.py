"""Browser test of user management: an admin creates a user, the link from the email sets the password, the new
user signs in; the admin changes the role and deactivates the user, whose session ends."""

import re
from urllib.parse import urlparse

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from playwright.sync_api import expect

from screening.models import AuditEvent
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-fresh-synthetic-passphrase-42"


@pytest.fixture
def their_browser(browser, live_server):
    """The new user's own browser, beside the admin's `page`."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    user_page = context.new_page()
    user_page.set_default_timeout(10_000)
    yield user_page
    context.close()


def test_admin_creates_a_user_who_sets_a_password_and_signs_in(page, sign_in, their_browser, settings):
    settings.MFA_REQUIRED = False  # the second factor's own browser test enrols; this one is about accounts
    UserFactory(username="director", role="admin")
    sign_in("director")
    main = page.get_by_role("main")

    # The list, then the create form: empty first, so the errors show at their fields.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "admin-users")
    main.get_by_role("link", name="New user").click()
    page.get_by_role("button", name="Create user and send link").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct 3 fields below.")
    assert_accessible(page)
    page.get_by_label("Username").fill("newnurse")
    page.get_by_label("Email address").fill("newnurse@example.org")
    page.get_by_role("radio", name=re.compile("^Clinician")).check()
    page.get_by_role("button", name="Create user and send link").click()

    expect(page.get_by_role("status")).to_contain_text("A link was sent to newnurse@example.org")
    expect(page.get_by_role("heading", name="newnurse")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "admin-user-created")
    (message,) = mail.outbox
    assert message.to == ["newnurse@example.org"]
    (link,) = re.findall(r"https?://\S+/accounts/reset/\S+/", message.body)
    assert urlparse(link).path not in page.content()  # the admin never sees the link

    # The new user, in their own browser, opens the link and sets a password, then signs in.
    user_page = their_browser
    user_page.goto(link)
    expect(user_page).to_have_url(re.compile(r"/set-password/$"))  # the token is out of the address
    expect(user_page.get_by_role("heading", name="Set your password")).to_be_visible()
    assert_accessible(user_page)
    screenshot(user_page, "user-set-password")
    user_page.get_by_label("New password*", exact=True).fill(NEW_PASSWORD)
    user_page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    user_page.get_by_role("button", name="Set password").click()
    expect(user_page.get_by_role("heading", name="Password set")).to_be_visible()
    assert_accessible(user_page)
    user_page.get_by_role("link", name="Sign in").click()
    user_page.get_by_label("Username").fill("newnurse")
    user_page.get_by_label("Password").fill(NEW_PASSWORD)  # the sign-in form's own field
    user_page.get_by_role("button", name="Sign in").click()
    expect(user_page.get_by_role("navigation", name="Main")).to_contain_text("newnurse (clinician)")
    expect(user_page.get_by_role("navigation", name="Main").get_by_role("link", name="Clients")).to_be_visible()

    # The link works once.
    spent = user_page.context.new_page()
    spent.goto(link)
    expect(spent.get_by_role("heading", name="This link is not valid")).to_be_visible()
    spent.close()

    # The admin changes the role, then deactivates the user.
    page.get_by_role("combobox", name="Role").select_option("auditor")
    page.get_by_role("button", name="Change role").click()
    expect(page.get_by_role("status")).to_contain_text("Role changed to auditor")
    expect(main).to_contain_text("auditor")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status")).to_contain_text("newnurse is deactivated")
    expect(page.get_by_role("button", name="Reactivate")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "admin-user-deactivated")

    # Their session has ended: the next page is the sign-in page.
    user_page.reload()
    expect(user_page).to_have_url(re.compile(r"/accounts/login/"))

    user = get_user_model().objects.get(username="newnurse")
    changes = AuditEvent.objects.filter(object_type="user", object_id=str(user.pk), action="change")
    assert [(e.details["field"], e.details.get("old"), e.details["new"]) for e in changes.order_by("id")] == [
        ("password_link", None, "sent"),
        ("password", None, "set by link"),
        ("role", "clinician", "auditor"),
        ("is_active", True, False),
    ]


def test_own_password_pages_are_accessible(page, sign_in, settings):
    settings.MFA_REQUIRED = False
    UserFactory(username="clinician", role="clinician", email="clinician@example.org")
    page.goto(reverse("password_reset"))
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Email").fill("clinician@example.org")
    page.get_by_role("button", name="Send link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account exists for that address")
    assert_accessible(page)
    assert [m.to for m in mail.outbox] == [["clinician@example.org"]]

    sign_in("clinician")
    page.get_by_role("link", name="Change password").click()
    page.get_by_role("button", name="Change password").click()  # nothing entered: errors at the fields
    expect(page.get_by_role("alert")).to_contain_text("Please correct 3 fields below.")
    assert_accessible(page)
    screenshot(page, "change-password")
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password*", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    assert_accessible(page)
