"""Forms collect and validate input; they never decide a clinical outcome."""

from __future__ import annotations

import datetime as dt

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Fieldset, Layout, Submit
from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from . import exports, instruments, questionnaire, rules
from .models import (
    CSSRS_QUESTIONS,
    DSM5_FIELDS,
    ITEM_GROUPS,
    SUBSTANCE_FIELDS,
    AuditEvent,
    Client,
    Level,
    Screening,
    SpecialtyGroup,
)
from .selectors import DateRange

YES_NO = [("yes", "Yes"), ("no", "No")]


class SignInForm(AuthenticationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Sign in"))


class ClientForm(forms.ModelForm):
    class Meta:
        model = Client
        fields = ["record_number", "given_name", "family_name", "date_of_birth"]
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"})}
        help_texts = {"record_number": "The program's record number, e.g. P-10234. It is never shown in a URL."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Add client"))

    def clean_record_number(self):
        value = self.cleaned_data["record_number"].strip().upper()
        if Client.objects.filter(record_number=value).exists():
            raise forms.ValidationError("A client with this record number already exists.")
        return value

    def clean_date_of_birth(self):
        dob = self.cleaned_data["date_of_birth"]
        today = dt.date.today()
        if dob > today:
            raise forms.ValidationError("The date of birth cannot be in the future.")
        if dob < dt.date(today.year - 120, 1, 1):
            raise forms.ValidationError("Check the year: that date of birth is more than 120 years ago.")
        return dob


class ClientSearchForm(forms.Form):
    q = forms.CharField(
        label="Name or record number",
        max_length=100,
        help_text="“Family, Given”, “Given Family”, or the start of a name or a record number; accents and case do not matter.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_class = "d-flex gap-2 align-items-end"
        self.helper.add_input(Submit("search", "Search", css_class="mb-3"))


def _yes_no(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda v: v == "yes",
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )


def _item(item: instruments.Item) -> forms.TypedChoiceField:
    choices = [("", "—")] + [(str(n), str(n)) for n in range(item.min_score, item.max_score + 1)]
    return forms.TypedChoiceField(
        label=f"{item.label} (0–{item.max_score})", choices=choices, coerce=int, empty_value=None, required=False
    )


BOOL_FIELDS = list(questionnaire.BOOL_FIELDS)
CSSRS_BOOL = [f"cssrs_{q}" for q in CSSRS_QUESTIONS]
# A questionnaire error (DESIGN.md name) shown on the form field the clinician answers.
ERROR_FIELD = {
    "phq9_total": "phq9_1",
    "phq9_item9": "phq9_9",
    "gad7_total": "gad7_1",
    "ciwa_ar": "ciwa_nausea",
    "cows": "cows_pulse",
    **{f"cssrs.{q}": f"cssrs_{q}" for q in (*CSSRS_QUESTIONS, "behavior")},
}
NEEDED = "Answer this to complete the screening."


class ScreeningForm(forms.Form):
    """The questionnaire of DESIGN.md §2 in its six sections; every answer optional until completion."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = questionnaire.FIELD_LABELS
        self.fields["substances"] = forms.MultipleChoiceField(
            label=labels["substances"],
            choices=[
                (code, Screening._meta.get_field(name).verbose_name.capitalize())
                for code, name in SUBSTANCE_FIELDS.items()
            ],
            widget=forms.CheckboxSelectMultiple,
            required=False,
        )
        for group in ("ciwa_ar", "cows", "phq9", "gad7"):
            for item in ITEM_GROUPS[group]:
                self.fields[item.key] = _item(item)
        self.fields["pawss"] = forms.TypedChoiceField(
            label=labels["pawss"] + " — optional",
            choices=[("", "Not assessed")] + [(str(n), str(n)) for n in range(11)],
            coerce=int,
            empty_value=None,
            required=False,
            help_text="Prediction of Alcohol Withdrawal Severity Scale, 10 yes/no items.",
        )
        for name in BOOL_FIELDS:
            self.fields[name] = _yes_no(labels[name])
        self.fields["dsm5_criteria"] = forms.MultipleChoiceField(
            label=labels["dsm5_criteria"],
            choices=list(instruments.DSM5_LABELS.items()),
            widget=forms.CheckboxSelectMultiple,
            required=False,
        )
        self.fields["mental_health_condition"] = forms.ChoiceField(
            label=labels["mental_health_condition"],
            choices=Screening.MentalHealth.choices,
            widget=forms.RadioSelect,
            required=False,
        )
        self.fields["readiness"] = forms.ChoiceField(
            label=labels["readiness"], choices=[("", "—"), *Screening.Readiness.choices], required=False
        )
        for q in CSSRS_QUESTIONS:
            self.fields[f"cssrs_{q}"] = _yes_no(questionnaire.CSSRS_LABELS[q])
        self.fields["cssrs_behavior"] = forms.ChoiceField(
            label=questionnaire.CSSRS_LABELS["behavior"],
            choices=Screening.CssrsBehavior.choices,
            widget=forms.RadioSelect,
            required=False,
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = self._layout()
        # Fields in the order the page shows them, so the error summary reads top to bottom.
        self.order_fields([pointer.name for pointer in self.helper.layout.get_field_names()])

    @staticmethod
    def _layout() -> Layout:
        def items(group: str) -> list[str]:
            return [item.key for item in ITEM_GROUPS[group]]

        def grid(*names: str) -> Div:
            return Div(*[Div(n, css_class="col-md-6 col-lg-4") for n in names], css_class="row")

        return Layout(
            "version",
            Fieldset(
                "1. Substances and withdrawal",
                "substances",
                Div(
                    HTML('<h3 class="h6 mt-2">CIWA-Ar (alcohol withdrawal)</h3>'),
                    grid(*items("ciwa_ar")),
                    "pawss",
                    css_id="ciwa-section",
                    data_show_when="alcohol",
                ),
                Div(
                    HTML('<h3 class="h6 mt-2">COWS (opioid withdrawal)</h3>'),
                    grid(*items("cows")),
                    css_id="cows-section",
                    data_show_when="opioids",
                ),
                Div(InlineRadios("daily_sedative_use"), css_id="sedatives-section", data_show_when="sedatives"),
                InlineRadios("withdrawal_seizure_or_dt_history"),
                InlineRadios("complicated_withdrawal_now"),
                css_class="questionnaire-section",
                css_id="section-substances",
            ),
            Fieldset(
                "2. Medical",
                InlineRadios("unstable_medical_condition"),
                InlineRadios("pregnant"),
                css_class="questionnaire-section",
                css_id="section-medical",
            ),
            Fieldset(
                "3. Addiction severity (DSM-5)",
                "dsm5_criteria",
                css_class="questionnaire-section",
                css_id="section-severity",
            ),
            Fieldset(
                "4. Mental health and safety",
                HTML('<h3 class="h6">PHQ-9 (over the last 2 weeks: 0 not at all … 3 nearly every day)</h3>'),
                grid(*items("phq9")),
                HTML('<h3 class="h6">GAD-7 (over the last 2 weeks)</h3>'),
                grid(*items("gad7")),
                "mental_health_condition",
                InlineRadios("psychotic_symptoms"),
                HTML('<h3 class="h6">C-SSRS screener</h3>'),
                InlineRadios("cssrs_wish_dead"),
                InlineRadios("cssrs_suicidal_thoughts"),
                Div(
                    InlineRadios("cssrs_method"),
                    InlineRadios("cssrs_intent"),
                    InlineRadios("cssrs_plan"),
                    css_id="cssrs-followup",
                    data_show_when_yes="cssrs_suicidal_thoughts",
                ),
                "cssrs_behavior",
                InlineRadios("homicidal_ideation"),
                css_class="questionnaire-section",
                css_id="section-mental-health",
            ),
            Fieldset(
                "5. Readiness and history",
                "readiness",
                InlineRadios("relapse_after_outpatient_12mo"),
                InlineRadios("recent_higher_level_care"),
                css_class="questionnaire-section",
                css_id="section-readiness",
            ),
            Fieldset(
                "6. Home and life",
                InlineRadios("lives_with_substance_users"),
                InlineRadios("home_safe"),
                InlineRadios("stable_housing"),
                InlineRadios("supportive_network"),
                InlineRadios("work_or_school_commitments"),
                InlineRadios("family_commitments"),
                InlineRadios("can_attend_9h_week"),
                css_class="questionnaire-section",
                css_id="section-home",
            ),
        )

    @classmethod
    def initial_from(cls, screening: Screening) -> dict:
        initial = {
            "version": screening.version,
            "substances": screening.substances,
            "dsm5_criteria": screening.dsm5_criteria,
        }
        for group in ITEM_GROUPS.values():
            for item in group:
                initial[item.key] = getattr(screening, item.key)
        for name in [*BOOL_FIELDS, *CSSRS_BOOL]:
            value = getattr(screening, name)
            initial[name] = None if value is None else ("yes" if value else "no")
        for name in ("pawss", "mental_health_condition", "readiness", "cssrs_behavior"):
            initial[name] = getattr(screening, name)
        return initial

    def clean(self):
        data = super().clean()
        subs = set(data.get("substances") or ())
        # Withdrawal scales and sedative questions apply only to the substances listed; the page hides
        # them otherwise, and the server clears them so a hidden stale answer never counts.
        if "alcohol" not in subs:
            for item in ITEM_GROUPS["ciwa_ar"]:
                data[item.key] = None
            data["pawss"] = None
        if "opioids" not in subs:
            for item in ITEM_GROUPS["cows"]:
                data[item.key] = None
        if "sedatives" not in subs and data.get("daily_sedative_use") is None:
            data["daily_sedative_use"] = False
        if data.get("cssrs_suicidal_thoughts") is False:
            for q in ("method", "intent", "plan"):
                if data.get(f"cssrs_{q}") is None:
                    data[f"cssrs_{q}"] = False
        return data

    def require_complete(self) -> bool:
        """Completion needs every answer that applies; add an error at each missing one."""
        data = self.cleaned_data
        subs = set(data.get("substances") or ())
        if not subs:
            self.add_error("substances", "Choose at least one substance to complete the screening.")
        needed = [
            *BOOL_FIELDS,
            "cssrs_wish_dead",
            "cssrs_suicidal_thoughts",
            "cssrs_behavior",
            "mental_health_condition",
            "readiness",
        ]
        needed += [i.key for i in ITEM_GROUPS["phq9"] + ITEM_GROUPS["gad7"]]
        if "alcohol" in subs:
            needed += [i.key for i in ITEM_GROUPS["ciwa_ar"]]
        if "opioids" in subs:
            needed += [i.key for i in ITEM_GROUPS["cows"]]
        if data.get("cssrs_suicidal_thoughts"):
            needed += ["cssrs_method", "cssrs_intent", "cssrs_plan"]
        for name in needed:
            if data.get(name) in (None, "") and name not in self.errors:
                self.add_error(name, NEEDED)
        return not self.errors

    def add_questionnaire_errors(self, errors: dict[str, list[str]]) -> None:
        for name, messages in errors.items():
            field = ERROR_FIELD.get(name, name)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)

    def answer_columns(self) -> dict:
        """Cleaned answers as Screening column values."""
        data = self.cleaned_data
        columns = {}
        subs = set(data.get("substances") or ())
        for code, name in SUBSTANCE_FIELDS.items():
            columns[name] = code in subs
        crit = set(data.get("dsm5_criteria") or ())
        for code, name in DSM5_FIELDS.items():
            columns[name] = code in crit
        for group in ITEM_GROUPS.values():
            for item in group:
                columns[item.key] = data.get(item.key)
        for name in [*BOOL_FIELDS, *CSSRS_BOOL, "pawss"]:
            columns[name] = data.get(name)
        for name in ("mental_health_condition", "readiness", "cssrs_behavior"):
            columns[name] = data.get(name) or ""
        return columns


class DecisionForm(forms.Form):
    final_level = forms.ChoiceField(
        label="Level of care",
        choices=Level.choices,
        widget=forms.RadioSelect,
        help_text="Keep the recommended level to accept it, or choose another level and give the reason.",
    )
    override_reason = forms.ChoiceField(
        label="Reason for choosing another level",
        choices=[("", "—"), *Screening.OverrideReason.choices],
        required=False,
    )
    override_text = forms.CharField(
        label="Explain the reason", widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000
    )
    groups = forms.MultipleChoiceField(
        label="If IOP: specialty groups the person is interested in",
        choices=SpecialtyGroup.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Offered alongside IOP; kept only when the final level is IOP.",
    )

    def __init__(self, *args, recommended: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.recommended = recommended
        self.fields["final_level"].choices = [
            (value, f"{label} (recommended)" if value == recommended else label) for value, label in Level.choices
        ]
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean(self):
        data = super().clean()
        if data.get("final_level") and data["final_level"] != self.recommended:
            if not data.get("override_reason"):
                self.add_error("override_reason", "Choose the reason for choosing another level.")
            if not (data.get("override_text") or "").strip():
                self.add_error("override_text", "Explain the reason for choosing another level.")
        return data


class SignForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Re-enter your password to sign. A signed screening cannot be changed; corrections are amendments.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


# --- Dates: one day field and one range check for every date filter (history, dashboard, replay, exports,
# audit trail). A range is handed on as a `selectors.DateRange`.

EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
PLAUSIBLE_MESSAGE = f"Enter a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}."
REVERSED_MESSAGE = "The end date must be on or after the start date."


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class DayField(forms.DateField):
    """A day as YYYY-MM-DD (a date picker in browsers). A far-off day is a field error, being a typing
    mistake, unless `any_day` (the exports and the audit trail read 0001-01-01 and 9999-12-31 as open ends)."""

    widget = DateInput
    default_error_messages = {"invalid": "Enter a date as YYYY-MM-DD."}

    def __init__(self, *, any_day: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.any_day = any_day

    def validate(self, value):
        super().validate(value)
        if value and not self.any_day and not EARLIEST <= value <= LATEST:
            raise ValidationError(PLAUSIBLE_MESSAGE, code="implausible")


class DateRangeMixin:
    """A form's two DayFields (`range_fields`, first and last day, both included) as one DateRange.

    A reversed range, or one longer than `max_days`, is an error at the end field; the form is then
    invalid, so a page lists nothing rather than everything under a filter that did not apply.
    """

    range_fields = ("start", "end")
    max_days: int | None = None

    def clean(self):
        data = super().clean()
        dates = self.date_range(data)
        if dates.is_reversed:
            self.add_error(self.range_fields[1], REVERSED_MESSAGE)
        elif self.max_days and (dates.days or 0) > self.max_days:
            self.add_error(self.range_fields[1], f"Choose a range of at most {self.max_days} days.")
        return data

    def date_range(self, data: dict | None = None) -> DateRange:
        data = self.cleaned_data if data is None else data
        first, last = self.range_fields
        return DateRange(data.get(first), data.get(last))


class DateRangeForm(DateRangeMixin, forms.Form):
    """A date range in the query string (dashboard, replay)."""

    start = DayField(label="From")
    end = DayField(label="To (inclusive)")

    max_days = 3660


class ReplayForm(DateRangeForm):
    version = forms.ChoiceField(
        label="Rule set version",
        choices=[(v, f"{v} — {rs.description}") for v, rs in rules.RULE_SETS.items()],
        initial=rules.RULES_VERSION,
    )


class HistoryFilterForm(DateRangeMixin, forms.Form):
    """The base form of `filters.HistoryFilter`, which adds the fields."""

    range_fields = ("date_from", "date_to")


class ExportForm(DateRangeMixin, forms.Form):
    range_fields = ("since", "until")

    since = DayField(label="From (screening date)", help_text="First day included.", any_day=True)
    until = DayField(label="To (screening date)", help_text="Last day included.", any_day=True)
    format = forms.ChoiceField(label="Format", choices=list(exports.FORMATS.items()), widget=forms.RadioSelect)
    deidentified = forms.TypedChoiceField(
        label="Identifiers",
        choices=[("yes", "De-identified (HIPAA Safe Harbor)"), ("no", "Identified (names, record numbers, dates)")],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )


class AuditFilterForm(DateRangeMixin, forms.Form):
    range_fields = ("since", "until")

    actor = forms.CharField(label="Who (username)", required=False, max_length=150)
    action = forms.ChoiceField(label="Action", required=False, choices=[("", "Any action"), *AuditEvent.Action.choices])
    object_type = forms.CharField(
        label="Object type", required=False, max_length=40, help_text="For example client, screening, export."
    )
    object_id = forms.CharField(label="Object id", required=False, max_length=64)
    since = DayField(label="From", required=False, any_day=True)
    until = DayField(label="To", required=False, any_day=True)


class DisclosureLookupForm(forms.Form):
    record_number = forms.CharField(label="Client record number", max_length=32)

    def clean_record_number(self):
        number = self.cleaned_data["record_number"].strip()
        client = Client.objects.filter(record_number=number).first()
        if client is None:
            raise forms.ValidationError("No client has this record number.")
        self.client = client
        return number
