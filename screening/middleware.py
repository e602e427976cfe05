"""Request edge: the audit context of each request, session timeouts, and refusals made before any view."""

import logging
import re
import secrets
import time
import uuid
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponseBadRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control

from . import selfreport, services
from .audit import SYSTEM, AuditContext
from .forms import ScreeningForm
from .mfa import second_factor_page, with_next
from .models import KeptAnswers, Screening

_LAST, _SINCE = "last_activity", "signed_in_at"
_WRITE_EVERY = 30  # seconds
# The browser's token for answers kept after a session ended (random; the server holds its hash and the answers).
KEPT_COOKIE = "kept_answers"
# The pages whose posts are kept when they arrive after the session ended: the questionnaire and its autosave.
_KEEPABLE = frozenset({"screening_edit", "screening_autosave"})
_JSON = frozenset({"screening_autosave", "session_keep_alive"})
# The patient hand-over's page (views/handover.py), whose form the person sends with "I have finished", and the key of
# its state in the clinician's session (which screening: never in the address).
HANDOVER, HANDOVER_SESSION_KEY = "handover", "handover"


def idle_limit() -> int:
    """Seconds without a request before a session ends: `SESSION_IDLE_TIMEOUT_MINUTES`, or (browser tests of the
    timeout, in seconds rather than minutes) `SESSION_IDLE_TIMEOUT_SECONDS` when that is set."""
    return getattr(settings, "SESSION_IDLE_TIMEOUT_SECONDS", 0) or settings.SESSION_IDLE_TIMEOUT_MINUTES * 60


def mark_signed_in(request) -> None:
    """Start the session's absolute lifetime (on sign-in)."""
    request.session[_SINCE] = request.session[_LAST] = int(time.time())


def touch_session(request) -> int:
    """Count this request as activity now ("stay signed in"); the seconds the session may now stay idle."""
    request.session[_LAST] = int(time.time())
    return idle_limit()


def _route(request):
    try:
        return resolve(request.path_info)
    except Resolver404:
        return None


def _csrf_ok(request, match) -> bool:
    # This runs before CsrfViewMiddleware.process_view would: a post is kept only if it would have passed it.
    return CsrfViewMiddleware(lambda r: None).process_view(request, match.func, match.args, match.kwargs) is None


def _posted(request) -> dict[str, list[str]]:
    return {key: request.POST.getlist(key) for key in request.POST}


class SessionTimeoutMiddleware:
    """Ends a session after `SESSION_IDLE_TIMEOUT_MINUTES` without a request and, whatever the activity,
    `SESSION_ABSOLUTE_TIMEOUT_MINUTES` after sign-in (the start is kept in the session, checked here: the
    cookie's age moves forward each time the session is saved).

    Nothing is lost to it (DESIGN.md §11): a questionnaire posted after the session ended is kept on the server for
    the user it was signed in as — read here, before the session is flushed — and offered back to that user after
    their next sign-in in the same browser (`services.answers_keep`; the browser holds a random token only). Sets
    `request.idle_remaining`, the seconds this session may stay idle, for the page's warning before the limit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.idle_remaining = None
        if request.user.is_authenticated:
            now = int(time.time())
            limit = idle_limit()
            since = request.session.setdefault(_SINCE, now)
            last = request.session.get(_LAST, now)
            idle = now - last > limit
            if idle or now - since > settings.SESSION_ABSOLUTE_TIMEOUT_MINUTES * 60:
                return self._end(request, "a period of inactivity" if idle else "the longest time a session may last")
            # Written at most every 30 s (a quarter of a shorter limit): no session UPDATE per request.
            if now - last >= min(_WRITE_EVERY, max(1, limit // 4)) or _LAST not in request.session:
                request.session[_LAST] = last = now
            request.idle_remaining = limit - (now - last)
        elif request.method == "POST" and request.COOKIES.get(KEPT_COOKIE):
            self._keep_again(request)
        return self.get_response(request)

    def _end(self, request, why: str):
        match = _route(request)
        name = match.url_name if match else None
        public_id = handover = None
        if name in _KEEPABLE:
            public_id = match.kwargs["public_id"]
        elif name == HANDOVER and (handover := request.session.get(HANDOVER_SESSION_KEY)):
            public_id = handover["screening"]
        token = None
        if request.method == "POST" and public_id and _csrf_ok(request, match):
            token = self._keep(request, public_id, handover)
        logout(request)
        kept = " Your answers were kept: they are offered back once you sign in." if token else ""
        messages.info(request, f"You were signed out after {why}. Sign in again to go on.{kept}")
        # After sign-in, back to the questionnaire (the autosave has no page; the hand-over has ended).
        next_path = reverse("screening_edit", kwargs={"public_id": public_id}) if public_id else request.path
        sign_in = f"{reverse('login')}?next={next_path}"
        if name in _JSON:
            response = JsonResponse({"signed_out": True, "kept": token is not None, "sign_in": sign_in}, status=401)
        else:
            response = redirect(sign_in)
        if token:
            response.set_cookie(
                KEPT_COOKIE,
                token,
                max_age=int(services.KEEP_FOR.total_seconds()),
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    @staticmethod
    def _keep(request, public_id, handover: dict | None) -> str | None:
        """Keep the post for the user still signed in here (the session is read before it is flushed). From the
        patient hand-over (`handover`: its state in the session), the person's answers are kept as the draft's
        questionnaire with them in place of its self-report items, offered back like any other kept answers."""
        user = request.user
        screening = Screening.objects.filter(public_id=public_id, status=Screening.Status.DRAFT).first()
        if screening is None or not user.has_perm("screening.change_screening"):
            return None
        token = request.COOKIES.get(KEPT_COOKIE, "")
        if not _TOKEN.fullmatch(token):
            token = secrets.token_urlsafe(32)
        data = _posted(request) if handover is None else _handed_over(screening, _posted(request), handover)
        services.answers_keep(token=token, user=user, screening=screening, data=data, context=request.audit)
        return token

    @staticmethod
    def _keep_again(request) -> None:
        """A post without a session from a browser that holds kept answers for this draft: keep the newer ones. From
        the hand-over (its screening is not in the address), the person's answers this browser kept last."""
        match = _route(request)
        if match is None or match.url_name not in (*_KEEPABLE, HANDOVER) or not _csrf_ok(request, match):
            return
        token = request.COOKIES[KEPT_COOKIE]
        if not _TOKEN.fullmatch(token):
            return
        data = _posted(request)
        if match.url_name == HANDOVER:
            kept = KeptAnswers.objects.filter(
                token_hash=services.token_hash(token),
                expires_at__gt=timezone.now(),
                data__has_key=selfreport.KEPT_BY_PERSON,
            )
            if (kept := kept.select_related("screening").order_by("-created_at").first()) is None:
                return
            screening_id, data = kept.screening.public_id, _with_persons_answers(kept.data, data)
        else:
            screening_id = match.kwargs["public_id"]
        if services.answers_keep_again(token=token, screening_id=screening_id, data=data, context=request.audit):
            messages.info(
                request, "Your session had ended: your answers were kept and are offered back once you sign in."
            )


_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def _handed_over(screening: Screening, posted: dict[str, list[str]], handover: dict) -> dict[str, list[str]]:
    """The draft's questionnaire as its form would post it, the self-report items the person sent in place of the
    draft's, and which items the person gave (in this post, or saved earlier in the same hand-over)."""
    data: dict[str, list[str]] = {}
    for name, value in ScreeningForm.initial_from(screening).items():
        if value is None or value is False:
            continue
        data[name] = ["on"] if value is True else [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return _with_persons_answers({**data, selfreport.KEPT_BY_PERSON: handover.get("answered", [])}, posted)


def _with_persons_answers(kept: dict[str, list[str]], posted: dict[str, list[str]]) -> dict[str, list[str]]:
    """Kept answers from the hand-over with the self-report items the person `posted` in place, and counted theirs."""
    given = {name: values for name, values in posted.items() if name in selfreport.ITEM_NAMES and values[:1] != [""]}
    by_person = sorted(set(kept.get(selfreport.KEPT_BY_PERSON, ())) | set(given))
    return {**kept, **given, selfreport.KEPT_BY_PERSON: by_person}


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
