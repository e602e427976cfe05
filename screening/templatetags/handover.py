"""The patient hand-over's part of the questionnaire page (issue 14, item 7): its button, which instruments the
person answered themselves, and the alert when their PHQ-9 item 9 needs the clinician at once."""

from django import template

from .. import selfreport
from ..views.handover import ITEM9_KEY

register = template.Library()


@register.inclusion_tag("screening/handover_panel.html", takes_context=True)
def handover_panel(context, screening):
    request = context["request"]
    item9 = screening.phq9_9
    answered_here = request.session.get(ITEM9_KEY) == str(screening.public_id)
    return {
        "screening": screening,
        "self_reported": screening.self_reported,
        "alert": selfreport.item9_needs_attention(item9) and (screening.phq9_self_reported or answered_here),
        "item9": item9,
        "item9_words": selfreport.response_label(item9),
        "item9_label": selfreport.BY_KEY["phq9"].items[-1].label,
        "instruments": " and ".join(i.short for i in selfreport.INSTRUMENTS),
    }
