"""Second factor (DESIGN.md §11): enrolment, verification, recovery codes, the middleware that holds a user
at the factor, and an admin's reset."""

import base64
import time

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from screening import mfa
from screening.mfa import reset_second_factor
from screening.models import AuditEvent, Client
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mfa_on(settings):
    settings.MFA_REQUIRED = True


def code_for(device: TOTPDevice) -> str:
    """The code the user's app shows now; the device forgets the last code it took, so a test can sign in
    twice within one 30-second step (django-otp refuses a code of a step it has already accepted)."""
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


def enrol(client, user) -> tuple[TOTPDevice, list[str]]:
    client.get(reverse("mfa_setup"))
    device = TOTPDevice.objects.get(user=user)
    response = client.post(reverse("mfa_setup"), {"code": code_for(device)})
    assert response.status_code == 200, response
    return device, response.context["codes"]


def new_session(client, user):
    """Signed in with the password only, as after the sign-in form: the second factor not yet passed."""
    client.logout()
    client.force_login(user)
    return client


def no_throttle(user):
    TOTPDevice.objects.filter(user=user).update(throttling_failure_count=0)
    StaticDevice.objects.filter(user=user).update(throttling_failure_count=0)


@pytest.fixture
def enrolled(client, clinician, mfa_on):
    """The clinician with a TOTP device and recovery codes, in a new session that has not passed the factor."""
    client.force_login(clinician)
    device, codes = enrol(client, clinician)
    new_session(client, clinician)
    return device, codes


# --- the middleware ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["home", "client_list", "client_create", "history", "audit_log", "admin:index"])
def test_mfa_required_sends_user_without_device_to_setup_from_every_page(clinician_client, mfa_on, name):
    response = clinician_client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_setup"))


def test_mfa_required_post_without_factor_is_redirected_and_does_nothing(clinician_client, mfa_on):
    data = {"record_number": "X-1", "given_name": "Ann", "family_name": "Lee", "date_of_birth": "1980-01-01"}

    response = clinician_client.post(reverse("client_create"), data)

    assert response.status_code == 302 and response["Location"] == reverse("mfa_setup")
    assert not Client.objects.exists()


def test_redirect_keeps_the_page_asked_for_as_next(clinician_client, mfa_on):
    response = clinician_client.get(reverse("client_list"))

    assert response["Location"] == f"{reverse('mfa_setup')}?next=%2Fclients%2F"


def test_password_sign_in_lands_on_setup(client, clinician, mfa_on):
    response = client.post(reverse("login"), {"username": clinician.username, "password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("mfa_setup")
    assert b"Set up your second factor" in response.content


@pytest.mark.parametrize("mfa_required", [True, False], ids=["mfa-required", "mfa-off"])
def test_user_with_device_is_sent_to_verify(client, clinician, enrolled, settings, mfa_required):
    settings.MFA_REQUIRED = mfa_required

    response = client.get(reverse("client_list"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('mfa_verify')}?next=%2Fclients%2F"


def test_mfa_off_does_not_redirect_user_without_device(clinician_client):
    assert clinician_client.get(reverse("home")).status_code == 200
    assert clinician_client.get(reverse("client_list")).status_code == 200


def test_mfa_off_lets_user_enrol_of_their_own_accord(clinician_client, clinician):
    device, codes = enrol(clinician_client, clinician)

    assert len(codes) == 10
    assert clinician_client.get(reverse("home")).status_code == 200


def test_exempt_pages_stay_reachable_before_the_factor(clinician_client, mfa_on, settings):
    assert clinician_client.get(reverse("mfa_setup")).status_code == 200
    # Static files: asked of the rule itself (closing a file response in a test ends the test's database
    # connection on PostgreSQL, through request_finished).
    user = clinician_client.get(reverse("mfa_setup")).wsgi_request.user
    assert mfa.second_factor_page(path=settings.STATIC_URL + "css/app.css", user=user, session={}) is None
    reset_link = clinician_client.get("/accounts/reset/MQ/not-a-token/")
    assert not reset_link.get("Location", "").startswith(reverse("mfa_setup"))

    assert clinician_client.post(reverse("logout"))["Location"] == reverse("login")
    assert clinician_client.get(reverse("home"))["Location"].startswith(reverse("login"))


def test_sign_in_page_says_when_the_second_factor_is_off(client, settings):
    off = client.get(reverse("login")).content.decode()
    settings.MFA_REQUIRED = True
    on = client.get(reverse("login")).content.decode()

    assert "Second factor is off (demo)" in off
    assert "Second factor is off" not in on


def test_anonymous_visitor_to_mfa_pages_goes_to_sign_in(client, mfa_on):
    for name in ("mfa_setup", "mfa_verify"):
        response = client.get(reverse(name))

        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- enrolment --------------------------------------------------------------------------------------


def test_setup_shows_qr_code_as_inline_svg_and_the_key_grouped(clinician_client, clinician, mfa_on):
    response = clinician_client.get(reverse("mfa_setup"))

    html = response.content.decode()
    device = TOTPDevice.objects.get(user=clinician, confirmed=False)
    svg = html[html.index("<svg ") : html.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="qr-title"' in svg and '<title id="qr-title">' in svg
    assert "<path d=" in svg and "style" not in svg and "<img" not in html
    groups = response.context["secret"].split()
    assert all(len(g) == 4 for g in groups) and len(groups) == 8
    assert base64.b32decode("".join(groups)) == device.bin_key
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_setup_reuses_the_pending_device_on_reload(clinician_client, clinician, mfa_on):
    first = clinician_client.get(reverse("mfa_setup")).context["secret"]
    second = clinician_client.get(reverse("mfa_setup")).context["secret"]

    assert first == second
    assert TOTPDevice.objects.filter(user=clinician).count() == 1


def test_setup_confirms_with_the_right_code(clinician_client, clinician, mfa_on):
    clinician_client.get(reverse("mfa_setup"))
    device = TOTPDevice.objects.get(user=clinician)

    response = clinician_client.post(reverse("mfa_setup"), {"code": code_for(device)})

    assert response.status_code == 200
    assert b"They will not be shown again" in response.content
    device.refresh_from_db()
    assert device.confirmed
    codes = response.context["codes"]
    assert len(codes) == len(set(codes)) == 10
    assert sorted(StaticToken.objects.filter(device__user=clinician).values_list("token", flat=True)) == codes
    event = AuditEvent.objects.filter(action=AuditEvent.Action.CREATE, object_type="user").get()
    assert event.object_id == str(clinician.pk) and event.actor == clinician
    assert event.details == {"field": "second_factor", "old": "none", "new": "totp"}
    assert clinician_client.get(reverse("client_list")).status_code == 200  # the session is verified


def test_setup_refuses_a_wrong_code_at_the_field(clinician_client, clinician, mfa_on):
    clinician_client.get(reverse("mfa_setup"))
    device = TOTPDevice.objects.get(user=clinician)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"

    response = clinician_client.post(reverse("mfa_setup"), {"code": wrong})

    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [
        "That code is not right. Enter the 6-digit code your app shows now."
    ]
    html = response.content.decode()
    assert 'aria-invalid="true"' in html and "id_code_error" in html and 'href="#id_code"' in html
    device.refresh_from_db()
    assert not device.confirmed and not StaticDevice.objects.filter(user=clinician).exists()
    assert clinician_client.get(reverse("home"))["Location"] == reverse("mfa_setup")


def test_setup_right_code_right_after_a_wrong_one_is_throttled(clinician_client, clinician, mfa_on):
    clinician_client.get(reverse("mfa_setup"))
    device = TOTPDevice.objects.get(user=clinician)
    right = code_for(device)
    clinician_client.post(reverse("mfa_setup"), {"code": "000000" if right != "000000" else "111111"})

    response = clinician_client.post(reverse("mfa_setup"), {"code": right})

    assert "Too many wrong codes" in response.context["form"].errors["code"][0]
    device.refresh_from_db()
    assert not device.confirmed


def test_setup_with_a_device_but_no_factor_goes_to_verify(client, clinician, enrolled):
    response = client.get(reverse("mfa_setup"))

    assert response["Location"] == reverse("mfa_verify")
    assert TOTPDevice.objects.filter(user=clinician).count() == 1


def test_setup_after_the_factor_says_it_is_set_up(client, clinician, enrolled):
    device, _ = enrolled
    client.post(reverse("mfa_verify"), {"code": code_for(device)})

    response = client.get(reverse("mfa_setup"))

    assert response.context["enrolled"] is True
    assert TOTPDevice.objects.filter(user=clinician).count() == 1


# --- verification -----------------------------------------------------------------------------------


def test_verify_with_totp_code_signs_in_and_audits_the_factor(client, clinician, enrolled):
    device, _ = enrolled

    response = client.post(reverse("mfa_verify"), {"code": code_for(device)})

    assert response["Location"] == reverse("home")
    assert client.get(reverse("client_list")).status_code == 200
    event = AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN).last()
    assert event.details == {"factor": "totp"} and event.actor == clinician


def test_verify_goes_on_to_a_local_next(client, clinician, enrolled):
    device, _ = enrolled

    response = client.post(reverse("mfa_verify"), {"code": code_for(device), "next": reverse("client_list")})

    assert response["Location"] == reverse("client_list")


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "clients/"]
)
def test_verify_ignores_an_unsafe_next(client, clinician, enrolled, next_url):
    device, _ = enrolled

    response = client.post(reverse("mfa_verify"), {"code": code_for(device), "next": next_url})

    assert response["Location"] == reverse("home")


def test_verify_keeps_a_safe_next_in_its_form_and_drops_an_unsafe_one(client, enrolled):
    safe = client.get(reverse("mfa_verify"), {"next": "/clients/"}).content.decode()
    unsafe = client.get(reverse("mfa_verify"), {"next": "https://evil.example/"}).content.decode()

    assert 'name="next" value="/clients/"' in safe
    assert "evil.example" not in unsafe


def test_verify_wrong_code_errors_at_the_field_and_audits_a_failure(client, clinician, enrolled):
    device, _ = enrolled
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"

    response = client.post(reverse("mfa_verify"), {"code": wrong})

    assert response.status_code == 200
    assert "not right" in response.context["form"].errors["code"][0]
    assert 'aria-invalid="true"' in response.content.decode()
    event = AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN_FAILED).last()
    assert event.details == {"during": "second factor"} and event.actor == clinician
    assert client.get(reverse("home"))["Location"] == reverse("mfa_verify")


def test_verify_throttles_after_a_wrong_code(client, clinician, enrolled):
    device, _ = enrolled
    right = code_for(device)
    client.post(reverse("mfa_verify"), {"code": "000000" if right != "000000" else "111111"})

    response = client.post(reverse("mfa_verify"), {"code": right})

    assert "Too many wrong codes" in response.context["form"].errors["code"][0]
    assert client.get(reverse("home"))["Location"] == reverse("mfa_verify")


def test_each_recovery_code_works_once(client, clinician, enrolled):
    _, codes = enrolled

    for n, code in enumerate(codes, start=1):
        new_session(client, clinician)
        first = client.post(reverse("mfa_verify"), {"code": code.upper()[:4] + "-" + code[4:]})
        assert first["Location"] == reverse("home"), code
        assert client.get(reverse("client_list")).status_code == 200
        assert StaticToken.objects.filter(device__user=clinician).count() == 10 - n

        new_session(client, clinician)
        no_throttle(clinician)
        second = client.post(reverse("mfa_verify"), {"code": code})
        assert second.status_code == 200 and "has been used" in second.context["form"].errors["code"][0]
        no_throttle(clinician)

    factors = AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN, details__factor="recovery_code")
    assert factors.count() == 10


def test_recovery_code_sign_in_says_how_many_are_left(client, clinician, enrolled):
    _, codes = enrolled

    response = client.post(reverse("mfa_verify"), {"code": codes[0]}, follow=True)

    assert "9 recovery codes left" in response.content.decode()


def test_recovery_code_of_another_user_is_refused(client, clinician, enrolled):
    other = UserFactory(username="other", role="clinician")
    new_session(client, other)
    _, other_codes = enrol(client, other)
    new_session(client, clinician)

    response = client.post(reverse("mfa_verify"), {"code": other_codes[0]})

    assert response.status_code == 200 and response.context["form"].errors["code"]


def test_passing_the_factor_gives_the_session_a_new_key(client, clinician, enrolled):
    device, _ = enrolled
    before = client.session.session_key

    client.post(reverse("mfa_verify"), {"code": code_for(device)})

    assert client.session.session_key != before


@pytest.mark.parametrize(
    "code",
    ["", "x" * 10_000, "9" * 10_000, "١٢٣٤٥٦", "<script>", "' OR 1=1 --", "12345", "1234567", "\u202e123456"],
    ids=["empty", "long", "long-digits", "arabic-digits", "markup", "sql", "five", "seven", "bidi"],
)
@pytest.mark.parametrize("page", ["mfa_setup", "mfa_verify"])
def test_garbage_codes_get_a_field_error_never_a_500(client, clinician, enrolled, page, code):
    if page == "mfa_setup":
        reset_second_factor(user=clinician, actor=None)
        client.get(reverse(page))
    no_throttle(clinician)

    response = client.post(reverse(page), {"code": code, "next": "x" * 5_000})

    assert response.status_code == 200
    assert response.context["form"].errors["code"]


# --- reset ------------------------------------------------------------------------------------------


def test_reset_second_factor_sends_the_user_to_enrol_again(client, clinician, admin_user, enrolled):
    device, _ = enrolled
    client.post(reverse("mfa_verify"), {"code": code_for(device)})
    assert client.get(reverse("home")).status_code == 200

    had = reset_second_factor(user=clinician, actor=admin_user)

    assert had is True
    assert not TOTPDevice.objects.filter(user=clinician).exists()
    assert not StaticDevice.objects.filter(user=clinician).exists()
    assert client.get(reverse("home"))["Location"] == reverse("mfa_setup")  # this session too
    new_session(client, clinician)
    assert client.get(reverse("home"))["Location"] == reverse("mfa_setup")
    assert client.get(reverse("mfa_verify"))["Location"] == reverse("mfa_setup")
    _, codes = enrol(client, clinician)
    assert len(codes) == 10


def test_reset_with_mfa_off_lets_the_user_in_without_a_factor(client, clinician, admin_user, enrolled, settings):
    settings.MFA_REQUIRED = False
    assert client.get(reverse("home"))["Location"] == reverse("mfa_verify")

    reset_second_factor(user=clinician, actor=admin_user)

    assert client.get(reverse("mfa_verify"))["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200
