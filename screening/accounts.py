"""The app's own user management (DESIGN.md §6): create a user with one role, change the role, deactivate and
reactivate, send a password-set link by email. Keyword-only and atomic; each change is an audit event naming the
user with the old and the new value.

Nothing here ever sets `is_superuser`, `is_staff` or individual permissions to anything but off: a role is exactly
one of the role groups, and the Django admin (superusers only) is the operators' tool, not the app's."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import audit, mfa
from .models import AuditEvent
from .permissions import ADMIN, AUDITOR, CLINICIAN
from .services import ServiceError

Action = AuditEvent.Action
Context = audit.AuditContext | None

ROLES: tuple[str, ...] = (CLINICIAN, ADMIN, AUDITOR)
NO_ROLE = "none"


class AccountRefused(ServiceError):
    """A user-management change the app does not allow (own role, self-deactivation, an operator's account)."""


def role_of(user) -> str:
    """The user's role: the one role group they belong to, else "none" (several, from elsewhere, are joined)."""
    names = sorted(g.name for g in user.groups.all() if g.name in ROLES)
    return "+".join(names) or NO_ROLE


def users_for_management():
    """Every user with their groups and whether a confirmed authenticator is enrolled (`has_second_factor`)."""
    enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    users = get_user_model().objects.annotate(has_second_factor=Exists(enrolled))
    return users.prefetch_related("groups").order_by("username")


def _record(
    *, actor, context: Context, user, action: str = Action.CHANGE, actor_username: str = "", **details: Any
) -> None:
    audit.record(
        action=action,
        actor=actor,
        actor_username=actor_username,
        context=context,
        object_type="user",
        object_id=str(user.pk),
        details=details,
    )


def _refuse_operator(user) -> None:
    # An operator (superuser) is managed on the command line; an admin changing one could lock out the operators.
    if user.is_superuser:
        raise AccountRefused("This account is an operator's (superuser): manage it with manage.py, not here.")


def _role_group(role: str) -> Group:
    if role not in ROLES:
        raise ServiceError(f"Choose one of the roles: {', '.join(ROLES)}.", field="role")
    return Group.objects.get(name=role)


def password_link(*, user, site_url: str) -> str:
    """An absolute link to set the user's password: Django's token (dies when the password changes, or after
    PASSWORD_RESET_TIMEOUT) and the user's id in base 64, on the password-reset confirmation page."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return site_url.rstrip("/") + path


def _send_link(*, user, site_url: str, new: bool) -> None:
    context = {
        "user": user,
        "link": password_link(user=user, site_url=site_url),
        "new": new,
        "hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    }
    subject = render_to_string("registration/password_set_subject.txt", context).strip()
    body = render_to_string("registration/password_set_email.txt", context)
    send_mail(subject, body, None, [user.email])


@transaction.atomic
def user_create(*, username: str, email: str, role: str, site_url: str, actor, context: Context = None):
    """Create a user with exactly one role and no usable password, and email them a link to set one.

    `site_url` is the scheme and host the link points at (the view passes the request's own)."""
    group = _role_group(role)
    user = get_user_model()(username=username, email=email, is_staff=False, is_superuser=False, is_active=True)
    user.set_unusable_password()
    user.save()
    user.groups.set([group])
    _record(actor=actor, context=context, user=user, action=Action.CREATE, username=username, email=email, role=role)
    _record(actor=actor, context=context, user=user, field="password_link", new="sent")
    # Last, inside the transaction: if the mail server refuses, nothing is saved and the admin is told.
    _send_link(user=user, site_url=site_url, new=True)
    return user


@transaction.atomic
def operator_create_users(*, usernames: list[str], role: str, password: str, operator: str) -> list:
    """Create users with one role and a password an operator chose (`manage.py create_user`: the first admin of a
    new installation, or a load test's users); each must still enrol a second factor at first sign-in when
    MFA_REQUIRED. The password passes the validators first; nothing is saved if any user cannot be made."""
    group = _role_group(role)
    model = get_user_model()
    for username in usernames:
        try:
            model.username_validator(username)
        except ValidationError as e:
            raise ServiceError(f"{username!r}: {' '.join(e.messages)}", field="username") from None
    taken = sorted(model.objects.filter(username__in=usernames).values_list("username", flat=True))
    if taken:
        raise ServiceError(f"Already taken: {', '.join(taken)}.", field="username")
    made = []
    for username in usernames:
        user = model(username=username, email="", is_staff=False, is_superuser=False, is_active=True)
        validate_password(password, user)  # ValidationError names what is wrong
        user.set_password(password)
        user.save()
        user.groups.set([group])
        _record(
            actor=None,
            actor_username=operator,
            context=None,
            user=user,
            action=Action.CREATE,
            username=username,
            role=role,
        )
        _record(actor=None, actor_username=operator, context=None, user=user, field="password", new="set by operator")
        made.append(user)
    return made


@transaction.atomic
def user_change_role(*, user, role: str, actor, context: Context = None) -> bool:
    """Give another user exactly one role (and no staff status); returns whether anything changed."""
    if user.pk == actor.pk:
        raise AccountRefused("You cannot change your own role; ask another admin.")
    _refuse_operator(user)
    group = _role_group(role)
    old = role_of(user)
    if old != role:
        user.groups.set([group])
        _record(actor=actor, context=context, user=user, field="role", old=old, new=role)
    if user.is_staff:  # from an older setup: the Django admin is for superusers only
        user.is_staff = False
        user.save(update_fields=["is_staff"])
        _record(actor=actor, context=context, user=user, field="is_staff", old=True, new=False)
    return old != role


def _end_sessions(user) -> int:
    # A clinic has few live sessions, so reading each is cheap; ModelBackend also refuses an inactive user on
    # their next request, so this is belt and braces.
    ended = [
        s.pk
        for s in Session.objects.filter(expire_date__gt=timezone.now())
        if s.get_decoded().get("_auth_user_id") == str(user.pk)
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


@transaction.atomic
def user_set_active(*, user, active: bool, actor, context: Context = None) -> bool:
    """Deactivate (ending their sessions) or reactivate another user; returns whether anything changed."""
    if user.pk == actor.pk:
        raise AccountRefused("You cannot deactivate or reactivate yourself; ask another admin.")
    _refuse_operator(user)
    if user.is_active == active:
        return False
    user.is_active = active
    user.save(update_fields=["is_active"])
    details: dict[str, Any] = {"field": "is_active", "old": not active, "new": active}
    if not active:
        details["sessions_ended"] = _end_sessions(user)
    _record(actor=actor, context=context, user=user, **details)
    return True


@transaction.atomic
def user_send_password_link(*, user, site_url: str, actor, context: Context = None) -> None:
    """Email the user a single-use link (valid PASSWORD_RESET_TIMEOUT) to set their password; nobody else sees it."""
    _refuse_operator(user)
    if not user.is_active:
        raise AccountRefused("This user is deactivated: reactivate them before sending a link.")
    if not user.email:
        raise AccountRefused("This user has no email address, so no link can be sent.")
    _record(actor=actor, context=context, user=user, field="password_link", new="sent")
    _send_link(user=user, site_url=site_url, new=False)  # a refusal rolls the audit event back


@transaction.atomic
def user_reset_second_factor(*, user, actor, context: Context = None) -> bool:
    """Remove another user's second factor (audited by `mfa`); they enrol again at their next sign-in."""
    if user.pk == actor.pk:
        raise AccountRefused("You cannot reset your own second factor; ask another admin.")
    _refuse_operator(user)
    return mfa.reset_second_factor(user=user, actor=actor, context=context)


@transaction.atomic
def user_password_changed(*, user, via: str, context: Context = None) -> None:
    """Audit that a user set their own password (`via` "change" or "link"); their other sessions have ended."""
    _record(actor=user, context=context, user=user, field="password", new=f"set by {via}")
