"""The history page's filters (issue 4). Every filter lives in the query string, so a view of the
history can be bookmarked and shared: the values there are codes, dates and usernames of staff.
The client search (`q`) is the exception: a name or record number is PHI, so the page sends it by
POST and it never appears in a URL or an access log."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from . import rules
from .models import FLAG_FIELDS, Level, Screening
from .permissions import CLINICIAN

FLAG_CHOICES = [(code, code.replace("_", " ").capitalize()) for code in FLAG_FIELDS]
VERSION_CHOICES = [(v, v) for v in rules.RULE_SETS]
YES_NO = [("yes", "Yes"), ("no", "No")]


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of a day in the program's time zone, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


def clinician_choices(request=None):
    return get_user_model().objects.filter(groups__name=CLINICIAN).order_by("username")


class HistoryFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(label="From (date started)", method="filter_from", widget=DateInput)
    date_to = django_filters.DateFilter(label="To (inclusive)", method="filter_to", widget=DateInput)
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
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # One plain query for the clinician choices (a model choice field would stream them through a
        # server-side cursor on PostgreSQL).
        usernames = list(clinician_choices().values_list("username", flat=True))
        self.filters["clinician"].extra["choices"] = [(u, u) for u in usernames]
        self.form.fields["date_to"].help_text = ""
        for name in ("date_from", "date_to"):
            self.form.fields[name].error_messages["invalid"] = "Enter a date as YYYY-MM-DD."

    def is_valid(self) -> bool:
        valid = super().is_valid()
        data = self.form.cleaned_data if valid else {}
        for name in ("date_from", "date_to"):
            if valid and data.get(name) and not _plausible(data[name]):
                self.form.add_error(name, PLAUSIBLE_MESSAGE)
                return False
        if valid and data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.form.add_error("date_to", "The end date is before the start date.")
            return False
        return valid

    def filter_from(self, queryset, name, value):
        return queryset.filter(created_at__gte=day_start(value))

    def filter_to(self, queryset, name, value):
        return queryset.filter(created_at__lt=day_start(value + dt.timedelta(days=1)))

    def filter_overridden(self, queryset, name, value):
        decision = Screening.Decision.OVERRIDDEN if value == "yes" else Screening.Decision.ACCEPTED
        return queryset.filter(decision=decision)

    def filter_flag(self, queryset, name, value):
        return queryset.filter(**{FLAG_FIELDS[value]: True})

    def filter_search(self, queryset, name, value):
        words = value.split()
        if not words:
            return queryset
        # One word may be a record number (exact, case-insensitive) or part of a name; several words
        # must each match the given or the family name.
        cond = Q()
        for word in words:
            cond &= Q(client__given_name__icontains=word) | Q(client__family_name__icontains=word)
        if len(words) == 1:
            cond |= Q(client__record_number__iexact=words[0])
        return queryset.filter(cond)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("sort"):
            queryset = queryset.order_by("-created_at", "-id")
        else:
            # A unique last key keeps page boundaries stable between requests.
            queryset = queryset.order_by(*queryset.query.order_by, "-id")
        return queryset


EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
PLAUSIBLE_MESSAGE = f"Enter a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}."


def _plausible(day: dt.date) -> bool:
    # Far-off dates are typing mistakes, and the day after 9999-12-31 cannot even be computed.
    return EARLIEST <= day <= LATEST


class DateRangeForm(forms.Form):
    """A date range in the query string (dashboard, replay); both ends inclusive."""

    start = forms.DateField(label="From", widget=DateInput, error_messages={"invalid": "Enter a date as YYYY-MM-DD."})
    end = forms.DateField(
        label="To (inclusive)", widget=DateInput, error_messages={"invalid": "Enter a date as YYYY-MM-DD."}
    )

    max_days = 3660

    def clean(self):
        data = super().clean()
        for name in ("start", "end"):
            if data.get(name) and not _plausible(data[name]):
                self.add_error(name, PLAUSIBLE_MESSAGE)
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The end date is before the start date.")
            elif (end - start).days >= self.max_days:
                self.add_error("end", f"Choose a range of at most {self.max_days} days.")
        return data

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start of the first day, start of the day after the last) as aware datetimes."""
        return day_start(self.cleaned_data["start"]), day_start(self.cleaned_data["end"] + dt.timedelta(days=1))


class ReplayForm(DateRangeForm):
    version = forms.ChoiceField(
        label="Rule set version",
        choices=[(v, f"{v} — {rs.description}") for v, rs in rules.RULE_SETS.items()],
        initial=rules.RULES_VERSION,
    )
