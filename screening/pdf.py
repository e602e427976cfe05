"""The level-of-care determination summary as a PDF, made on the server with WeasyPrint from a template
(templates/pdf/payer_summary.html) and a print stylesheet (static/css/pdf.css). Only renders: the disclosure is
recorded by `payer.payer_summary_disclose`, the one caller."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

from .models import Level, Screening
from .notices import REDISCLOSURE_NOTICE

# WeasyPrint logs each step of every document at INFO: noise in the request logs, never needed there.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

TITLE = "Level-of-care determination summary"
STYLESHEET = "css/pdf.css"


def _no_fetch(url: str, *args, **kwargs):
    # Everything the summary shows is in its HTML and stylesheet: the renderer reaches for no file or address.
    raise ValueError(f"the payer summary loads nothing from outside ({url!r} refused)")


def _stylesheet():
    from weasyprint import CSS

    path = finders.find(STYLESHEET) or str(Path(settings.STATIC_ROOT) / STYLESHEET)
    return CSS(filename=path, url_fetcher=_no_fetch)


def summary_context(
    screening: Screening, *, recipient: str, disclosed_at: dt.datetime, disclosed_by, disclosure_id: uuid.UUID
) -> dict:
    """What the summary shows: the recommendation, the six-domain summary, the decision, the signature, the
    disclosure and the 42 CFR Part 2 notice."""
    rec = screening.recommendation or {}
    signer = screening.signed_by
    return {
        "title": TITLE,
        "screening": screening,
        "client": screening.client,
        "recommended": Level(screening.recommended_level).label,
        "final": Level(screening.final_level).label,
        "pathway": rec.get("pathway", []),
        "reasons": rec.get("reasons", []),
        "flags": screening.flag_explanations(),
        "domains": screening.domain_rows(),
        "signer": (signer.get_full_name() or signer.get_username()) if signer else "",
        "signer_username": signer.get_username() if signer else "",
        "recipient": recipient,
        "disclosed_at": disclosed_at,
        "disclosed_by": disclosed_by.get_full_name() or disclosed_by.get_username(),
        "disclosure_id": disclosure_id,
        "notice": REDISCLOSURE_NOTICE,
    }


def payer_summary(screening: Screening, **disclosure) -> bytes:
    """The summary of a signed screening as PDF bytes (`disclosure`: recipient, disclosed_at, disclosed_by,
    disclosure_id, printed on every page's foot)."""
    # Imported here: WeasyPrint takes most of a second to import, which no other page or command should pay.
    from weasyprint import HTML

    html = render_to_string("pdf/payer_summary.html", summary_context(screening, **disclosure))
    document = HTML(string=html, url_fetcher=_no_fetch)
    return document.write_pdf(stylesheets=[_stylesheet()])
