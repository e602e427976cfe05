"""Every write that touches more than one row or stores a rules outcome: keyword-only and atomic, each recording
its audit event through `audit.record`. Clinical decisions come only from `rules`; scoring only from `instruments`."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from . import answers, audit, questionnaire, rules, selfreport
from .models import (
    FLAG_FIELDS,
    AuditEvent,
    Client,
    KeptAnswers,
    Level,
    LevelCrosswalk,
    RiskSummary,
    Screening,
    SpecialtyInterest,
)

Action = AuditEvent.Action
Context = audit.AuditContext | None


class ServiceError(Exception):
    """A request the service refuses; `field` names the form field it concerns, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ScreeningConflict(ServiceError):
    """Someone else saved the draft first; `current` is their version, `changed` the fields that differ."""

    def __init__(self, current: Screening, changed: list[str]):
        super().__init__("This draft was changed by someone else while you were editing it.")
        self.current = current
        self.changed = changed


def _locked(screening: Screening, refusal: str, status: str = Screening.Status.COMPLETED) -> Screening:
    """The screening's row, locked until the transaction ends; ServiceError(refusal) unless it is in `status`."""
    locked = Screening.objects.select_for_update().get(pk=screening.pk)
    if locked.status != status:  # a form from before (Back, another tab) says plainly what happened
        raise ServiceError(SIGNED_MEANWHILE if locked.status == Screening.Status.SIGNED else refusal)
    return locked


SIGNED_MEANWHILE = "This screening was signed in the meantime: nothing was changed. Amend it to correct it."


@transaction.atomic
def client_create(*, actor, context: Context = None, **data: Any) -> Client:
    """Register a client and record who did it. A record number taken meanwhile (two "New client" at once) is
    refused at its field: the unique constraint decides, not the form's earlier check."""
    try:
        with transaction.atomic():
            client = Client.objects.create(created_by=actor, **data)
            audit.record(action=Action.CREATE, actor=actor, context=context, obj=client)
    except IntegrityError:
        if not Client.objects.filter(record_number=data.get("record_number")).exists():
            raise
        raise ServiceError("A client with this record number already exists.", field="record_number") from None
    return client


@transaction.atomic
def screening_start(*, client: Client, clinician, context: Context = None) -> Screening:
    """Open a new draft screening for a client. A client with a signed screening is reassessed: the draft starts
    with what the latest one recorded of history and circumstances (answers.carry_over), each section of it to be
    confirmed or changed; the start event names that screening, never the answers."""
    source = latest_signed(client)
    if source is None:
        screening = Screening.objects.create(client=client, clinician=clinician)
        audit.record(action=Action.CREATE, actor=clinician, context=context, obj=screening)
        return screening
    carried = answers.carry_over(source.answer_values())
    screening = Screening.objects.create(
        client=client,
        clinician=clinician,
        carried_from=source,
        carried_sections=list(carried.sections),
        none_ticked=list(carried.none_ticked),
        **carried.columns,
    )
    details = {"carried_from": str(source.public_id), "carried_sections": list(carried.sections)}
    audit.record(action=Action.CREATE, actor=clinician, context=context, obj=screening, details=details)
    return screening


def latest_signed(client: Client) -> Screening | None:
    """The client's latest signed screening, as its latest signed version if it was amended: of the signed
    screenings no signed amendment supersedes, the one whose first version was started last."""
    signed = {s.pk: s for s in Screening.objects.signed().filter(client=client).order_by("created_at", "pk")}
    superseded = {s.amends_id for s in signed.values() if s.amends_id}

    def started(s: Screening) -> tuple:
        first = s
        while first.amends_id in signed:  # an amended screening is signed: the chain is all here
            first = signed[first.amends_id]
        return (first.created_at, first.pk, s.signed_at)

    current = [s for pk, s in signed.items() if pk not in superseded]
    return max(current, key=started, default=None)


@transaction.atomic
def screening_save_draft(
    *,
    screening: Screening,
    data: dict[str, Any],
    expected_version: int,
    actor,
    context: Context = None,
    answered_by_person: frozenset[str] | None = None,
    confirmed: frozenset[str] | None = None,
    none_ticked: frozenset[str] | None = None,
) -> Screening:
    """Save answers to a draft with optimistic locking: a stale version raises ScreeningConflict.

    From a patient hand-over, `answered_by_person` names every item the person has answered in it so far: an
    instrument they answered whole is marked self-reported. A clinician's change to one of its items unmarks it.
    A reassessment's `confirmed` sections (None: as they are) are kept with the draft, with every carried section
    whose carried answers this save changes; `none_ticked` names the checklists answered "None of these"."""
    if not screening.is_draft:
        raise ServiceError("Only a draft can be edited; amend a signed screening to correct it.")
    draft = Screening(pk=screening.pk)
    for name in answers.COLUMNS:
        setattr(draft, name, data.get(name, getattr(screening, name)))
    draft.compute_totals()
    values = draft.answer_values()
    changed = [n for n in answers.COLUMNS if getattr(screening, n) != values[n]]
    marks = _self_report_marks(changed, answered_by_person)
    carry = _carry_state(screening, changed, confirmed, none_ticked)
    updated = Screening.objects.filter(pk=screening.pk, version=expected_version, status=Screening.Status.DRAFT)
    if not updated.update(version=F("version") + 1, updated_at=timezone.now(), **values, **marks, **carry):
        current = Screening.objects.get(pk=screening.pk)
        raise ScreeningConflict(current, [n for n in answers.COLUMNS if getattr(current, n) != values[n]])
    details: dict[str, Any] = {"fields": changed}
    if carry.get("confirmed_sections", screening.confirmed_sections) != screening.confirmed_sections:
        details["confirmed_sections"] = carry["confirmed_sections"]  # section keys, not answers
    if answered_by_person is not None:  # which instruments, never the answers (they are the fields' values)
        details.update(handover=True, self_reported=[i.key for i in selfreport.INSTRUMENTS if marks.get(i.field)])
    audit.record(action=Action.CHANGE, actor=actor, context=context, obj=screening, details=details)
    screening.refresh_from_db()
    return screening


def _carry_state(
    screening: Screening, changed: list[str], confirmed: frozenset[str] | None, none_ticked: frozenset[str] | None
) -> dict[str, list[str]]:
    """The reassessment fields a draft save sets: the sections confirmed (as posted, or as they were) and those a
    change to a carried answer confirms; the checklists answered "None of these" (a change there counts too)."""
    out: dict[str, list[str]] = {}
    touched = list(changed)
    if none_ticked is not None:
        ticked = sorted(none_ticked & set(NONE_OF_THESE_INPUTS))
        touched += sorted(set(ticked) ^ set(screening.none_ticked))
        out["none_ticked"] = ticked
    if screening.carried_sections:
        carried = screening.carried_sections
        kept = set(screening.confirmed_sections) if confirmed is None else set(confirmed)
        done = kept | answers.confirmed_by_change(touched, carried)
        out["confirmed_sections"] = [key for key in carried if key in done]
    return out


NONE_OF_THESE_INPUTS = tuple(i.name for i in answers.INPUTS.values() if i.kind is answers.Kind.MULTI and i.optional)


def _self_report_marks(changed: list[str], answered_by_person: frozenset[str] | None) -> dict[str, bool]:
    """The self-reported fields a draft save sets: an instrument the person answered whole is marked; one with an
    item changed here that the person did not give (the clinician's change) is not any more; the others stay as they
    are."""
    by_person = answered_by_person or frozenset()
    whole = set(selfreport.complete(by_person)) if answered_by_person is not None else set()
    marks = {}
    for i in selfreport.INSTRUMENTS:
        if i.key in whole:
            marks[i.field] = True
        elif any(item.name in changed and item.name not in by_person for item in i.items):
            marks[i.field] = False
    return marks


@transaction.atomic
def screening_complete(*, screening: Screening, actor, context: Context = None) -> Screening:
    """Validate the stored answers, run the current rules and store the recommendation."""
    screening = _locked(screening, "This screening is already completed.", status=Screening.Status.DRAFT)
    # A reassessment's carried-over sections, each confirmed (or changed) first; reported with any other error.
    unconfirmed = {
        answers.confirm_field(key): [answers.UNCONFIRMED]
        for key in answers.unconfirmed(screening.carried_sections, screening.confirmed_sections)
    }
    try:
        parsed = questionnaire.parse(screening.answers_dict())
    except questionnaire.QuestionnaireError as exc:
        raise questionnaire.QuestionnaireError({**exc.errors, **unconfirmed}) from None
    if unconfirmed:
        raise questionnaire.QuestionnaireError(unconfirmed)
    result = rules.evaluate(parsed)
    screening.assign_recommendation(result, questionnaire.to_json(parsed))
    screening.status = Screening.Status.COMPLETED
    screening.completed_at = timezone.now()
    screening.version = F("version") + 1
    screening.save()
    RiskSummary.of(screening, result).save(force_insert=True)
    flags = [str(f) for f in result.flags]
    details = {"recommended_level": result.level.value, "rules_version": result.rules_version, "flags": flags}
    audit.record(action=Action.COMPLETE, actor=actor, context=context, obj=screening, details=details)
    screening.refresh_from_db()
    return screening


@transaction.atomic
def screening_decide(
    *,
    screening: Screening,
    final_level: str,
    reason: str = "",
    reason_text: str = "",
    groups: list[str] | None = None,
    actor,
    context: Context = None,
) -> Screening:
    """Accept the recommendation or override it with a reason; never lower it past a safety flag.

    With a final level of IOP, also note the specialty groups the person is interested in (§1).
    """
    screening = _locked(screening, "Only a completed, unsigned screening can be decided.")
    recommended = rules.Level(screening.recommended_level)
    chosen = rules.Level(final_level)
    if chosen == recommended:
        decision, reason, reason_text = Screening.Decision.ACCEPTED, "", ""
    else:
        if blockers := rules.override_blockers(recommended, chosen, screening.flags):
            raise ServiceError(
                f"A level below {Level(recommended.value).label} cannot be chosen while "
                f"{' and '.join(rules.OVERRIDE_BLOCKER_TEXT[f] for f in blockers)} is indicated: "
                "that need must be met first.",
                field="final_level",
            )
        if reason not in Screening.OverrideReason.values:
            raise ServiceError("Choose the reason for choosing another level.", field="override_reason")
        if not reason_text.strip():
            raise ServiceError("Explain the reason for choosing another level.", field="override_text")
        decision = Screening.Decision.OVERRIDDEN
    screening.decision, screening.override_reason, screening.override_text = decision, reason, reason_text.strip()
    screening.final_level = chosen.value
    screening.decided_by = actor
    screening.decided_at = timezone.now()
    screening.version = F("version") + 1
    screening.save()
    chosen_groups = sorted(set(groups or ())) if rules.specialty_groups_kept(chosen) else []
    SpecialtyInterest.objects.filter(screening=screening).delete()
    SpecialtyInterest.objects.bulk_create(SpecialtyInterest(screening=screening, group=g) for g in chosen_groups)
    audit.record(
        action=Action.OVERRIDE if screening.is_overridden else Action.DECIDE,
        actor=actor,
        context=context,
        obj=screening,
        details={
            "recommended_level": recommended.value,
            "final_level": chosen.value,
            "override_reason": screening.override_reason,
            "specialty_groups": chosen_groups,
        },
    )
    screening.refresh_from_db()
    return screening


@transaction.atomic
def screening_reopen(*, screening: Screening, actor, context: Context = None) -> Screening:
    """Take a completed, unsigned screening back to a draft to correct its answers.

    The recommendation and any decision are cleared: completion computes them again.
    """
    screening = _locked(screening, "Only a completed, unsigned screening can be reopened; amend a signed one.")
    previous = screening.recommended_level
    for name in ("recommended_level", "rules_version", "final_level", "decision", "override_reason", "override_text"):
        setattr(screening, name, "")
    screening.recommendation = screening.answers_snapshot = None
    screening.decided_by = screening.decided_at = screening.completed_at = None
    for name in FLAG_FIELDS.values():
        setattr(screening, name, False)
    screening.status = Screening.Status.DRAFT
    screening.version = F("version") + 1
    screening.save()
    RiskSummary.objects.filter(screening=screening).delete()  # derived from the recommendation cleared above
    SpecialtyInterest.objects.filter(screening=screening).delete()
    details = {"reopened": True, "previous_recommendation": previous}
    audit.record(action=Action.CHANGE, actor=actor, context=context, obj=screening, details=details)
    screening.refresh_from_db()
    return screening


EMERGENCY_ACTION_NEEDED = "Record the action taken on the emergency referral before signing."
EMERGENCY_ACTION_TEXT_NEEDED = "Describe what was done about the emergency referral."
SAFETY_REVIEW_NEEDED = "Confirm the same-day risk assessment before signing."


@transaction.atomic
def screening_sign(
    *,
    screening: Screening,
    actor,
    context: Context = None,
    emergency_action: str = "",
    emergency_action_text: str = "",
    safety_review_confirmed: bool = False,
) -> Screening:
    """Sign a decided screening; it is read-only from then on. Its safety flags are acknowledged first (DESIGN.md
    §5): an emergency referral's action taken, with what was done; a safety review's same-day risk assessment,
    confirmed. The signer's password is checked by the caller first, through `authenticate()`
    (views.confirm_password), so that the lockout counts wrong ones."""
    screening = _locked(screening, "Decide the level of care before signing.")
    if not screening.decision:
        raise ServiceError("Decide the level of care before signing.")
    emergency_action_text = emergency_action_text.strip()
    if screening.flag_emergency_referral:
        if emergency_action not in Screening.EmergencyAction.values:
            raise ServiceError(EMERGENCY_ACTION_NEEDED, field="emergency_action")
        if not emergency_action_text:
            raise ServiceError(EMERGENCY_ACTION_TEXT_NEEDED, field="emergency_action_text")
    else:
        emergency_action, emergency_action_text = "", ""  # nothing to acknowledge: nothing kept
    if screening.flag_safety_review and not safety_review_confirmed:
        raise ServiceError(SAFETY_REVIEW_NEEDED, field="safety_review_confirmed")
    screening.emergency_action, screening.emergency_action_text = emergency_action, emergency_action_text
    screening.safety_review_confirmed = bool(screening.flag_safety_review and safety_review_confirmed)
    screening.status = Screening.Status.SIGNED
    screening.payer_level_code = LevelCrosswalk.objects.code_for(screening.final_level)  # frozen with the signature
    screening.signed_by = actor
    screening.signed_at = timezone.now()
    screening.version = F("version") + 1
    screening.save()
    details: dict[str, Any] = {"final_level": screening.final_level}
    if screening.flag_emergency_referral:  # the code only: what was done is free text, kept on the record
        details["emergency_action"] = screening.emergency_action
    if screening.flag_safety_review:
        details["safety_review_confirmed"] = True
    audit.record(action=Action.SIGN, actor=actor, context=context, obj=screening, details=details)
    screening.refresh_from_db()
    return screening


def amend_refusal(screening: Screening, amendments: list[Screening]) -> str | None:
    """Why this screening cannot be amended (given its amendments), or None when it can."""
    if not screening.is_signed:
        return "Only a signed screening can be amended; edit the draft instead."
    if any(a.is_signed for a in amendments):
        # The chain stays linear: only its latest signed version can be corrected.
        return "This screening was superseded by a signed amendment: amend the latest version."
    return None


AMENDMENT_REASON_NEEDED = "Give the reason for the amendment: what it corrects."


@transaction.atomic
def screening_amend(*, screening: Screening, reason: str, actor, context: Context = None) -> Screening:
    """Start a correction of a signed screening, for a reason: a new draft with its answers, linked to it."""
    reason = reason.strip()
    if not reason:
        raise ServiceError(AMENDMENT_REASON_NEEDED, field="reason")
    original = Screening.objects.select_for_update().get(pk=screening.pk)
    amendments = list(original.amendments.all())
    if refusal := amend_refusal(original, amendments):
        raise ServiceError(refusal)
    if existing := next((a for a in amendments if not a.is_signed), None):
        return existing  # one open amendment at a time, with the reason it was started for
    amendment = Screening(
        client=original.client,
        clinician=actor,
        amends=original,
        amendment_reason=reason,
        **original.answer_values(),
        **{i.field: getattr(original, i.field) for i in selfreport.INSTRUMENTS},  # the answers' source goes along
    )
    amendment.save()
    # The reason is free text, kept on the amendment itself; the event says that one was given.
    details = {"amends": str(original.public_id), "reason_given": True}
    audit.record(action=Action.AMEND, actor=actor, context=context, obj=amendment, details=details)
    return amendment


# --- Answers posted after their session ended (DESIGN.md §11): kept for that session's user, offered back to them.
KEEP_FOR = dt.timedelta(hours=24)
# With a reassessment's confirmations and the checklists' "None of these" (forms.ScreeningForm's other fields).
_KEPT_FIELDS = frozenset(
    {
        "version",
        *answers.INPUTS,
        *(answers.confirm_field(key) for key in answers.CARRIED_SECTIONS),
        *(f"{name}_none" for name in NONE_OF_THESE_INPUTS),
        selfreport.KEPT_BY_PERSON,  # kept from a patient hand-over: the items the person gave
    }
)
_KEPT = "kept_answers"


def token_hash(token: str) -> str:
    """What the server stores of a browser's kept-answers token (the cookie holds the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _questionnaire_fields(data: dict[str, list[str]]) -> dict[str, list[str]]:
    # Only the questionnaire's own fields, each a short list of short values: nothing else is worth keeping.
    return {k: [str(v)[:64] for v in values[:32]] for k, values in data.items() if k in _KEPT_FIELDS}


@transaction.atomic
def answers_keep(
    *, token: str, user, screening: Screening, data: dict[str, list[str]], context: Context = None
) -> KeptAnswers:
    """Keep the questionnaire `user` posted for a draft after their session ended, for 24 hours, for them alone
    (offered back after their next sign-in in the browser holding `token`). Audited, without the answers."""
    now = timezone.now()
    answers_expire(now=now, context=context)  # never offered once expired: tidied here too
    kept, _ = KeptAnswers.objects.update_or_create(
        token_hash=token_hash(token),
        screening=screening,
        defaults={"user": user, "data": _questionnaire_fields(data), "created_at": now, "expires_at": now + KEEP_FOR},
    )
    details = {
        "screening": str(screening.public_id),
        "reason": "session_ended",
        "expires_at": kept.expires_at.isoformat(),
    }
    audit.record(
        action=Action.CREATE, actor=user, context=context, object_type=_KEPT, object_id=str(kept.pk), details=details
    )
    return kept


@transaction.atomic
def answers_keep_again(*, token: str, screening_id: str, data: dict[str, list[str]], context: Context = None) -> bool:
    """A later post of the same questionnaire from the same browser, its session already ended: it replaces what
    that browser kept for the draft (still for the same user alone). False when nothing was kept there."""
    kept = (
        KeptAnswers.objects.select_for_update()
        .filter(token_hash=token_hash(token), screening__public_id=screening_id, expires_at__gt=timezone.now())
        .select_related("user", "screening")
        .first()
    )
    if kept is None:
        return False
    kept.data = _questionnaire_fields(data)
    kept.created_at = timezone.now()
    kept.save(update_fields=["data", "created_at"])
    # Posted without a session: no actor; the user it is kept for is named.
    details = {
        "screening": str(kept.screening.public_id),
        "reason": "posted_again_after_session_ended",
        "kept_for": kept.user.get_username(),
    }
    audit.record(
        action=Action.CHANGE,
        context=context,
        object_type=_KEPT,
        object_id=str(kept.pk),
        details=details,
    )
    return True


@transaction.atomic
def answers_discard(*, token: str, user, screening: Screening, context: Context = None) -> None:
    """The clinician declines the answers kept for them: they are deleted (audited)."""
    kept = KeptAnswers.objects.offered(token_hash=token_hash(token), user=user, screening=screening)
    if kept is None:
        return
    kept.delete()
    details = {"screening": str(screening.public_id), "discarded": True}
    audit.record(
        action=Action.CHANGE, actor=user, context=context, object_type=_KEPT, object_id=str(kept.pk), details=details
    )


@transaction.atomic
def answers_expire(*, now=None, context: Context = None) -> int:
    """Delete the kept answers past their 24 hours (`manage.py clear_kept_answers`, on a schedule); how many."""
    deleted, _ = KeptAnswers.objects.filter(expires_at__lte=now or timezone.now()).delete()
    if deleted:
        audit.record(action=Action.CHANGE, context=context, object_type=_KEPT, details={"expired": deleted})
    return deleted


def answers_used(*, token: str, user, screening: Screening) -> None:
    """Once the draft is saved by its user from this browser, what was kept there for it has served."""
    KeptAnswers.objects.filter(token_hash=token_hash(token), user=user, screening=screening).delete()


# --- Patient hand-over (issue 14, item 7): the clinician hands the device to the person, who answers PHQ-9 and
# GAD-7 themselves (screening.selfreport); the answers go into the draft through screening_save_draft. Each step is
# audited on the screening, with counts and instrument names only: the answers are the draft's own fields.
HANDOVER_NEEDS_DRAFT = "Only a draft can be handed to the person: this screening is no longer one."


@transaction.atomic
def handover_start(*, screening: Screening, actor, context: Context = None) -> None:
    """Record that the clinician handed the device to the person, to answer the self-report instruments."""
    if not Screening.objects.filter(pk=screening.pk, status=Screening.Status.DRAFT).exists():
        raise ServiceError(HANDOVER_NEEDS_DRAFT)
    details = {"handover": "handed_over", "instruments": [i.key for i in selfreport.INSTRUMENTS]}
    audit.record(action=Action.CHANGE, actor=actor, context=context, obj=screening, details=details)


@transaction.atomic
def handover_answer(
    *,
    screening: Screening,
    values: dict[str, int],
    answered: frozenset[str],
    expected_version: int,
    actor,
    context: Context = None,
) -> Screening:
    """Save the items the person has just answered (`values`, item name -> 0-3) into the draft, with optimistic
    locking (ScreeningConflict when it was saved elsewhere meanwhile); `answered` is every item they have answered
    in this hand-over, so that an instrument they answered whole is marked self-reported."""
    if set(values) - selfreport.ITEM_NAMES or not set(values) <= answered:
        raise ServiceError("Only the self-report items can be answered during a hand-over.")
    return screening_save_draft(
        screening=screening,
        data=values,
        expected_version=expected_version,
        actor=actor,
        context=context,
        answered_by_person=answered,
    )


@transaction.atomic
def handover_finish(*, screening: Screening, answered: frozenset[str], actor, context: Context = None) -> None:
    """Record that the person finished and the device is locked until the clinician's password (how many items
    they answered, and which instruments whole; not the answers)."""
    details = {
        "handover": "answered",
        "items_answered": len(answered & selfreport.ITEM_NAMES),
        "items": len(selfreport.ITEMS),
        "self_reported": list(selfreport.complete(answered)),
    }
    audit.record(action=Action.CHANGE, actor=actor, context=context, obj=screening, details=details)


@transaction.atomic
def handover_return(*, screening: Screening, actor, context: Context = None) -> None:
    """Record that the clinician took the device back, after their password (checked by the caller through
    views.confirm_password, so that wrong ones count toward the lockout and are audited there)."""
    audit.record(action=Action.CHANGE, actor=actor, context=context, obj=screening, details={"handover": "returned"})
