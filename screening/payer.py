"""The payer's side of a screening (issue 14, items 8 and 9).

- The level crosswalk: the program's payer codes beside the three levels (ASAM "2.1", a payer's own code…), edited
  by admins, empty by default (DESIGN.md §10). A signature freezes the code in force for the final level
  (`Screening.payer_level_code`, set by `services.screening_sign`), so a later edit leaves signed records alone.
- The level-of-care determination summary of a signed screening, a PDF for a payer. Sending it is a disclosure
  (DESIGN.md §8): the clinician names the recipient and confirms the person's consent, and it is recorded as the
  exports are (docs/exports.md) — an `ExportRun` of format `pdf`, the client in the accounting of disclosures, and
  two audit events (started, then completed with the PDF's size and SHA-256), committed before a byte leaves.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import anchors, audit, pdf
from .models import AuditEvent, ExportDisclosure, ExportRun, Level, LevelCrosswalk, Screening
from .services import ServiceError

logger = logging.getLogger(__name__)

Context = audit.AuditContext | None

# --- The level crosswalk.

CODE_MAX_LENGTH = 20
# Letters, digits and the punctuation payers' codes use ("3.7-WM", "H0015", "ASAM 2.1"), starting with a letter or a
# digit: nothing that a spreadsheet or a PDF viewer could read as anything but text.
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-/:]*")
CODE_PROBLEM = "Use letters, digits, spaces and . - / : only, starting with a letter or a digit."


def code_problem(code: str) -> str | None:
    """Why a crosswalk code cannot be kept, or None ("" is no code: the level's row is removed)."""
    if not code:
        return None
    if len(code) > CODE_MAX_LENGTH:
        return f"At most {CODE_MAX_LENGTH} characters."
    return None if _CODE.fullmatch(code) else CODE_PROBLEM


def crosswalk() -> dict[str, str]:
    """The code of each level that has one, by level value."""
    return dict(LevelCrosswalk.objects.values_list("level", "code"))


@transaction.atomic
def crosswalk_update(*, codes: dict[str, str], actor, context: Context = None) -> dict[str, dict[str, str]]:
    """Set each level's payer code ("" removes it). One audit event names every change, old and new; nothing
    changed, no event. Signed screenings keep the code frozen at their signature. Returns the changes by level."""
    rows = {row.level: row for row in LevelCrosswalk.objects.select_for_update()}
    changes: dict[str, dict[str, str]] = {}
    for level in Level.values:
        new = " ".join(codes.get(level, "").split())
        if problem := code_problem(new):
            raise ServiceError(problem, field=level)
        row = rows.get(level)
        old = row.code if row else ""
        if new == old:
            continue
        if not new:
            row.delete()
        elif row is None:
            LevelCrosswalk.objects.create(level=level, code=new, updated_by=actor)
        else:
            row.code, row.updated_by, row.updated_at = new, actor, timezone.now()
            row.save()
        changes[level] = {"old": old, "new": new}
    if changes:
        audit.record(
            action=AuditEvent.Action.CHANGE,
            actor=actor,
            context=context,
            object_type="crosswalk",
            object_id="levels",
            details={"changes": changes},
        )
    return changes


# --- The summary for a payer.

PDF_FORMAT = "pdf"
RECIPIENT_MAX_LENGTH = 200
RECIPIENT_NEEDED = "Name the recipient: the payer this summary is sent to."
CONSENT_NEEDED = "Confirm that the person consented to this disclosure to this recipient."
NOT_SIGNED = "Only a signed screening can be sent to a payer: decide and sign it first."
SUPERSEDED = "This version was corrected by a signed amendment: send the amendment, which is the current record."


def disclosure_refusal(screening: Screening, amendments: list[Screening]) -> str | None:
    """Why this screening's summary cannot go to a payer (given its amendments), or None when it can."""
    if not screening.is_signed:
        return NOT_SIGNED
    if any(a.is_signed for a in amendments):
        return SUPERSEDED
    return None


@dataclass(frozen=True)
class PayerSummary:
    """A summary made for a payer, already recorded as disclosed: the PDF and its file name (no PHI in it)."""

    content: bytes
    filename: str
    disclosure: ExportRun


def payer_summary_disclose(
    *, screening: Screening, recipient: str, consent: bool, actor, context: Context = None
) -> PayerSummary:
    """Make the level-of-care determination summary of a signed, current screening for `recipient` and record the
    disclosure (who, to whom, with the person's consent, which screening, the PDF's SHA-256) before it is handed
    on. Refusals are ServiceErrors at their field."""
    recipient = " ".join(recipient.split())
    if not recipient:
        raise ServiceError(RECIPIENT_NEEDED, field="recipient")
    if len(recipient) > RECIPIENT_MAX_LENGTH:
        raise ServiceError(f"At most {RECIPIENT_MAX_LENGTH} characters.", field="recipient")
    if not consent:
        raise ServiceError(CONSENT_NEEDED, field="consent")
    screening = Screening.objects.select_related("client", "signed_by", "decided_by").get(pk=screening.pk)
    if refusal := disclosure_refusal(screening, list(screening.amendments.all())):
        raise ServiceError(refusal)
    disclosure_id, now = uuid.uuid4(), timezone.now()
    content = pdf.payer_summary(
        screening, recipient=recipient, disclosed_at=now, disclosed_by=actor, disclosure_id=disclosure_id
    )
    details: dict[str, Any] = {
        "export_id": str(disclosure_id),
        "format": PDF_FORMAT,
        "deidentified": False,
        "via": "payer_summary",
        "screening": str(screening.public_id),
        "recipient": recipient,
        "consent": True,
        "payer_level_code": screening.payer_level_code,
    }
    # Committed here, never a savepoint of a caller's transaction: the PDF leaves only once this is on record.
    with transaction.atomic(durable=True):
        run = ExportRun.objects.create(
            public_id=disclosure_id,
            started_at=now,
            actor=actor,
            actor_username=actor.get_username(),
            format=PDF_FORMAT,
            deidentified=False,
        )
        record = {"action": AuditEvent.Action.EXPORT, "actor": actor, "context": context, "object_type": "export"}
        started = audit.record(**record, obj=run, details={**details, "phase": "started"})
        ExportDisclosure.objects.create(export=run, client_id=screening.client_id)
        sha256 = hashlib.sha256(content).hexdigest()
        end = {"phase": "completed", "outcome": "completed", "started_event": started.pk, "rows": 1}
        event = audit.record(**record, obj=run, details={**details, **end, "bytes": len(content), "sha256": sha256})
        ExportRun.objects.filter(pk=run.pk).update(started_event=started, event=event)
    try:  # a checkpoint after every disclosure, as after every export (DESIGN.md §7), never in its way
        anchors.checkpoint()
    except Exception:
        logger.exception("payer summary %s: no checkpoint of the audit chain was made after it", disclosure_id)
    filename = f"level-of-care-summary-{now:%Y%m%d}-{str(disclosure_id)[:8]}.pdf"
    return PayerSummary(content=content, filename=filename, disclosure=run)
