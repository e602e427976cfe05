"""Second factor (DESIGN.md §11): TOTP devices and single-use recovery codes, on django-otp."""

from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import audit
from .models import AuditEvent


class MfaMiddleware:
    """Sends a signed-in user who has not passed the second factor to enrol or verify (placeholder)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


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
