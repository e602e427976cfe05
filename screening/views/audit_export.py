"""The auditor's audit-log export (issue 12): the trail, filtered, as CSV or JSON Lines with its hashes and
signed checkpoints. The filters, the client's record number among them, are POSTed: never in an address."""

from __future__ import annotations

import logging

from django import forms
from django.db import DatabaseError
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .. import anchors
from ..exports import audit_log
from ..forms import DateRangeMixin, DayField
from ..models import AuditEvent
from ..selectors import client_by_record_number
from . import requires

logger = logging.getLogger(__name__)

# The auditor's permissions: the trail (view_auditevent) and exports (export_records); an admin sees the trail only.
PERMS = ("screening.view_auditevent", "screening.export_records")
NOT_RECORDED = "The export could not be recorded in the audit trail, so nothing was exported. Try again later."


class AuditExportForm(DateRangeMixin, forms.Form):
    range_fields = ("since", "until")

    format = forms.ChoiceField(
        label="Format", choices=list(audit_log.FORMATS.items()), initial="jsonl", widget=forms.RadioSelect
    )
    since = DayField(label="From", required=False, any_day=True, help_text="First day included; empty: the start.")
    until = DayField(label="To", required=False, any_day=True, help_text="Last day included; empty: today.")
    actor = forms.CharField(label="Who (username)", required=False, max_length=150)
    action = forms.ChoiceField(label="Action", required=False, choices=[("", "Any action"), *AuditEvent.Action.choices])
    record_number = forms.CharField(
        label="Client record number",
        required=False,
        max_length=32,
        help_text="Events about this client and its screenings.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def clean_record_number(self):
        number = self.cleaned_data["record_number"].strip()
        self.client = None
        if number:
            self.client = client_by_record_number(number)
            if self.client is None:
                raise forms.ValidationError("No client has this record number.")
        return number

    def filters(self) -> audit_log.AuditExportFilters:
        data = self.cleaned_data
        return audit_log.AuditExportFilters(
            since=data["since"],
            until=data["until"],
            actor=data["actor"].strip(),
            action=data["action"],
            client=self.client,
        )


def _page(request, form, status: int):
    context = {"form": form, "public_key": anchors.public_key_b64()}
    return render(request, "screening/audit_export.html", context, status=status)


@requires(PERMS)
@never_cache
@require_http_methods(["GET", "POST"])
def audit_export(request):
    if request.method == "GET":
        return _page(request, AuditExportForm(initial={"format": "jsonl"}), 200)
    form = AuditExportForm(request.POST)
    if not form.is_valid():
        return _page(request, form, 400)
    export = audit_log.AuditLogExport(
        fmt=form.cleaned_data["format"], filters=form.filters(), actor=request.user, context=request.audit
    )
    try:
        export.start()  # the started event is committed before any byte is made
    except DatabaseError:
        logger.exception(
            "audit-log export %s: its audit event could not be written; nothing was sent", export.export_id
        )
        form.add_error(None, NOT_RECORDED)
        return _page(request, form, 503)
    response = StreamingHttpResponse(export.stream(), content_type=audit_log.CONTENT_TYPES[export.fmt])
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response
