"""The sign-in page says when the second factor is off (the demo's MFA_REQUIRED=false, DESIGN.md §11)."""

from django import template
from django.conf import settings

register = template.Library()


@register.inclusion_tag("registration/mfa_demo_notice.html")
def mfa_demo_notice() -> dict:
    return {"mfa_required": settings.MFA_REQUIRED}
