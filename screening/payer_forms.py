"""Forms of the payer pages (screening.payer): the disclosure of a summary to a payer, and the level crosswalk."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms

from . import payer
from .models import Level


class PayerSummaryForm(forms.Form):
    """Who receives the summary, and the person's consent to that disclosure (DESIGN.md §8)."""

    recipient = forms.CharField(
        label="Recipient (the payer)",
        max_length=payer.RECIPIENT_MAX_LENGTH,
        help_text="The organisation the summary is sent to, as named in the person's consent, e.g. the health plan.",
        error_messages={"required": payer.RECIPIENT_NEEDED},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    consent = forms.BooleanField(
        label="The person has consented in writing to this disclosure to this recipient (42 CFR 2.31).",
        error_messages={"required": payer.CONSENT_NEEDED},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_recipient(self) -> str:
        recipient = " ".join(self.cleaned_data["recipient"].split())
        if not recipient:
            raise forms.ValidationError(payer.RECIPIENT_NEEDED)
        return recipient


class CrosswalkForm(forms.Form):
    """One payer code per level; an empty field means the level has none."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for level, label in Level.choices:
            self.fields[level] = forms.CharField(
                label=f"Payer code for {label}",
                required=False,
                max_length=payer.CODE_MAX_LENGTH,
                help_text="Leave empty for no code.",
                widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
            )
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean(self):
        data = super().clean()
        for level in Level.values:
            code = " ".join((data.get(level) or "").split())
            if problem := payer.code_problem(code):
                self.add_error(level, problem)
            else:
                data[level] = code
        return data
