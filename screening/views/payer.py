"""The payer pages (issue 14): a signed screening's summary sent to a payer as a PDF, recorded as a disclosure;
the level crosswalk that admins edit. Screenings are addressed by their UUID; the recipient travels in the POST body."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .. import payer, selectors, services
from ..models import Level, Screening
from ..payer_forms import CrosswalkForm, PayerSummaryForm
from . import record_view, requires

logger = logging.getLogger(__name__)

NOT_RECORDED = "The disclosure could not be recorded, so no summary was made. Try again later."


@requires("screening.sign_screening")
@never_cache
@require_http_methods(["GET", "POST"])
def payer_summary(request, public_id):
    """The form (recipient, consent), then the PDF as a download: recorded as a disclosure before it leaves."""
    screening = get_object_or_404(Screening.objects.select_related("client"), public_id=public_id)
    refusal = payer.disclosure_refusal(screening, selectors.amendments_of(screening))
    form = PayerSummaryForm(request.POST or None)
    status = 200
    if refusal:
        status = 409
    elif request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                summary = payer.payer_summary_disclose(
                    screening=screening, actor=request.user, context=request.audit, **form.cleaned_data
                )
            except services.ServiceError as exc:
                form.add_error(exc.field, exc.message)
            except DatabaseError:
                logger.exception("payer summary: its disclosure could not be recorded; nothing was sent")
                form.add_error(None, NOT_RECORDED)
                status = 503
            else:
                response = HttpResponse(summary.content, content_type="application/pdf")
                response["Content-Disposition"] = f'attachment; filename="{summary.filename}"'
                response["Cache-Control"] = "no-store"
                return response
    if status != 503:  # the page names the client; where the audit trail just failed, it is not tried again
        record_view(request, obj=screening, details={"page": "payer_summary"})
    context = {"screening": screening, "client": screening.client, "form": form, "refusal": refusal}
    return render(request, "screening/payer_summary.html", context, status=status)


@requires("screening.edit_crosswalk")
@never_cache
@require_http_methods(["GET", "POST"])
def crosswalk(request):
    """The payer code of each level (empty by default); a signature freezes the code in force."""
    current = payer.crosswalk()
    form = CrosswalkForm(request.POST or None, initial=current)
    if request.method == "POST" and form.is_valid():
        codes = {level: form.cleaned_data[level] for level in Level.values}
        try:
            changes = payer.crosswalk_update(codes=codes, actor=request.user, context=request.audit)
        except services.ServiceError as exc:
            form.add_error(exc.field, exc.message)
        else:
            n = len(changes)
            messages.success(request, f"{n} code{'s' if n != 1 else ''} changed." if n else "Nothing changed.")
            return redirect("crosswalk")
    rows = [(label, current.get(level, "")) for level, label in Level.choices]
    status = 400 if form.is_bound else 200
    return render(request, "screening/payer_crosswalk.html", {"form": form, "rows": rows}, status=status)
