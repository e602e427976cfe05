"""Auditor pages (issue 5): exports, the FHIR Questionnaire, the audit trail and the accounting of disclosures."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import anchors, audit, dictionary, exports, fhir, selectors
from ..forms import AuditFilterForm, DisclosureLookupForm, ExportForm
from ..models import AuditAnchor, AuditEvent, Client
from . import record_view, requires

logger = logging.getLogger(__name__)

AUDITOR_PERMS = ("screening.view_auditevent", "screening.verify_audit")
EVENTS_PER_PAGE = 50
NOT_RECORDED = "The export could not be recorded in the audit trail, so nothing was exported. Try again later."


@requires("screening.export_records")
@never_cache
@require_http_methods(["GET", "POST"])
def export(request):
    if request.method == "POST":
        form = ExportForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            runner = exports.ExportRunner(
                fmt=data["format"],
                deidentified=data["deidentified"],
                filters=exports.ExportFilters(since=data["since"], until=data["until"]),
                actor=request.user,
                context=request.audit,
            )
            try:
                runner.start()  # the started event is committed before any byte is made
            except DatabaseError:
                logger.exception("export %s: its audit event could not be written; nothing was sent", runner.export_id)
                form.add_error(None, NOT_RECORDED)
                # The database may be what failed: not read again here.
                return render(request, "screening/export_form.html", {"form": form, "recent": []}, status=503)
            response = StreamingHttpResponse(runner.stream(), content_type=exports.CONTENT_TYPES[data["format"]])
            response["Content-Disposition"] = f'attachment; filename="{runner.filename}"'
            response["Cache-Control"] = "no-store"
            return response
        status = 400
    else:
        today = timezone.localdate()
        form = ExportForm(
            initial={"since": today - dt.timedelta(days=30), "until": today, "format": "csv", "deidentified": "yes"}
        )
        status = 200
    recent = selectors.recent_exports()
    return render(request, "screening/export_form.html", {"form": form, "recent": recent}, status=status)


@requires("screening.export_records")
@require_GET
def fhir_questionnaire(request):
    body = json.dumps(fhir.questionnaire(), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/fhir+json")
    response["Content-Disposition"] = f'attachment; filename="questionnaire-{fhir.QUESTIONNAIRE_ID}.json"'
    return response


@requires("screening.export_records")
@require_GET
def data_dictionary(request):
    """Every exported column: the page, or the file (?format=csv|json) to keep beside an export."""
    fmt = request.GET.get("format")
    if fmt in dictionary.FORMATS:
        text = dictionary.as_csv() if fmt == "csv" else dictionary.as_json()
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        response = HttpResponse(text, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="iop-screening-data-dictionary.{fmt}"'
        return response
    return render(request, "screening/data_dictionary.html", {"entries": dictionary.entries()})


def _client_disclosures_url(event: AuditEvent) -> str:
    if event.object_type != "client":
        return ""
    try:
        return reverse("audit_client_disclosures", args=[uuid.UUID(event.object_id)])
    except ValueError:
        return ""


@requires(AUDITOR_PERMS)
@require_GET
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    if not form.is_bound:
        events = selectors.audit_events()
    elif form.is_valid():
        filters = {name: form.cleaned_data[name] for name in ("actor", "action", "object_type", "object_id")}
        events = selectors.audit_events(**filters, dates=form.date_range())
    else:
        # Never show unfiltered events under filters the auditor believes applied.
        events = AuditEvent.objects.none()
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.disclosures_url = _client_disclosures_url(event)
    context = {
        "form": form,
        "page": page,
        "verification": audit.last_verification(),
        "latest_checkpoint": AuditAnchor.objects.order_by("-id").first(),
        "public_key": anchors.public_key_b64(),
        "key_id": anchors.public_key_id(),
    }
    return render(request, "screening/audit_log.html", context)


def _checked_from(result: audit.Verification) -> str:
    if result.checkpoint is None:
        return "the whole chain, as no signed checkpoint is stored yet"
    c = result.checkpoint
    return f"after the checkpoint of {c['length']:,} events up to #{c['event']} signed {c['at']}"


@requires(AUDITOR_PERMS)
@require_POST
def audit_verify(request):
    """Verify now: from the latest signed checkpoint, so the request stays short however long the chain."""
    result = audit.verify_from_checkpoint_and_record(actor=request.user, context=request.audit)
    if result.ok:
        messages.success(
            request, f"The audit trail is intact: {result.checked:,} events checked ({_checked_from(result)})."
        )
    else:
        messages.error(
            request,
            f"The audit trail is broken at event #{result.first_broken_id}: {result.problem} "
            f"({result.checked:,} events checked, {_checked_from(result)}).",
        )
    if result.checkpoint and result.checkpoint["passed_over"]:
        messages.warning(
            request,
            f"{result.checkpoint['passed_over']:,} newer stored checkpoint(s) did not verify with a known key and "
            "were passed over: run manage.py verify_audit --anchor FILE.",
        )
    return redirect("audit_log")


@requires(AUDITOR_PERMS)
@require_http_methods(["GET", "POST"])
def audit_disclosures(request):
    """Find a client by record number (in the POST body, never the URL) for the accounting of disclosures."""
    form = DisclosureLookupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return redirect("audit_client_disclosures", public_id=form.client.public_id)
    return render(request, "screening/audit_disclosures.html", {"form": form}, status=400 if form.is_bound else 200)


@requires(AUDITOR_PERMS)
@require_GET
def audit_client_disclosures(request, public_id):
    client = get_object_or_404(Client, public_id=public_id)
    runs = selectors.exports_disclosing(client)
    record_view(request, obj=client, details={"page": "accounting_of_disclosures"})
    return render(request, "screening/audit_client_disclosures.html", {"client": client, "runs": runs})
