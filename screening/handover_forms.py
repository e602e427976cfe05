"""The form the person fills in during a patient hand-over (issue 14, item 7): the PHQ-9 and GAD-7 items of
screening.selfreport, each one of the four printed answers; and the clinician's password to take the device back."""

from __future__ import annotations

from django import forms

from . import selfreport

NOT_ANSWERED = "Not answered yet: choose the answer that fits best."


class SelfReportForm(forms.Form):
    """Every self-report item, each optional until the person says they are done (`require_all`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for item in selfreport.ITEMS:
            self.fields[item.name] = forms.TypedChoiceField(
                label=item.label,
                choices=selfreport.RESPONSES,
                coerce=int,
                required=False,
                empty_value=None,
                widget=forms.RadioSelect,
            )

    def given(self) -> dict[str, int]:
        """The items answered, by name."""
        return {name: value for name, value in self.cleaned_data.items() if value is not None}

    def require_all(self) -> bool:
        """Mark each item left unanswered at its field; whether every item is answered."""
        for item in selfreport.ITEMS:
            if self.cleaned_data.get(item.name) is None:
                self.add_error(item.name, NOT_ANSWERED)
        return not self.errors

    def parts(self):
        """(instrument, [(number, bound field), …]) in the order asked, numbered 1… across both parts."""
        number = 0
        out = []
        for instrument in selfreport.INSTRUMENTS:
            rows = []
            for item in instrument.items:
                number += 1
                rows.append((number, self[item.name]))
            out.append((instrument, rows))
        return out


class ReturnForm(forms.Form):
    """The clinician's password, to take the device back from the person."""

    password = forms.CharField(
        label="Clinician: your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": "Enter your password to take the device back."},
    )
