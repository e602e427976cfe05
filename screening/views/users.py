"""User management for admins (DESIGN.md §6), and every user's own password: change it, or set it from a link."""

from __future__ import annotations

import logging
import smtplib

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from .. import accounts
from ..forms import ForgotPasswordForm, OwnPasswordChangeForm, PasswordSetForm, UserCreateForm, UserRoleForm
from ..services import ServiceError
from . import confirm_password, requires

logger = logging.getLogger(__name__)

NOT_SENT = "The email could not be sent, so nothing was saved. Try again later, or ask the operator to check the mail settings."


def _site_url(request) -> str:
    # The address this admin reached the app at (a host in ALLOWED_HOSTS): the link points at the same place.
    return request.build_absolute_uri("/")


@requires("screening.manage_users")
def user_list(request):
    users = accounts.users_for_management()
    return render(request, "screening/user_list.html", {"users": users})


@requires("screening.manage_users")
@require_http_methods(["GET", "POST"])
def user_create(request):
    form = UserCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user = accounts.user_create(
                    **form.cleaned_data, site_url=_site_url(request), actor=request.user, context=request.audit
                )
            except IntegrityError:  # the same username created at the same moment by someone else
                form.add_error("username", "A user with this username already exists.")
            except (OSError, smtplib.SMTPException):
                logger.exception("user_create: the password link could not be sent; nothing was saved")
                form.add_error(None, NOT_SENT)
                return render(request, "screening/user_form.html", {"form": form}, status=503)
            else:
                messages.success(request, f"User {user.username} created. A link was sent to {user.email}.")
                return redirect("user_detail", pk=user.pk)
        status = 400
    return render(request, "screening/user_form.html", {"form": form}, status=status)


ACTIONS = {"role", "deactivate", "reactivate", "send_link", "reset_mfa"}


@requires("screening.manage_users")
@require_http_methods(["GET", "POST"])
def user_detail(request, pk: int):
    user = get_object_or_404(accounts.users_for_management(), pk=pk)
    role = accounts.role_of(user)
    role_form = UserRoleForm(initial={"role": role if role in accounts.ROLES else None})
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "role":
            role_form = UserRoleForm(request.POST)
        done = _apply(request, user, action, role_form)
        if done:
            return redirect("user_detail", pk=user.pk)
        status = 400
    context = {"account": user, "role": role, "role_form": role_form, "is_self": user.pk == request.user.pk}
    return render(request, "screening/user_detail.html", context, status=status)


def _apply(request, user, action: str | None, role_form: UserRoleForm) -> bool:
    """Carry out one action of the user page; True when done (with its message), False to show the page again."""
    who = {"actor": request.user, "context": request.audit}
    if action not in ACTIONS:
        messages.error(request, "Choose one of the actions on this page.")
        return False
    if action == "role" and not role_form.is_valid():
        return False
    try:
        if action == "role":
            changed = accounts.user_change_role(user=user, role=role_form.cleaned_data["role"], **who)
            new = role_form.cleaned_data["role"]
            messages.success(request, f"Role changed to {new}." if changed else f"{user.username} is already {new}.")
        elif action in ("deactivate", "reactivate"):
            active = action == "reactivate"
            accounts.user_set_active(user=user, active=active, **who)
            state = "reactivated" if active else "deactivated: their sessions have ended"
            messages.success(request, f"{user.username} is {state}.")
        elif action == "send_link":
            accounts.user_send_password_link(user=user, site_url=_site_url(request), **who)
            messages.success(request, f"A link was sent to {user.email}.")
        else:
            had = accounts.user_reset_second_factor(user=user, **who)
            messages.success(
                request,
                f"Second factor reset: {user.username} sets one up at the next sign-in."
                if had
                else f"{user.username} had no second factor set up; nothing to reset.",
            )
    except accounts.AccountRefused as exc:
        messages.error(request, exc.message)
        return False
    except ServiceError as exc:
        role_form.add_error(exc.field, exc.message)
        return False
    except (OSError, smtplib.SMTPException):
        logger.exception("send_link: the password link could not be sent")
        messages.error(request, NOT_SENT)
        return False
    return True


# --- A user's own password. Django's views, with the app's forms and templates, and an audit event when set.


class PasswordChangeView(auth_views.PasswordChangeView):
    """The current password is required; this session stays, the user's other sessions end (session hash)."""

    form_class = OwnPasswordChangeForm

    def get_form_kwargs(self):
        request = self.request
        return {
            **super().get_form_kwargs(),
            "confirm": lambda pw: confirm_password(request, pw, during="password change"),
        }

    def form_valid(self, form):
        response = super().form_valid(form)
        accounts.user_password_changed(user=form.user, via="change", context=self.request.audit)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ForgotPasswordForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = PasswordSetForm

    def get_user(self, uidb64):
        # A deactivated user's link is dead too: they could not sign in with the password anyway.
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None

    def form_valid(self, form):
        response = super().form_valid(form)
        accounts.user_password_changed(user=form.user, via="link", context=self.request.audit)
        return response


password_change = PasswordChangeView.as_view()
password_change_done = auth_views.PasswordChangeDoneView.as_view()
password_reset = PasswordResetView.as_view()
password_reset_done = auth_views.PasswordResetDoneView.as_view()
password_reset_confirm = PasswordResetConfirmView.as_view()
password_reset_complete = auth_views.PasswordResetCompleteView.as_view()
