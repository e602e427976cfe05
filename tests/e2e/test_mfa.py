"""Browser test of the second factor: enrol after the password, sign in with a code, with a recovery code
once (refused the second time), and enrol again after an admin resets it on the user's page."""

import re
import time

import pytest
from django.urls import reverse
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from screening.models import AuditEvent
from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CODE_FIELD = "6-digit code from your authenticator app"
VERIFY_FIELD = "Code from your authenticator app, or a recovery code"


@pytest.fixture
def mfa_on(settings):
    settings.MFA_REQUIRED = True  # the live server runs in this process: it reads the same settings


def app_code(user) -> str:
    """What the user's authenticator app shows: the code of the current time step, read from the device's
    key in the database (or the next step's, when the device already took this one: codes are single use)."""
    device = TOTPDevice.objects.get(user=user)
    step = max(int(time.time() - device.t0) // device.step + device.drift, device.last_t + 1)
    return f"{hotp(device.bin_key, step, digits=device.digits):0{device.digits}d}"


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(reverse("login")))


def test_enrol_then_sign_in_with_a_code_and_with_a_recovery_code_once(page, sign_in, mfa_on):
    nurse = UserFactory(username="nurse", role="clinician")

    # Right after the password, before anything else: the enrolment page.
    sign_in("nurse")
    expect(page).to_have_url(re.compile(reverse("mfa_setup")))
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page.get_by_role("img", name="QR code to scan with your authenticator app")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "mfa-setup")
    page.goto(reverse("client_list"))  # nothing else opens first
    expect(page).to_have_url(re.compile(reverse("mfa_setup")))

    # A wrong code is refused at the field; the right one shows the recovery codes, once.
    page.get_by_label(CODE_FIELD).fill("12345")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_label(CODE_FIELD)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_code_error")).to_contain_text("That code is not right")
    assert_accessible(page)
    time.sleep(1.1)  # django-otp's back-off after a wrong code: 1 second
    page.get_by_label(CODE_FIELD).fill(app_code(nurse))
    page.get_by_label(CODE_FIELD).press("Enter")
    expect(page.get_by_role("heading", name="Your second factor is set up")).to_be_visible()
    expect(page.get_by_text("They will not be shown again.")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{8}", c) for c in codes)
    assert_accessible(page)
    screenshot(page, "mfa-recovery-codes")
    page.get_by_role("link", name=re.compile("I have kept my recovery codes")).click()
    expect(page.get_by_role("heading", name="Clients", exact=True)).to_be_visible()  # the page asked for
    sign_out(page)

    # Password, then the code the app shows.
    sign_in("nurse")
    expect(page).to_have_url(re.compile(reverse("mfa_verify")))
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "mfa-verify")
    page.get_by_label(VERIFY_FIELD).fill(app_code(nurse))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Welcome, nurse")).to_be_visible()
    sign_out(page)

    # Password, then a recovery code instead.
    sign_in("nurse")
    page.get_by_label(VERIFY_FIELD).fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Welcome, nurse")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("9 recovery codes left")
    sign_out(page)

    # The same recovery code again: refused, at the field.
    sign_in("nurse")
    page.get_by_label(VERIFY_FIELD).fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(reverse("mfa_verify")))
    expect(page.locator("#id_code_error")).to_contain_text("it has been used")
    expect(page.get_by_role("alert")).to_contain_text("Please correct 1 field below.")
    assert_accessible(page)
    screenshot(page, "mfa-verify-refused")
    page.goto(reverse("home"))
    expect(page).to_have_url(re.compile(reverse("mfa_verify")))

    factors = AuditEvent.objects.filter(actor=nurse, action=AuditEvent.Action.SIGN_IN).exclude(details={})
    assert [e.details["factor"] for e in factors] == ["totp", "recovery_code"]
    assert AuditEvent.objects.filter(actor=nurse, details={"during": "second factor"}).count() == 1


def test_after_a_reset_the_user_enrols_again(page, sign_in, mfa_on):
    nurse = UserFactory(username="nurse", role="clinician")
    boss = UserFactory(username="boss", role="admin")
    sign_in("nurse")
    page.get_by_label(CODE_FIELD).fill(app_code(nurse))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your second factor is set up")).to_be_visible()
    sign_out(page)

    # The admin (who enrols too: the second factor is for every role) resets it on the nurse's user page.
    sign_in("boss")
    page.get_by_label(CODE_FIELD).fill(app_code(boss))
    page.get_by_role("button", name="Confirm").click()
    page.goto(reverse("user_detail", args=[nurse.pk]))
    page.get_by_role("button", name="Reset second factor").click()
    expect(page.get_by_text("Second factor reset: nurse sets one up at the next sign-in.")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "admin-user-mfa-reset")
    assert not TOTPDevice.objects.filter(user=nurse).exists()
    assert AuditEvent.objects.filter(actor=boss, object_id=str(nurse.pk), details__field="second_factor").exists()
    sign_out(page)

    sign_in("nurse")

    expect(page).to_have_url(re.compile(reverse("mfa_setup")))
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    page.get_by_label(CODE_FIELD).fill(app_code(nurse))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your second factor is set up")).to_be_visible()


def test_sign_in_page_says_the_second_factor_is_off_in_the_demo(page, sign_in):
    UserFactory(username="nurse", role="clinician")
    page.goto(reverse("login"))

    expect(page.get_by_text("Second factor is off (demo)")).to_be_visible()
    assert_accessible(page)
    sign_in("nurse")
    expect(page.get_by_role("heading", name="Welcome, nurse")).to_be_visible()
