"""Sign-in, sign-out and failed sign-in are audit events (DESIGN.md §7)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from . import audit
from .middleware import audit_context
from .models import AuditEvent


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs):
    audit.record(
        action=AuditEvent.Action.SIGN_IN,
        actor=user,
        context=audit_context(request),
        object_type="user",
        object_id=str(user.pk),
    )


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record(
            action=AuditEvent.Action.SIGN_OUT,
            actor=user,
            context=audit_context(request),
            object_type="user",
            object_id=str(user.pk),
        )


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    # The username typed is kept (it may not exist); the password never is.
    audit.record(
        action=AuditEvent.Action.SIGN_IN_FAILED,
        context=audit_context(request),
        actor_username=str(credentials.get("username", ""))[:150],
    )
