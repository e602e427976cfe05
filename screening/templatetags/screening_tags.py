from django import template

from ..notices import REDISCLOSURE_NOTICE

register = template.Library()


@register.simple_tag
def redisclosure_notice() -> str:
    return REDISCLOSURE_NOTICE


@register.filter
def humanize_code(value: str | None) -> str:
    """'moderately_severe' -> 'moderately severe'."""
    return "" if value is None else str(value).replace("_", " ")


STEP_LABELS = {
    "medically_supervised_detox": "Medically supervised detox",
    "inpatient": "Inpatient",
    "residential": "Residential",
    "iop": "IOP",
}


@register.filter
def step_label(value: str) -> str:
    return STEP_LABELS.get(value, humanize_code(value))
