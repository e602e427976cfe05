"""Second factor (DESIGN.md §11): TOTP devices and single-use recovery codes, on django-otp.

`MfaMiddleware` holds a signed-in user who has not passed the second factor at the enrol or verify page;
`second_factor_enrol` and `second_factor_verify` are the two writes behind those pages, and
`reset_second_factor` the admin's. Devices and throttling are django-otp's own (`OTPMiddleware` sets
`request.user.is_verified()` from the device stored in the session).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

# ElementTree only builds the QR code's SVG here; it never parses XML (bandit's B405 is about parsing).
from xml.etree import ElementTree  # nosec B405

import qrcode
import qrcode.image.svg
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import audit
from .models import AuditEvent

RECOVERY_CODES = 10
# The most a code field takes: a TOTP code is 6 digits and a recovery code 8 letters and digits, so
# anything longer is refused at the field before django-otp sees it.
CODE_MAX_LENGTH = 32
# With MFA_REQUIRED off, whether the signed-in user had a confirmed TOTP device when this session first
# asked: read once per session rather than once per request (pages pin their query counts). A device
# added later elsewhere is enforced from the next sign-in; with MFA_REQUIRED on it is always read afresh.
HAS_DEVICE_SESSION_KEY = "mfa_has_device"


def _exempt_prefixes() -> tuple[str, ...]:
    return (
        reverse("mfa_verify").removesuffix("verify/"),  # every page under accounts/mfa/
        reverse("login"),
        reverse("logout"),
        settings.STATIC_URL,
        reverse("login").removesuffix("login/") + "reset/",  # password-set links: accounts/reset/<uid>/<token>/
    )


def has_confirmed_totp(user) -> bool:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


def with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def second_factor_page(*, path: str, user, session) -> str | None:
    """The page (URL name) a request for `path` is sent to instead, or None to let it through: "mfa_verify"
    for a signed-in user with a TOTP device who has not passed it in this session; "mfa_setup" for one without
    a device when MFA_REQUIRED. The MFA pages, sign-in and -out, static files and password-set links are open."""
    if path.startswith(_exempt_prefixes()) or not user.is_authenticated or user.is_verified():
        return None
    if settings.MFA_REQUIRED:
        return "mfa_verify" if has_confirmed_totp(user) else "mfa_setup"
    has_device = session.get(HAS_DEVICE_SESSION_KEY)
    if has_device is None:
        has_device = session[HAS_DEVICE_SESSION_KEY] = has_confirmed_totp(user)
    return "mfa_verify" if has_device else None


class CodeForm(forms.Form):
    """One code: 6 digits from the authenticator app, or (when `recovery` is allowed) a recovery code."""

    code = forms.CharField(max_length=CODE_MAX_LENGTH, strip=True)

    def __init__(self, *args, recovery: bool, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["code"]
        field.widget.attrs.update(autocomplete="one-time-code", autocapitalize="off", spellcheck="false")
        if recovery:
            field.label = "Code from your authenticator app, or a recovery code"
            field.help_text = "6 digits from the app, or one of the 10 recovery codes you were given (each works once)."
        else:
            field.label = "6-digit code from your authenticator app"
            field.help_text = "The app shows a new code every 30 seconds."
            field.widget.attrs["inputmode"] = "numeric"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.add_input(Submit("submit", "Verify" if recovery else "Confirm"))

    def clean_code(self) -> str:
        # People copy codes with spaces or dashes ("123 456", "abcd-efgh"); recovery codes are lower case.
        return "".join(ch for ch in self.cleaned_data["code"] if ch not in " -\t").lower()


def pending_device(user) -> TOTPDevice:
    """The user's unconfirmed TOTP device, made now if there is none (a reload shows the same key)."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def grouped_secret(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app by hand."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> SafeString:
    """The device's otpauth:// URL as an SVG QR code for inline use: a path and no style, so the CSP holds."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    root = image.get_image()
    root.set("role", "img")
    root.set("aria-labelledby", "qr-title")
    root.set("width", "200")
    root.set("height", "200")
    title = ElementTree.Element("title", id="qr-title")
    title.text = "QR code to scan with your authenticator app"
    root.insert(0, title)
    # Safe to mark: ElementTree escapes the one text it holds (our title); the rest is path data from qrcode.
    return mark_safe(ElementTree.tostring(root, encoding="unicode"))  # nosec B308 B703


def _new_recovery_codes() -> list[str]:
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODES:
        codes.add(StaticToken.random_token())
    return sorted(codes)


def second_factor_enrol(*, device: TOTPDevice, code: str, context=None) -> list[str] | None:
    """Confirm the user's pending TOTP device with a code from it; give them new recovery codes.

    Returns the recovery codes (shown once, never again), or None when the code is wrong (django-otp's
    throttling counts it). Any other device of the user is replaced."""
    user = device.user
    with transaction.atomic():
        # Locked, so two submissions of one code cannot both confirm (last_t refuses the second).
        device = TOTPDevice.objects.select_for_update().filter(pk=device.pk, confirmed=False).first()
        if device is None or not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        StaticDevice.objects.filter(user=user).delete()
        static = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
        codes = _new_recovery_codes()
        StaticToken.objects.bulk_create(StaticToken(device=static, token=token) for token in codes)
        audit.record(
            action=AuditEvent.Action.CREATE,
            actor=user,
            context=context,
            obj=user,
            object_type="user",
            object_id=str(user.pk),
            details={"field": "second_factor", "old": "none", "new": "totp"},
        )
    return codes


@dataclass(frozen=True, slots=True)
class Verification:
    device: Device | None  # the device that accepted the code, or None
    factor: str  # "totp" or "recovery_code"
    locked_until: datetime | None = None  # when django-otp's throttling refused to check the code


def second_factor_verify(*, user, code: str, context=None) -> Verification:
    """Check a code against the user's TOTP device (6 digits) or recovery codes (anything else).

    A recovery code is used up when accepted. A wrong code is counted by django-otp's throttling and
    audited as a failed sign-in; a right one as a sign-in naming the factor."""
    factor = "totp" if len(code) == 6 and code.isascii() and code.isdigit() else "recovery_code"
    model = TOTPDevice if factor == "totp" else StaticDevice
    verified, locked_until = None, None
    with transaction.atomic():
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            allowed, why = device.verify_is_allowed()
            if not allowed:
                locked_until = (why or {}).get("locked_until")
            elif device.verify_token(code):
                verified = device
                break
    audit.record(
        action=AuditEvent.Action.SIGN_IN if verified else AuditEvent.Action.SIGN_IN_FAILED,
        actor=user,
        context=context,
        object_type="user",
        object_id=str(user.pk),
        details={"factor": factor} if verified else {"during": "second factor"},
    )
    return Verification(device=verified, factor=factor, locked_until=None if verified else locked_until)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def reset_second_factor(*, user, actor, context=None) -> bool:
    """Remove a user's second-factor devices (TOTP and recovery codes); they enrol again at the next sign-in.

    Audited with the old and new state. Returns whether the user had any device."""
    had = TOTPDevice.objects.filter(user=user).exists() or StaticDevice.objects.filter(user=user).exists()
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit.record(
        action=AuditEvent.Action.CHANGE,
        actor=actor,
        context=context,
        obj=user,
        object_type="user",
        object_id=str(user.pk),
        details={"field": "second_factor", "old": "enrolled" if had else "none", "new": "reset"},
    )
    return had
