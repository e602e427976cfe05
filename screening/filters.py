"""The history page's filters (issue 4). Every filter lives in the query string, so a view of the
history can be bookmarked and shared: the values there are codes, dates and usernames of staff.
The client search (`q`) is the exception: a name or record number is PHI, so the page sends it by
POST and it never appears in a URL or an access log."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Case, IntegerField, Value, When

from . import rules
from .forms import YES_NO, DayField, HistoryFilterForm
from .models import FLAG_FIELDS, FLAG_LABELS, Level, Screening
from .permissions import CLINICIAN
from .selectors import DateRange, client_match


class DayFilter(django_filters.DateFilter):
    field_class = DayField


def by_intensity(field: str) -> Case:
    """A level column as its rank in intensity of care (IOP < residential < inpatient, `rules.Level.rank`), so
    that a sort by level follows the care, not the alphabet ("Inpatient, IOP, Residential")."""
    ranks = [When(**{field: level.value}, then=Value(level.rank)) for level in rules.Level]
    return Case(*ranks, default=Value(-1), output_field=IntegerField())


class HistoryOrdering(django_filters.OrderingFilter):
    LEVEL_FIELDS = ("recommended_level", "final_level")

    def get_ordering_value(self, param):
        value = super().get_ordering_value(param)
        name = value.lstrip("-")
        if name not in self.LEVEL_FIELDS:
            return value
        return by_intensity(name).desc() if value.startswith("-") else by_intensity(name).asc()


def _any_or(label: str, **kwargs) -> django_filters.ChoiceFilter:
    """A choice filter whose empty choice, "Any", leaves it out."""
    return django_filters.ChoiceFilter(label=label, empty_label="Any", **kwargs)


class HistoryFilter(django_filters.FilterSet):
    date_from = DayFilter(label="From (date started)", method="filter_from")
    date_to = DayFilter(label="To (inclusive)", method="filter_to")
    recommended = _any_or("Recommended level", field_name="recommended_level", choices=Level.choices)
    final = _any_or("Final level", field_name="final_level", choices=Level.choices)
    clinician = _any_or("Clinician", field_name="clinician__username", choices=[])
    overridden = _any_or("Overridden", choices=YES_NO, method="filter_overridden")
    reason = _any_or("Override reason", field_name="override_reason", choices=Screening.OverrideReason.choices)
    flag = _any_or("Flag", choices=list(FLAG_LABELS.items()), method="filter_flag")
    version = _any_or("Rules version", field_name="rules_version", choices=[(v, v) for v in rules.RULE_SETS])
    q = django_filters.CharFilter(label="Client name or record number", method="filter_search", max_length=100)
    sort = HistoryOrdering(
        label="Sort by",
        fields=(
            ("created_at", "date"),
            ("signed_at", "signed"),
            ("recommended_level", "recommended"),
            ("final_level", "final"),
        ),
        # django-filter looks an ascending label up by field name and a descending one by "-" + parameter.
        field_labels={
            "created_at": "Date started (oldest first)",
            "-date": "Date started (newest first)",
            "signed_at": "Signed (oldest first)",
            "-signed": "Signed (newest first)",
            "recommended_level": "Recommended level (IOP → Residential → Inpatient)",
            "-recommended": "Recommended level (Inpatient → Residential → IOP)",
            "final_level": "Final level (IOP → Residential → Inpatient)",
            "-final": "Final level (Inpatient → Residential → IOP)",
        },
        empty_label="Date started (newest first)",
    )

    class Meta:
        model = Screening
        form = HistoryFilterForm  # the date range check
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One plain query for the clinician choices (a model choice field would stream them through a
        # server-side cursor on PostgreSQL).
        clinicians = get_user_model().objects.filter(groups__name=CLINICIAN).order_by("username")
        self.filters["clinician"].extra["choices"] = [(u, u) for u in clinicians.values_list("username", flat=True)]
        self.form.fields["date_to"].help_text = ""

    def filter_from(self, queryset, name, value):
        return queryset.created_in(DateRange(start=value))

    def filter_to(self, queryset, name, value):
        return queryset.created_in(DateRange(end=value))

    def filter_overridden(self, queryset, name, value):
        decision = Screening.Decision.OVERRIDDEN if value == "yes" else Screening.Decision.ACCEPTED
        return queryset.filter(decision=decision)

    def filter_flag(self, queryset, name, value):
        return queryset.filter(**{FLAG_FIELDS[value]: True})

    def filter_search(self, queryset, name, value):
        # The same search as the client list's (selectors.client_match).
        return queryset.filter(client_match(value, via="client__")) if value.strip() else queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("sort"):
            return queryset.order_by("-created_at", "-id")
        # A unique last key keeps page boundaries stable between requests.
        return queryset.order_by(*queryset.query.order_by, "-id")


class OverrideNoteFilter(django_filters.FilterSet):
    """The dashboard's "recent override notes" filters, in the query string beside the date range. The clinicians
    offered are those with decisions in the range (`Dashboard.clinician_ids`), so the choices cost no query."""

    reason = _any_or("Override reason", field_name="override_reason", choices=Screening.OverrideReason.choices)
    clinician = _any_or("Clinician", choices=[], method="filter_clinician")

    class Meta:
        model = Screening
        fields: list[str] = []

    def __init__(self, *args, clinician_ids: dict[str, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.clinician_ids = clinician_ids
        self.filters["clinician"].extra["choices"] = [(u, u) for u in sorted(clinician_ids)]

    def filter_clinician(self, queryset, name, value):
        return queryset.filter(clinician_id=self.clinician_ids[value])
