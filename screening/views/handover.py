"""Patient hand-over (issue 14, item 7): the clinician hands the device to the person, who answers PHQ-9 and GAD-7
themselves on a full-screen page that shows nothing else of the record; the device then stays locked until the
clinician's password.

The state lives in the clinician's session (which screening, the draft version the hand-over last saved, the items
the person answered — names only — and whether it is locked), so every tab of that browser is handed over at once:
`HandoverLockMiddleware` sends any other page of the app back to the hand-over while it lasts, so neither a link, the
address bar nor the Back button reaches the record. Answers go into the draft through the draft save service
(optimistic locking), each step is audited (services.handover_*), and answering counts as activity for the idle limit
(every answer the page's script saves is a request; the idle warning is on the page too)."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_POST

from .. import selfreport, services
from ..forms import ScreeningForm
from ..handover_forms import ReturnForm, SelfReportForm
from ..middleware import HANDOVER_SESSION_KEY, KEPT_COOKIE
from ..models import Screening
from . import clinician, confirm_password, requires

SESSION_KEY = HANDOVER_SESSION_KEY  # what the person sends after the session ended is kept (middleware) by it
# Set in the clinician's session on return from a hand-over in which the person answered PHQ-9 item 9 (the
# screening's id): the questionnaire's alert then shows even when they left another PHQ-9 item to the clinician.
ITEM9_KEY = "handover_item9"
# What stays reachable while the device is handed over: the hand-over's own pages, the idle warning's keep-alive and
# signing out (the session then ends, and the sign-in page shows nothing of the record either).
_OPEN = frozenset({"handover", "handover_save", "handover_return", "session_keep_alive", "logout", "healthz", "readyz"})


class HandoverLockMiddleware:
    """While this session's device is handed over, every other page leads back to the hand-over (the form or, once
    the person is done, the lock screen); a background request (the questionnaire's autosave in another tab) is
    refused with 423 and nothing is saved."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and SESSION_KEY in request.session:
            try:
                name = resolve(request.path_info).url_name
            except Resolver404:
                name = None
            if name not in _OPEN:
                if request.headers.get("Accept", "").startswith("application/json"):
                    return JsonResponse({"error": LOCKED_JSON, "handed_over": True}, status=423)
                return redirect(_where(request.session[SESSION_KEY]))
        return self.get_response(request)


LOCKED_JSON = "This device is handed to the person for their questionnaire: nothing was saved."


def _where(state: dict) -> str:
    return reverse("handover_return" if state.get("locked") else "handover")


@requires("screening.change_screening")
@require_POST
def handover_start(request, public_id):
    """ "Hand to the patient" on the questionnaire: what the clinician entered is saved first (the draft save, with
    its version: a change made elsewhere is shown as a conflict and nothing is handed over), then the hand-over
    starts."""
    screening = clinician._load(public_id, related=("client", "clinician"))
    if not screening.is_draft:
        messages.error(request, services.HANDOVER_NEEDS_DRAFT)
        return redirect("screening_detail", public_id=public_id)
    form = ScreeningForm.for_screening(screening, request.POST)
    if not form.is_valid():
        return clinician.screening_edit(request, public_id)  # the errors at their fields; not handed over
    try:
        screening = clinician._save_draft(request, screening, form, request.COOKIES.get(KEPT_COOKIE))
    except services.ScreeningConflict:
        return clinician.screening_edit(request, public_id)  # both versions side by side; not handed over
    services.handover_start(screening=screening, actor=request.user, context=request.audit)
    request.session[SESSION_KEY] = {
        "screening": str(screening.public_id),
        "version": screening.version,
        "items": _items_digest(screening),
        "answered": [],
        "locked": False,
        "not_saved": False,
    }
    return redirect("handover")


def _items_digest(screening: Screening) -> str:
    """A digest of the draft's self-report items as the hand-over last saved them: a later change elsewhere to other
    questions leaves it as it is; one to these items does not. (The session holds no answer itself.)"""
    values = ",".join(str(getattr(screening, i.name)) for i in selfreport.ITEMS)
    return hashlib.sha256(f"{screening.public_id}:{values}".encode()).hexdigest()


def _handed_over(request) -> tuple[dict | None, Screening | None]:
    state = request.session.get(SESSION_KEY)
    if state is None:
        return None, None
    return state, Screening.objects.filter(public_id=state["screening"]).first()


def _save(request, state: dict, screening: Screening, given: dict[str, int]) -> bool:
    """Save the person's answers into the draft; False when they could not be (the draft was completed, or its
    self-report items were changed elsewhere meanwhile: nothing is overwritten, and the clinician is told on return).
    A change elsewhere to other questions is kept: the answers are saved onto it."""
    answered = frozenset(state["answered"]) | frozenset(given)
    if state["not_saved"]:
        return False
    if set(given) <= set(state["answered"]) and all(getattr(screening, k) == v for k, v in given.items()):
        return True  # already saved (the script saved each answer as it was given)
    version = state["version"]
    for _ in range(2):
        try:
            screening = services.handover_answer(
                screening=screening,
                values=given,
                answered=answered,
                expected_version=version,
                actor=request.user,
                context=request.audit,
            )
        except services.ScreeningConflict as exc:
            if _items_digest(exc.current) != state["items"] or not exc.current.is_draft:
                break
            version, screening = exc.current.version, exc.current  # only other questions changed: saved onto them
        except services.ServiceError:
            break
        else:
            state.update(version=screening.version, answered=sorted(answered), items=_items_digest(screening))
            request.session.modified = True
            return True
    state["not_saved"] = True
    request.session.modified = True
    return False


@requires("screening.change_screening")
def handover(request):
    """The person's page: the PHQ-9 and GAD-7 items in large type, nothing else of the record; "I have finished"
    saves them and locks the device (an unanswered item is pointed out first, and can be left to the clinician)."""
    state, screening = _handed_over(request)
    if state is None or screening is None:
        request.session.pop(SESSION_KEY, None)
        return redirect("home")
    if state["locked"]:
        return redirect("handover_return")
    answered = set(state["answered"])
    initial = {name: getattr(screening, name) for name in answered}
    form = SelfReportForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        _save(request, state, screening, form.given())
        if "anyway" in request.POST or form.require_all():
            state["locked"] = True
            request.session.modified = True
            services.handover_finish(
                screening=screening, answered=frozenset(state["answered"]), actor=request.user, context=request.audit
            )
            return redirect("handover_return")
    context = {"form": form, "instruments": selfreport.INSTRUMENTS, "responses": selfreport.RESPONSES}
    return render(request, "screening/handover_answers.html", context)


@require_POST
def handover_save(request):
    """The page's script saves each answer as it is given (JSON): nothing is lost if the device is put down, and the
    person answering counts as activity for the idle limit."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_out": True, "sign_in": reverse("login")}, status=401)
    if not request.user.has_perm("screening.change_screening"):
        return JsonResponse({"error": "You may not change screenings."}, status=403)
    state, screening = _handed_over(request)
    if state is None or screening is None or state["locked"]:
        return JsonResponse({"error": "Not handed over."}, status=409)
    form = SelfReportForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": "Not saved.", "fields": list(form.errors)}, status=400)
    saved = _save(request, state, screening, form.given())
    return JsonResponse({"saved": saved, "remaining": request.idle_remaining})


@requires("screening.change_screening")
def handover_return(request):
    """The lock screen: thanks the person and asks the clinician's password (views.confirm_password, so wrong ones
    are audited and count toward the sign-in lockout); a wrong one keeps the device locked."""
    state, screening = _handed_over(request)
    if state is None or screening is None:
        request.session.pop(SESSION_KEY, None)
        return redirect("home")
    if not state["locked"]:
        return redirect("handover")
    form = ReturnForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        refusal = confirm_password(request, form.cleaned_data["password"], during="hand-over return")
        if refusal is None:
            return _returned(request, state, screening)
        form.add_error("password", refusal)
        if getattr(request, "axes_locked_out", False):
            # Counted and refused; the lock screen stays (axes would otherwise answer with its own page, which has
            # the app's navigation).
            request.axes_locked_out = False
            status = 429
    return render(request, "screening/handover_return.html", {"form": form}, status=status)


def _returned(request, state: dict, screening: Screening):
    services.handover_return(screening=screening, actor=request.user, context=request.audit)
    del request.session[SESSION_KEY]
    answered = frozenset(state["answered"])
    whole = [selfreport.BY_KEY[k].short for k in selfreport.complete(answered)]
    if state["not_saved"]:
        messages.error(request, NOT_SAVED)
    else:
        got = f"{len(answered)} of {len(selfreport.ITEMS)} questions"
        marked = f"; {' and '.join(whole)} marked self-reported" if whole else ""
        messages.success(request, f"The device is back with you. The person answered {got}{marked}.")
    url = reverse("screening_edit", kwargs={"public_id": screening.public_id})
    if selfreport.ITEM9 in answered:
        request.session[ITEM9_KEY] = str(screening.public_id)
    if selfreport.ITEM9 in answered and selfreport.item9_needs_attention(screening.phq9_9):
        return redirect(f"{url}#self-report-alert")
    return redirect(url)


NOT_SAVED = (
    "Some of the person's answers were not saved: the draft's PHQ-9 or GAD-7 answers were changed elsewhere (or the "
    "screening was completed) while the device was handed over, and were not overwritten. Check them, and ask again."
)
