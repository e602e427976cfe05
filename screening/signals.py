"""Sign-in, sign-out and failed sign-in are audit events (DESIGN.md §7)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from . import audit
from .middleware import audit_context, mark_signed_in
from .models import AuditEvent

_USER_EVENTS = {user_logged_in: AuditEvent.Action.SIGN_IN, user_logged_out: AuditEvent.Action.SIGN_OUT}


@receiver(user_logged_in)
def _session_starts(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        mark_signed_in(request)


@receiver([user_logged_in, user_logged_out])
def _signed_in_or_out(sender, signal, request, user, **kwargs):
    if user is not None:  # signing out of an anonymous session is nobody's event
        context = audit_context(request)
        audit.record(
            action=_USER_EVENTS[signal], actor=user, context=context, object_type="user", object_id=str(user.pk)
        )


def typed_username(request, credentials) -> str:
    """The username an attempt typed, as at most 150 characters (axes' AXES_USERNAME_CALLABLE)."""
    typed = (credentials or {}).get("username") or (request.POST.get("username", "") if request else "")
    return str(typed)[:150]


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    # The username typed is kept (it may not exist); the password never is. A password asked again (signing)
    # says so.
    audit.record(
        action=AuditEvent.Action.SIGN_IN_FAILED,
        context=audit_context(request),
        actor_username=str(credentials.get("username", ""))[:150],
        details={"during": str(credentials["during"])} if "during" in credentials else None,
    )
