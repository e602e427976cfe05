"""Auditor pages (issue 5): exports, the FHIR Questionnaire, the audit trail and the accounting of disclosures.

Views only do HTTP; the writing happens in `screening.exports` and `screening.audit`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import audit, exports, fhir
from ..models import AuditEvent, Client, ExportRun

AUDITOR_PERMS = ("screening.view_auditevent", "screening.verify_audit")
EVENTS_PER_PAGE = 50


class DateRangeMixin:
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date must be on or after the start date.")
        return data


class ExportForm(DateRangeMixin, forms.Form):
    since = forms.DateField(
        label="From (screening date)", widget=forms.DateInput(attrs={"type": "date"}), help_text="First day included."
    )
    until = forms.DateField(
        label="To (screening date)", widget=forms.DateInput(attrs={"type": "date"}), help_text="Last day included."
    )
    format = forms.ChoiceField(label="Format", choices=list(exports.FORMATS.items()), widget=forms.RadioSelect)
    deidentified = forms.TypedChoiceField(
        label="Identifiers",
        choices=[("yes", "De-identified (HIPAA Safe Harbor)"), ("no", "Identified (names, record numbers, dates)")],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )


class AuditFilterForm(DateRangeMixin, forms.Form):
    actor = forms.CharField(label="Who (username)", required=False, max_length=150)
    action = forms.ChoiceField(label="Action", required=False, choices=[("", "Any action"), *AuditEvent.Action.choices])
    object_type = forms.CharField(
        label="Object type", required=False, max_length=40, help_text="For example client, screening, export."
    )
    object_id = forms.CharField(label="Object id", required=False, max_length=64)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))


class DisclosureLookupForm(forms.Form):
    record_number = forms.CharField(label="Client record number", max_length=32)

    def clean_record_number(self):
        number = self.cleaned_data["record_number"].strip()
        client = Client.objects.filter(record_number=number).first()
        if client is None:
            raise forms.ValidationError("No client has this record number.")
        self.client = client
        return number


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


@login_required
@permission_required("screening.export_records", raise_exception=True)
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
                request=request,
            )
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
    recent = ExportRun.objects.select_related("event").order_by("-started_at", "-id")[:10]
    return render(request, "screening/export_form.html", {"form": form, "recent": recent}, status=status)


@login_required
@permission_required("screening.export_records", raise_exception=True)
@require_GET
def fhir_questionnaire(request):
    response = HttpResponse(
        json.dumps(fhir.questionnaire(), indent=2, ensure_ascii=False), content_type="application/fhir+json"
    )
    response["Content-Disposition"] = f'attachment; filename="questionnaire-{fhir.QUESTIONNAIRE_ID}.json"'
    return response


def _client_disclosures_url(event: AuditEvent) -> str:
    if event.object_type != "client":
        return ""
    try:
        return reverse("audit_client_disclosures", args=[uuid.UUID(event.object_id)])
    except ValueError:
        return ""


@login_required
@permission_required(AUDITOR_PERMS, raise_exception=True)
@require_GET
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.order_by("-id")
    if form.is_bound and not form.is_valid():
        # Never show unfiltered events under filters the auditor believes applied.
        events = events.none()
    elif form.is_bound:
        f = form.cleaned_data
        if f["actor"]:
            events = events.filter(actor_username=f["actor"])
        if f["action"]:
            events = events.filter(action=f["action"])
        if f["object_type"]:
            events = events.filter(object_type=f["object_type"])
        if f["object_id"]:
            events = events.filter(object_id=f["object_id"])
        if f["since"] and f["since"] > dt.date.min:
            events = events.filter(at__gte=_day_start(f["since"]))
        if f["until"] and f["until"] < dt.date.max:
            events = events.filter(at__lt=_day_start(f["until"] + dt.timedelta(days=1)))
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.disclosures_url = _client_disclosures_url(event)
    return render(
        request,
        "screening/audit_log.html",
        {
            "form": form,
            "page": page,
            "verification": audit.last_verification(),
        },
    )


@login_required
@permission_required(AUDITOR_PERMS, raise_exception=True)
@require_POST
def audit_verify(request):
    result = audit.verify_and_record(request=request)
    if result.ok:
        messages.success(request, f"The audit trail is intact: {result.checked} events checked.")
    else:
        messages.error(request, f"The audit trail is broken at event #{result.first_broken_id}: {result.problem}.")
    return redirect("audit_log")


@login_required
@permission_required(AUDITOR_PERMS, raise_exception=True)
@require_http_methods(["GET", "POST"])
def audit_disclosures(request):
    """Find a client by record number (in the POST body, never the URL) for the accounting of disclosures."""
    form = DisclosureLookupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return redirect("audit_client_disclosures", public_id=form.client.public_id)
    status = 400 if form.is_bound else 200
    return render(request, "screening/audit_disclosures.html", {"form": form}, status=status)


@login_required
@permission_required(AUDITOR_PERMS, raise_exception=True)
@require_GET
def audit_client_disclosures(request, public_id):
    client = get_object_or_404(Client, public_id=public_id)
    runs = ExportRun.objects.filter(disclosures__client=client).select_related("event").order_by("-started_at", "-id")
    audit.record(
        action=AuditEvent.Action.VIEW, request=request, obj=client, details={"page": "accounting_of_disclosures"}
    )
    return render(request, "screening/audit_client_disclosures.html", {"client": client, "runs": runs})
