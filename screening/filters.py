"""The history page's filters (issue 4). Every filter lives in the query string, so a view of the
history can be bookmarked and shared: the values there are codes, dates and usernames of staff.
The client search (`q`) is the exception: a name or record number is PHI, so the page sends it by
POST and it never appears in a URL or an access log."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model

from . import rules
from .forms import DayField, HistoryFilterForm
from .models import FLAG_FIELDS, FLAG_LABELS, Level, Screening
from .permissions import CLINICIAN
from .selectors import DateRange, client_match

FLAG_CHOICES = list(FLAG_LABELS.items())
VERSION_CHOICES = [(v, v) for v in rules.RULE_SETS]
YES_NO = [("yes", "Yes"), ("no", "No")]


class DayFilter(django_filters.DateFilter):
    field_class = DayField


def clinician_choices():
    return get_user_model().objects.filter(groups__name=CLINICIAN).order_by("username")


class HistoryFilter(django_filters.FilterSet):
    date_from = DayFilter(label="From (date started)", method="filter_from")
    date_to = DayFilter(label="To (inclusive)", method="filter_to")
    recommended = django_filters.ChoiceFilter(
        label="Recommended level", field_name="recommended_level", choices=Level.choices, empty_label="Any"
    )
    final = django_filters.ChoiceFilter(
        label="Final level", field_name="final_level", choices=Level.choices, empty_label="Any"
    )
    clinician = django_filters.ChoiceFilter(
        label="Clinician", field_name="clinician__username", choices=[], empty_label="Any"
    )
    overridden = django_filters.ChoiceFilter(
        label="Overridden", choices=YES_NO, method="filter_overridden", empty_label="Any"
    )
    reason = django_filters.ChoiceFilter(
        label="Override reason",
        field_name="override_reason",
        choices=Screening.OverrideReason.choices,
        empty_label="Any",
    )
    flag = django_filters.ChoiceFilter(label="Flag", choices=FLAG_CHOICES, method="filter_flag", empty_label="Any")
    version = django_filters.ChoiceFilter(
        label="Rules version", field_name="rules_version", choices=VERSION_CHOICES, empty_label="Any"
    )
    q = django_filters.CharFilter(label="Client name or record number", method="filter_search", max_length=100)
    sort = django_filters.OrderingFilter(
        label="Sort by",
        fields=(
            ("created_at", "date"),
            ("signed_at", "signed"),
            ("recommended_level", "recommended"),
            ("final_level", "final"),
        ),
        field_labels={
            "date": "Date started (oldest first)",
            "-date": "Date started (newest first)",
            "signed": "Signed (oldest first)",
            "-signed": "Signed (newest first)",
            "recommended": "Recommended level (A–Z)",
            "-recommended": "Recommended level (Z–A)",
            "final": "Final level (A–Z)",
            "-final": "Final level (Z–A)",
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
        usernames = list(clinician_choices().values_list("username", flat=True))
        self.filters["clinician"].extra["choices"] = [(u, u) for u in usernames]
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
            queryset = queryset.order_by("-created_at", "-id")
        else:
            # A unique last key keeps page boundaries stable between requests.
            queryset = queryset.order_by(*queryset.query.order_by, "-id")
        return queryset
