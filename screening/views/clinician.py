"""Clinician pages: clients, the intake questionnaire, the recommendation, decision, signature, amendment."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from .. import answers, questionnaire, rules, selectors, selfreport, services
from ..forms import AmendForm, ClientForm, ClientSearchForm, DecisionForm, ScreeningForm, SignForm
from ..middleware import KEPT_COOKIE, touch_session
from ..models import Client, KeptAnswers, Screening, SpecialtyGroup
from . import confirm_password, record_view, requires


@login_required
def home(request):
    may_edit = request.user.has_perm("screening.change_screening")
    unfinished = selectors.unfinished_screenings(request.user) if may_edit else []
    if unfinished:  # the clients' names are shown: a view of them, as on the client list
        clients = list(dict.fromkeys(str(s.client.public_id) for s in unfinished))
        record_view(request, object_type="client_list", details={"clients": clients, "page": "home"})
    return render(request, "screening/home.html", {"unfinished": unfinished})


@requires("screening.view_client")
def client_list(request):
    """Clients, newest first, a page at a time from a cursor (a client's UUID); a search by name or record
    number is a POST so no name ever sits in a URL."""
    search = ClientSearchForm(request.POST or None)
    context = {"search": search, "results": None, "page": None, "search_limit": selectors.SEARCH_LIMIT}
    if request.method == "POST" and search.is_valid():
        found = selectors.client_search(search.cleaned_data["q"])
        context.update(results=found.clients, more=found.more)
        shown = found.clients
    else:
        context["page"] = selectors.client_page(after=request.GET.get("after"), before=request.GET.get("before"))
        shown = context["page"].clients
    # Names and record numbers on a list are a view of those clients (DESIGN.md §7); the search text is not kept.
    details = {"clients": [str(c.public_id) for c in shown], "search": request.method == "POST"}
    record_view(request, object_type="client_list", details=details)
    return render(request, "screening/client_list.html", context)


@requires("screening.add_client")
def client_create(request):
    form = ClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client = services.client_create(actor=request.user, context=request.audit, **form.cleaned_data)
        except services.ServiceError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, "Client added.")
            return redirect("client_detail", public_id=client.public_id)
    return render(request, "screening/client_form.html", {"form": form})


@requires("screening.view_client")
def client_detail(request, public_id):
    client = get_object_or_404(Client, public_id=public_id)
    screenings = selectors.client_screenings(client)
    record_view(request, obj=client)
    # A version corrected by a signed amendment is superseded: the timeline marks it.
    superseded = {s.amends_id for s in screenings if s.amends_id is not None and s.is_signed}
    context = {"client": client, "screenings": screenings, "superseded": superseded}
    return render(request, "screening/client_detail.html", context)


@requires("screening.add_screening")
@require_POST
def screening_start(request, public_id):
    client = get_object_or_404(Client, public_id=public_id)
    screening = services.screening_start(client=client, clinician=request.user, context=request.audit)
    return redirect("screening_edit", public_id=screening.public_id)


def _load(public_id, related=("client", "clinician", "decided_by", "signed_by", "amends", "risk_summary")) -> Screening:
    return get_object_or_404(with_carried_from(Screening.objects.select_related(*related)), public_id=public_id)


def with_carried_from(screenings):
    """With what a page says of the screening a reassessment carried from: its signature's date and its id (two
    columns of it, not the whole row; includes/_reassessment_note.html)."""
    return screenings.annotate(
        carried_on=F("carried_from__signed_at"), carried_from_public_id=F("carried_from__public_id")
    )


def _load_draft(public_id) -> Screening:
    """A draft for the questionnaire, with what its page says of the screening a reassessment carried from (two
    columns of it, not the whole row: the page and its autosave stay as cheap as a plain draft's)."""
    drafts = with_carried_from(Screening.objects.select_related("client", "clinician"))
    return get_object_or_404(drafts, public_id=public_id)


@requires("screening.change_screening")
def screening_edit(request, public_id):
    """The questionnaire: save as draft at any point, or complete to get the recommendation."""
    # A draft has no decision or signature yet; the screening an amendment corrects loads only if there is one.
    screening = _load_draft(public_id)
    if not screening.is_draft:
        if request.method == "POST":  # a form from before it was completed or signed (Back, another tab)
            messages.error(request, services.SIGNED_MEANWHILE if screening.is_signed else COMPLETED_MEANWHILE)
        return redirect("screening_detail", public_id=public_id)
    conflict = kept = None
    token = request.COOKIES.get(KEPT_COOKIE)
    if request.method == "POST":
        form = ScreeningForm.for_screening(screening, request.POST)
        if form.is_valid():
            try:
                # Every well-formed answer is saved, even when completion still needs more.
                screening = _save_draft(request, screening, form, token)
            except services.ScreeningConflict as exc:
                conflict = _conflict_context(exc, form)
                # Keep what this clinician entered; the next save is made knowing about the other change.
                form.data = form.data.copy()
                form.data["version"] = exc.current.version
            else:
                form.data = form.data.copy()
                form.data["version"] = screening.version
                form.show_confirmed(screening.confirmed_sections)
                if "complete" not in request.POST:
                    messages.success(request, "Draft saved.")
                    return redirect("screening_edit", public_id=public_id)
                if form.require_complete(confirmed=screening.confirmed_sections):
                    try:
                        services.screening_complete(screening=screening, actor=request.user, context=request.audit)
                    except questionnaire.QuestionnaireError as exc:
                        form.add_questionnaire_errors(exc.errors)
                    else:
                        return redirect("screening_detail", public_id=public_id)
                messages.info(request, "Your answers are saved as a draft. Completing needs the answers marked below.")
    elif token and (
        kept := KeptAnswers.objects.offered(
            token_hash=services.token_hash(token), user=request.user, screening=screening
        )
    ):
        # Answers posted after the session ended, offered back (not saved until the clinician saves them).
        form = ScreeningForm.for_screening(screening, _query_dict(kept.data))
        record_view(request, object_type="kept_answers", object_id=str(kept.pk), details={"screening": str(public_id)})
    else:
        form = ScreeningForm.for_screening(screening, initial=ScreeningForm.initial_from(screening))
        record_view(request, obj=screening)
    context = {"screening": screening, "form": form, "conflict": conflict, "kept": kept}
    return render(request, "screening/screening_form.html", context, status=409 if conflict else 200)


def _save_draft(request, screening: Screening, form: ScreeningForm, token: str | None) -> Screening:
    by_person = None
    if token and (
        kept := KeptAnswers.objects.offered(
            token_hash=services.token_hash(token), user=request.user, screening=screening
        )
    ):
        # Kept from a patient hand-over (middleware): the items the person gave, saved as given, stay theirs.
        by_person = selfreport.given_by_person(kept.data, form.cleaned_data) or None
    screening = services.screening_save_draft(
        screening=screening,
        data=form.answer_columns(completing="complete" in request.POST),
        expected_version=form.cleaned_data["version"],
        actor=request.user,
        context=request.audit,
        answered_by_person=by_person,
        confirmed=form.confirmed if form.carried else None,  # a form without the Confirm boxes leaves them as saved
        none_ticked=form.none_ticked,
    )
    if token:  # saved from this browser: what it kept for the draft has served
        services.answers_used(token=token, user=request.user, screening=screening)
    return screening


def _query_dict(data: dict[str, list[str]]) -> QueryDict:
    posted = QueryDict(mutable=True)
    for key, values in data.items():
        posted.setlist(key, values)
    return posted


def _json_refusal(request, back_to: str) -> JsonResponse | None:
    """For the page's background requests: 401 without a session (with the sign-in address that leads back to
    `back_to`), 403 without the permission (JSON, no page)."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_out": True, "sign_in": f"{reverse('login')}?next={back_to}"}, status=401)
    if not request.user.has_perm("screening.change_screening"):
        return JsonResponse({"error": "You may not change screenings."}, status=403)
    return None


@require_POST
def screening_autosave(request, public_id):
    """The questionnaire's own save when an answer changes (static/js/screening_form.js): the draft save of
    Save draft, with the same optimistic locking; answers JSON. A conflict is reported, never overwritten."""
    if refusal := _json_refusal(request, reverse("screening_edit", kwargs={"public_id": public_id})):
        return refusal
    screening = _load_draft(public_id)
    if not screening.is_draft:
        return JsonResponse(
            {"error": SIGNED_MEANWHILE_SHORT if screening.is_signed else COMPLETED_MEANWHILE}, status=409
        )
    form = ScreeningForm.for_screening(screening, request.POST)
    if not form.is_valid():
        return JsonResponse(
            {"error": "Not saved: press Save draft to see why.", "fields": list(form.errors)}, status=400
        )
    try:
        screening = _save_draft(request, screening, form, request.COOKIES.get(KEPT_COOKIE))
    except services.ScreeningConflict:
        return JsonResponse({"conflict": True, "error": AUTOSAVE_CONFLICT}, status=409)
    saved_at = timezone.localtime(screening.updated_at).strftime("%H:%M:%S")
    body = {"version": screening.version, "saved_at": saved_at, "remaining": request.idle_remaining}
    return JsonResponse({**body, "confirmed": screening.confirmed_sections})


AUTOSAVE_CONFLICT = (
    "This draft was saved elsewhere (another tab or another clinician) while you were editing: your latest answers "
    "are not saved. Press Save draft to see what differs and decide what to keep."
)
SIGNED_MEANWHILE_SHORT = "This screening was signed in the meantime: nothing was saved."


@requires("screening.change_screening")
@require_POST
def screening_kept_discard(request, public_id):
    """Decline the answers kept when the session ended: the saved draft is shown."""
    screening = _load(public_id, related=("client", "clinician"))
    if token := request.COOKIES.get(KEPT_COOKIE):
        services.answers_discard(token=token, user=request.user, screening=screening, context=request.audit)
    messages.info(request, "The kept answers were discarded; the saved draft is shown.")
    return redirect("screening_edit", public_id=public_id)


@require_POST
def session_keep_alive(request):
    """ "Stay signed in": counts as activity, so the idle limit starts again (answers JSON)."""
    if not request.user.is_authenticated:
        return JsonResponse({"signed_out": True, "sign_in": reverse("login")}, status=401)
    return JsonResponse({"remaining": touch_session(request)})


COMPLETED_MEANWHILE = "This screening was completed in the meantime: nothing was changed."


def _signed_meanwhile(request, screening: Screening):
    """A decision or signature posted to a screening signed since the page was shown: say so, change nothing."""
    messages.error(request, services.SIGNED_MEANWHILE)
    return redirect("screening_detail", public_id=screening.public_id)


def _conflict_context(exc: services.ScreeningConflict, form: ScreeningForm) -> dict:
    """What the other clinician changed, side by side with what this one entered."""
    mine = form.answer_columns()
    rows = [
        {
            "label": answers.column_label(name),
            "theirs": answers.show(getattr(exc.current, name)),
            "yours": answers.show(mine.get(name)),
        }
        for name in exc.changed
    ]
    return {"rows": rows, "by": selectors.last_saved_by(exc.current) or "another user", "at": exc.current.updated_at}


@requires("screening.view_screening")
def screening_detail(request, public_id):
    """The recommendation page (completed/signed) or a read-only view of a draft."""
    screening = _load(public_id)
    if screening.is_draft and request.user.has_perm("screening.change_screening"):
        return redirect("screening_edit", public_id=public_id)
    record_view(request, obj=screening)
    return render(request, "screening/screening_detail.html", _detail_context(request, screening))


def _detail_context(request, screening: Screening, **forms) -> dict:
    can_sign = request.user.has_perm("screening.sign_screening")
    rec = screening.recommendation or {}
    explained = screening.flag_explanations()
    interests = list(screening.specialty_interests.values_list("group", flat=True))
    amendments = selectors.amendments_of(screening)
    context = {
        "screening": screening,
        "client": screening.client,
        # By urgency, each with what raised it; the emergency referral leads as a banner of its own.
        "emergency": next((e for e in explained if e.flag is rules.Flag.EMERGENCY_REFERRAL), None),
        "flags": [e for e in explained if e.flag is not rules.Flag.EMERGENCY_REFERRAL],
        "domains": screening.domain_rows(),
        "pathway": rec.get("pathway", []),
        "reasons": rec.get("reasons", []),
        "scores": answers.scores(screening.answers_snapshot, rec.get("bands", {})),
        # The IOP goals and groups apply when IOP is recommended or chosen.
        "is_iop": rules.iop_program_applies(screening.recommended_level, screening.final_level),
        "detox_headline": rec.get("pathway", [None])[0] == rules.Step.MEDICALLY_SUPERVISED_DETOX,
        "goals": rules.IOP_GOALS,
        "interests": [label for value, label in SpecialtyGroup.choices if value in interests],
        "amendments": amendments,
        "superseded_by": next((a for a in reversed(amendments) if a.is_signed), None),
        "answers": answers.display_rows(screening.answers_dict(), screening.answer_values()),
        "can_act": can_sign and screening.status == Screening.Status.COMPLETED,
        "can_amend": can_sign and services.amend_refusal(screening, amendments) is None,
    }
    if context["can_act"]:
        context["decision_form"] = forms.get("decision_form") or DecisionForm(
            recommended=screening.recommended_level,
            initial={
                "final_level": screening.final_level or screening.recommended_level,
                "override_reason": screening.override_reason,
                "override_text": screening.override_text,
                "groups": interests,
            },
        )
        context["sign_form"] = forms.get("sign_form") or SignForm(flags=screening.flags)
    if context["can_amend"]:
        context["amend_form"] = forms.get("amend_form") or AmendForm()
    return context


@requires("screening.sign_screening")
@require_POST
def screening_decide(request, public_id):
    screening = _load(public_id)
    if screening.is_signed:
        return _signed_meanwhile(request, screening)
    form = DecisionForm(request.POST, recommended=screening.recommended_level)
    if form.is_valid():
        try:
            services.screening_decide(
                screening=screening,
                final_level=form.cleaned_data["final_level"],
                reason=form.cleaned_data["override_reason"],
                reason_text=form.cleaned_data["override_text"],
                groups=form.cleaned_data["groups"],
                actor=request.user,
                context=request.audit,
            )
        except services.ServiceError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, "Decision recorded. Review it, then sign below.")
            return redirect(f"{screening_url(screening)}#sign")
    return render(request, "screening/screening_detail.html", _detail_context(request, screening, decision_form=form))


@requires("screening.sign_screening")
@require_POST
def screening_reopen(request, public_id):
    done = "Reopened as a draft: correct the answers, then complete it again."
    return _back_to_editing(request, public_id, services.screening_reopen, done)


@requires("screening.sign_screening")
@require_POST
def screening_sign(request, public_id):
    screening = _load(public_id)
    if screening.is_signed:
        return _signed_meanwhile(request, screening)
    form = SignForm(request.POST, flags=screening.flags)
    if form.is_valid() and (refusal := confirm_password(request, form.cleaned_data["password"], during="signature")):
        form.add_error("password", refusal)
    elif form.is_valid():
        try:
            services.screening_sign(
                screening=screening, actor=request.user, context=request.audit, **form.acknowledgements
            )
        except services.ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Screening signed. It is now read-only; corrections are amendments.")
            return redirect("screening_detail", public_id=public_id)
    return render(request, "screening/screening_detail.html", _detail_context(request, screening, sign_form=form))


@requires("screening.sign_screening")
@require_POST
def screening_amend(request, public_id):
    """Start an amendment of a signed screening, for the reason given; a refusal is shown on the record."""
    screening = _load(public_id)
    form = AmendForm(request.POST)
    if form.is_valid():
        try:
            draft = services.screening_amend(
                screening=screening, reason=form.cleaned_data["reason"], actor=request.user, context=request.audit
            )
        except services.ServiceError as exc:
            if exc.field not in form.fields:
                messages.error(request, exc.message)
                return redirect("screening_detail", public_id=public_id)
            form.add_error(exc.field, exc.message)
        else:
            messages.info(request, "Amendment started: correct the answers, then complete, decide and sign it.")
            return redirect("screening_edit", public_id=draft.public_id)
    return render(request, "screening/screening_detail.html", _detail_context(request, screening, amend_form=form))


def _back_to_editing(request, public_id, service, done: str):
    """Reopen or amend: the questionnaire of the draft it gives, or the refusal on the recommendation page."""
    try:
        draft = service(screening=_load(public_id), actor=request.user, context=request.audit)
    except services.ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("screening_detail", public_id=public_id)
    messages.info(request, done)
    return redirect("screening_edit", public_id=draft.public_id)


def screening_url(screening: Screening) -> str:
    return reverse("screening_detail", kwargs={"public_id": screening.public_id})
