"""What every page shares: its access check and the audit of what it showed."""

from django.contrib.auth.decorators import login_required, permission_required

from .. import audit
from ..models import AuditEvent


def requires(perm: str | tuple[str, ...]):
    """Sign-in first (an anonymous visitor goes to the sign-in page), then the permission(s): 403 without."""
    return lambda view: login_required(permission_required(perm, raise_exception=True)(view))


def record_view(request, **target) -> None:
    """Audit that the signed-in user viewed `obj=` (or `object_type=`, with `details=`)."""
    audit.record(action=AuditEvent.Action.VIEW, actor=request.user, context=request.audit, **target)
