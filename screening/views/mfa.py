"""Second-factor pages (DESIGN.md §11): enrol a TOTP device (QR code, key, first code, recovery codes once),
and verify a code after the password. `screening.mfa.MfaMiddleware` sends a signed-in user here."""

from __future__ import annotations

import math

import django_otp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from .. import mfa


def _next_url(request) -> str:
    """Where to go after the factor: the `next` asked for if it is a local address, else nothing."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe and target.startswith("/") else ""


def _passed(request, device) -> None:
    django_otp.login(request, device)
    # The session now carries more trust than the password alone gave it: a new key, as at sign-in.
    request.session.cycle_key()
    request.session.pop(mfa.HAS_DEVICE_SESSION_KEY, None)  # the answer to "has a device?" changed


@login_required
def setup(request):
    user, next_url = request.user, _next_url(request)
    if mfa.has_confirmed_totp(user):
        if not user.is_verified():  # enrolling again would step around the device they have
            return redirect(mfa.with_next(reverse("mfa_verify"), next_url))
        return render(request, "registration/mfa_setup.html", {"enrolled": True, "next": next_url})
    device = mfa.pending_device(user)
    form = mfa.CodeForm(request.POST or None, recovery=False)
    if request.method == "POST" and form.is_valid():
        allowed, throttled = device.verify_is_allowed()  # django-otp's back-off after wrong codes
        codes = allowed and mfa.second_factor_enrol(
            device=device, code=form.cleaned_data["code"], context=request.audit
        )
        if codes:
            _passed(request, device)
            # Rendered, not redirected to: the codes exist in this response only and are never shown again.
            context = {"codes": codes, "next": next_url or reverse("home")}
            return render(request, "registration/mfa_recovery_codes.html", context)
        form.add_error("code", _wrong_code_message(throttled, recovery=False))
    context = {
        "form": form,
        "next": next_url,
        "qr_svg": mfa.qr_svg(device),
        "secret": mfa.grouped_secret(device),
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "registration/mfa_setup.html", context)


@login_required
def verify(request):
    user, next_url = request.user, _next_url(request)
    if user.is_verified():
        return redirect(next_url or "home")
    if not mfa.has_confirmed_totp(user):  # reset by an admin since the middleware looked
        request.session.pop(mfa.HAS_DEVICE_SESSION_KEY, None)  # the answer to "has a device?" changed
        if settings.MFA_REQUIRED:
            return redirect(mfa.with_next(reverse("mfa_setup"), next_url))
        return redirect(next_url or "home")
    form = mfa.CodeForm(request.POST or None, recovery=True)
    if request.method == "POST" and form.is_valid():
        result = mfa.second_factor_verify(user=user, code=form.cleaned_data["code"], context=request.audit)
        if result.device is not None:
            _passed(request, result.device)
            if result.factor == "recovery_code":
                left = mfa.recovery_codes_left(user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code; it cannot be used again. {left} recovery code"
                    f"{'' if left == 1 else 's'} left.",
                )
            return redirect(next_url or "home")
        throttled = {"locked_until": result.locked_until} if result.locked_until else None
        form.add_error("code", _wrong_code_message(throttled, recovery=True))
    return render(request, "registration/mfa_verify.html", {"form": form, "next": next_url})


def _wrong_code_message(throttled: dict | None, *, recovery: bool) -> str:
    locked_until = (throttled or {}).get("locked_until")
    if locked_until is not None and locked_until > timezone.now():
        seconds = math.ceil((locked_until - timezone.now()).total_seconds())
        return f"Too many wrong codes. Wait {seconds} second{'' if seconds == 1 else 's'}, then enter a new code."
    if recovery:
        return "That code is not right, or it has been used. Enter the current code from your app, or an unused recovery code."
    return "That code is not right. Enter the 6-digit code your app shows now."
