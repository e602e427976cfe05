"""What every page shares: its access check and the audit of what it showed."""

from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required, permission_required

from .. import audit
from ..models import AuditEvent


def requires(perm: str | tuple[str, ...]):
    """Sign-in first (an anonymous visitor goes to the sign-in page), then the permission(s): 403 without."""
    return lambda view: login_required(permission_required(perm, raise_exception=True)(view))


def record_view(request, **target) -> None:
    """Audit that the signed-in user viewed `obj=` (or `object_type=`, with `details=`)."""
    audit.record(action=AuditEvent.Action.VIEW, actor=request.user, context=request.audit, **target)


def confirm_password(request, password: str, *, during: str) -> str | None:
    """Check the signed-in user's password again (signing) through `authenticate()`, so that wrong passwords
    count toward the same lockout as at sign-in and are audited there; the refusal, or None."""
    user = authenticate(request, username=request.user.get_username(), password=password, during=during)
    if getattr(request, "axes_locked_out", False):
        return "Too many wrong passwords: you are locked out for a while. Ask an admin if this was not you."
    if user is None or user.pk != request.user.pk:
        return "That password is not correct."
    return None
