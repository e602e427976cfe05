"""Request edge: the audit context of each request, session timeouts, and refusals made before any view."""

import logging
import re
import time
import uuid
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from .audit import SYSTEM, AuditContext
from .mfa import second_factor_page, with_next

_LAST, _SINCE = "last_activity", "signed_in_at"
_WRITE_EVERY = 30  # seconds


def mark_signed_in(request) -> None:
    """Start the session's absolute lifetime (on sign-in)."""
    request.session[_SINCE] = request.session[_LAST] = int(time.time())


class SessionTimeoutMiddleware:
    """Ends a session after `SESSION_IDLE_TIMEOUT_MINUTES` without a request and, whatever the activity,
    `SESSION_ABSOLUTE_TIMEOUT_MINUTES` after sign-in (the start is kept in the session, checked here: the
    cookie's age moves forward each time the session is saved)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            since = request.session.setdefault(_SINCE, now)
            last = request.session.get(_LAST, now)
            idle = now - last > settings.SESSION_IDLE_TIMEOUT_MINUTES * 60
            if idle or now - since > settings.SESSION_ABSOLUTE_TIMEOUT_MINUTES * 60:
                logout(request)
                why = "a period of inactivity" if idle else "the longest time a session may last"
                messages.info(request, f"You were signed out after {why}. Sign in again to go on.")
                return redirect(f"{reverse('login')}?next={request.path}")
            if now - last >= _WRITE_EVERY or _LAST not in request.session:
                request.session[_LAST] = now  # written at most every 30 s: no session UPDATE per request
        return self.get_response(request)


class RequestGuardMiddleware:
    """Refuses a request whose parameters hold a NUL byte or bytes that are not UTF-8 (400, never a database
    error or a silently altered value), and keeps the pages of a signed-in user out of every cache
    (`Cache-Control: no-store`: they show PHI)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if refusal := self._refusal(request):
            return HttpResponseBadRequest(refusal, content_type="text/plain")
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
            patch_cache_control(response, private=True)
        return response

    @staticmethod
    def _refusal(request) -> str | None:
        try:
            unquote_to_bytes(request.META.get("QUERY_STRING", "").replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            return "A parameter of this request is not readable text (UTF-8)."
        for params in (request.GET, request.POST if request.method == "POST" else {}):
            if any("\x00" in key or any("\x00" in v for v in params.getlist(key)) for key in params):
                return "A parameter of this request holds a NUL byte."
        return None


class MfaMiddleware:
    """Sends a signed-in user who has not passed the second factor to it, before anything else (POSTs too)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        page = second_factor_page(path=request.path, user=request.user, session=request.session)
        if page is None:
            return self.get_response(request)
        # A GET comes back to where it was going after the factor; a POST is not replayed.
        next_url = request.get_full_path() if request.method == "GET" and request.path != reverse("home") else ""
        return redirect(with_next(reverse(page), next_url))


def audit_context(request) -> AuditContext:
    """The audit context of a request (views, signals, admin): the one middleware set, else made now."""
    if request is None:
        return SYSTEM
    ctx = getattr(request, "audit", None)
    if not isinstance(ctx, AuditContext):
        ctx = AuditContext(address=client_address(request), request_id=_request_id(request))
        request.audit = ctx
    return ctx


def client_address(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind `TRUSTED_PROXY_COUNT` proxies the address the first of them
    saw, from the right of X-Forwarded-For (entries further left are the client's to write, so never read).
    The audit trail and the lockout (AXES_CLIENT_IP_CALLABLE) both use it."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR") or None


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def _request_id(request) -> str:
    """A trusted proxy's X-Request-ID when there is one (and it looks like an id), else a new one."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    if settings.TRUSTED_PROXY_COUNT and _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class AuditContextMiddleware:
    """Sets `request.audit`, so nothing below the views needs the request to say where an action came from, and
    logs each request as one JSON line: its id, method, path without the query, status, duration and user id —
    never a name, a record number or an answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        ctx = audit_context(request)
        response = self.get_response(request)
        # The id goes back to the caller, so a problem report can name the request it is about.
        response["X-Request-ID"] = ctx.request_id
        user = getattr(request, "user", None)
        _requests.info(
            "request",
            extra={
                "request_id": ctx.request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )
        return response


_requests = logging.getLogger("screening.requests")
