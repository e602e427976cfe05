"""Forms collect and validate input; they never decide a clinical outcome."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import groupby

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import answers, exports, rules
from .answers import Kind
from .models import AuditEvent, Client, Level, Screening, SpecialtyGroup
from .permissions import ADMIN, AUDITOR, CLINICIAN
from .selectors import DateRange, client_by_record_number

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
        # Identifiers: a shared browser must not offer one client's details while typing another's (DESIGN §11).
        widgets = {
            "record_number": forms.TextInput(attrs={"autocomplete": "off"}),
            "given_name": forms.TextInput(attrs={"autocomplete": "off"}),
            "family_name": forms.TextInput(attrs={"autocomplete": "off"}),
            "date_of_birth": forms.DateInput(attrs={"type": "date", "autocomplete": "off"}),
        }
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
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="“Family, Given”, “Given Family”, or the start of a name or a record number; accents and case do not matter.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # For |as_crispy_field's inline error style; client_list.html draws the <form> and its button.
        self.helper = FormHelper()


def _is_yes(value: str) -> bool:
    return value == "yes"


def _input_field(inp: answers.Input) -> forms.Field:
    """The form field of one input of the answer map: radios for every short choice and scale (one click each,
    keyboard-friendly as a radio group), checkboxes for a list; never a dropdown."""
    if inp.kind is Kind.YES_NO:
        return forms.TypedChoiceField(
            label=inp.label, choices=YES_NO, coerce=_is_yes, empty_value=None, required=False, widget=forms.RadioSelect
        )
    if inp.kind is Kind.MULTI:
        return forms.MultipleChoiceField(
            label=inp.label, choices=inp.choices, widget=forms.CheckboxSelectMultiple, required=False
        )
    if inp.kind is Kind.CHOICE:
        return forms.ChoiceField(label=inp.label, choices=inp.choices, widget=forms.RadioSelect, required=False)
    numbers = [(str(n), str(n)) for n in range(inp.maximum + 1)]
    if inp.optional:  # "not assessed" is its answer until one is given (it is no safety question)
        label, choices = f"{inp.label} — optional", [("", "Not assessed"), *numbers]
    else:
        label, choices = f"{inp.label} (0–{inp.maximum})", numbers
    return forms.TypedChoiceField(
        label=label,
        choices=choices,
        coerce=int,
        empty_value=None,
        required=False,
        help_text=inp.help,
        widget=forms.RadioSelect,
    )


def _to_form(inp: answers.Input, value: object) -> object:
    """An input's stored value as the form shows it (yes/no as "yes"/"no")."""
    if inp.kind is Kind.YES_NO and value is not None:
        return "yes" if value else "no"
    return value


NEEDED = "Answer this to complete the screening."
NONE_OF_THESE = "None of these"
NONE_AND_SOME = "Either tick “None of these” or the ones that apply, not both."


def none_field(name: str) -> str:
    """The form field of a checklist's "None of these" box (an optional list only: none is an answer there)."""
    return f"{name}_none"


@dataclass(frozen=True, slots=True)
class Token:
    """One step of the questionnaire page: open or close a block shown only when a substance is listed or a
    question is answered yes (static/js/screening_form.js), a heading, a grid of items, or one input."""

    kind: str  # "open", "close", "heading", "grid_open", "grid_close", "field"
    text: str = ""  # heading text; input name for a field; the instrument's short name for a grid
    css_id: str = ""
    show_when: str = ""
    show_when_yes: str = ""
    widget: str = ""  # for a field: "radios", "inline-radios", "checkboxes" or "scale"
    in_grid: bool = False
    bands: str = ""  # for a grid: its total's bands as JSON [[lowest, label], ...], from the instruments
    maximum: int = 0  # for a grid: its highest total


@dataclass(frozen=True, slots=True)
class SectionPlan:
    number: int
    title: str
    css_id: str
    tokens: tuple[Token, ...]


def _widget(inp: answers.Input) -> str:
    if inp.kind is Kind.YES_NO:
        return "inline-radios"
    if inp.kind is Kind.MULTI:
        return "checkboxes"
    if inp.kind is Kind.CHOICE:
        return "radios"
    return "scale"  # a row of numbered radio buttons


def _block_of(inp: answers.Input) -> Token | None:
    if inp.when_substance is not None:
        key = inp.when_substance.value
        return Token("open", css_id=f"{key}-section", show_when=key)
    if inp.when_yes:
        return Token("open", css_id=f"{inp.when_yes.replace('_', '-')}-followup", show_when_yes=inp.when_yes)
    return None


def _plan_section(number: int, section: answers.Section) -> SectionPlan:
    """A section's tokens: each answer's inputs in map order, except that inputs opened by the same substance or
    the same yes are gathered in one block where the first of them stands."""
    groups: dict[Token | str, list[answers.Answer]] = {}  # a block, or the name of an answer on its own
    for answer in section.answers:
        # The C-SSRS opens its follow-ups inside itself.
        alone = not answer.inputs or answer.name in answers.OBJECT_ANSWERS
        block = None if alone else _block_of(answer.inputs[0])
        groups.setdefault(block or answer.name, []).append(answer)
    tokens: list[Token] = []
    for key, members in groups.items():
        block = key if isinstance(key, Token) else None
        inner = [token for answer in members for token in _answer_tokens(answer, inside=block)]
        tokens += [block, *inner, Token("close")] if block else inner
    return SectionPlan(number, section.title, f"section-{section.key.replace('_', '-')}", tuple(tokens))


def _grid_open(answer: answers.Answer) -> Token:
    """A scored answer's grid, carrying its bands as the core defines them (the page's live total reads them; the
    script holds no clinical number of its own)."""
    bands = [[lowest, label.replace("_", " ")] for lowest, label in answers.BAND_TABLES[answer.band]]
    maximum = answer.maximum if answer.maximum is not None else sum(i.maximum for i in answer.inputs)
    return Token(
        "grid_open",
        text=answer.short,
        css_id=f"{answer.name.replace('_', '-')}-items",
        bands=json.dumps(bands),
        maximum=maximum,
    )


def _answer_tokens(answer: answers.Answer, inside: Token | None = None) -> list[Token]:
    tokens = [Token("heading", text=answer.heading)] if answer.heading else []
    scored = answer.score is not None or (answer.band in answers.BAND_TABLES and answer.inputs[0].kind is Kind.SCORE)
    if scored:  # an instrument's items (or a scale given as its total), in a grid with its running total
        fields = [Token("field", text=i.name, widget=_widget(i), in_grid=True) for i in answer.inputs]
        return [*tokens, _grid_open(answer), *fields, Token("grid_close")]

    def block_of(inp: answers.Input) -> Token | None:  # the block this answer stands in is not opened again
        block = _block_of(inp)
        return None if block == inside else block

    for block, run in groupby(answer.inputs, key=block_of):
        fields = [Token("field", text=inp.name, widget=_widget(inp)) for inp in run]
        tokens += [block, *fields, Token("close")] if block else fields
    return tokens


# The page is the same for every form: planned once from the answer map.
PAGE: tuple[SectionPlan, ...] = tuple(_plan_section(n, s) for n, s in enumerate(answers.SECTIONS, start=1))
PAGE_ORDER: tuple[str, ...] = tuple(t.text for plan in PAGE for t in plan.tokens if t.kind == "field")
# The first input of each section on the page (a reassessment's Confirm box comes before it in the error summary).
SECTION_KEYS: tuple[str, ...] = tuple(s.key for s in answers.SECTIONS)
PAGE_SECTION_FIRST: dict[str, str] = {
    key: next(t.text for t in plan.tokens if t.kind == "field") for key, plan in zip(SECTION_KEYS, PAGE, strict=True)
}
# The checklists where none is an answer (DSM-5 criteria), which get a "None of these" box.
NONE_OF_THESE_FOR: tuple[str, ...] = tuple(
    i.name for i in answers.INPUTS.values() if i.kind is Kind.MULTI and i.optional
)


# The questionnaire's fields, made once per process from the answer map and shared by every ScreeningForm: a form
# deep-copies its class's fields, and a copy of these 64 costs as much as making them (about 3 ms a page). No
# ScreeningForm changes a field it did not make; one that had to would put its own copy in its `fields` first.
QUESTION_FIELDS: dict[str, forms.Field] = {inp.name: _input_field(inp) for inp in answers.INPUTS.values()}
NONE_FIELDS: dict[str, forms.Field] = {
    none_field(name): forms.BooleanField(label=NONE_OF_THESE, required=False) for name in NONE_OF_THESE_FOR
}
CONFIRM_FIELDS: dict[str, forms.Field] = {
    s.key: forms.BooleanField(label=f"{s.title}: the carried-over answers still hold", required=False)
    for s in answers.SECTIONS
    if s.key in answers.CARRIED_SECTIONS
}
# Each input's options as (value, text), as the page compares them with the answer given.
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    name: tuple((str(value), text) for value, text in field.choices) for name, field in QUESTION_FIELDS.items()
}


@dataclass(frozen=True, slots=True)
class CarriedView:
    """A reassessment's carried-over section: its note and its "Confirm" box (includes/_questionnaire.html)."""

    key: str
    name: str
    id: str
    label: str
    checked: bool
    carried_on: object  # the date of the screening carried from
    what: str  # which of the section's questions were carried over
    errors: list
    describedby: str


def _carried_what(key: str) -> str:
    section = next(s for s in answers.SECTIONS if s.key == key)
    inputs = answers.CARRIED_SECTIONS[key]
    if len(inputs) == len(section.inputs):
        return "Every answer of this section was carried over."
    return "Carried over: " + "; ".join(i.label for i in inputs) + "."


# --- The questionnaire's HTML, drawn here rather than by the template: 64 inputs and their options are most of the
# page, and template nodes cost several times what a join does. Everything that depends only on the answer map and
# on whether an input has errors is made once (cached: ids, labels, help, options, the blocks and grids); a page
# only picks an option's chosen or unchosen HTML, ticks "None of these" and writes the error messages. Nothing
# cached holds an answer or an error message. Every piece is escaped by format_html.

_SCALE_OPTION = (
    '<input type="radio" class="btn-check" name="{}" value="{}" id="{}_{}"{}{}>'
    '<label for="{}_{}" class="btn btn-sm {}">{}</label>'
)
# Constant attributes (markup, not data: never escaped).
_CHECKED, _INVALID = SafeString(" checked"), SafeString(' aria-invalid="true"')
_CHECK_OPTION = (
    '<div class="{}"><input type="{}" class="{}" name="{}" value="{}" id="{}_{}"{}{}>'
    '<label for="{}_{}" class="form-check-label">{}</label></div>'
)
_FIELD_HEAD = (
    '\n{}\n<div id="div_{}" class="mb-3">\n  <fieldset id="{}" tabindex="-1"{}{}{}{}>\n'
    '    <legend id="{}_legend" class="form-label fs-6{}">{}{}</legend>\n    '
)
_NONE_BOX = (
    '    <div class="form-check none-of-these">\n'
    '      <input type="checkbox" class="form-check-input" name="{}" id="{}" value="on" data-none-of="{}"{}>\n'
    '      <label for="{}" class="form-check-label">None of these</label>\n    </div>\n'
)
_ERROR = '<p id="error_{}_{}" class="mb-0"><strong>{}</strong></p>'
_END, _END_IN_GRID = SafeString("\n</div>\n\n"), SafeString("\n</div>\n</div>\n")
_CLOSING = {
    "close": SafeString("</div>\n"),
    "grid_close": SafeString('</div><p class="instrument-total small" role="status" aria-live="polite"></p></div>\n'),
}


def _when(test, template: str, *args) -> str:
    """An optional piece of markup: `template` filled by format_html when `test` holds, else nothing."""
    return format_html(template, *args) if test else ""


@lru_cache(maxsize=2048)
def _option_rows(widget: str, name: str, html_name: str, auto_id: str, invalid: bool, language) -> tuple:
    """(unchosen, chosen) HTML of each option of input `name`'s group. `language` is in the key because a choice's
    text may be translated."""
    bad = _INVALID if invalid else ""
    choices = CHOICES[name]
    if widget == "scale":
        style = "btn-outline-danger" if invalid else "btn-outline-secondary"
        return tuple(
            tuple(
                format_html(_SCALE_OPTION, html_name, v, auto_id, i, c, bad, auto_id, i, style, t)
                for c in ("", _CHECKED)
            )
            for i, (v, t) in enumerate(choices)
        )
    box = "form-check form-check-inline" if widget == "inline-radios" else "form-check"
    kind = "checkbox" if widget == "checkboxes" else "radio"
    field = "form-check-input is-invalid" if invalid else "form-check-input"
    return tuple(
        tuple(
            format_html(_CHECK_OPTION, box, kind, field, html_name, v, auto_id, i, c, bad, auto_id, i, t)
            for c in ("", _CHECKED)
        )
        for i, (v, t) in enumerate(choices)
    )


@lru_cache(maxsize=2048)
def _field_frame(token: Token, auto_id: str, label: str, help_text: str, frame: tuple, language) -> tuple:
    """An input's HTML around its options and its error messages: (head, (tail, tail with "None of these" ticked),
    end). `frame` is what else it depends on: (carried, invalid, describedby, none), `none` being the "None of
    these" box's (name, id, name of its checklist) or None."""
    carried, invalid, describedby, none = frame
    widget = token.widget
    head = format_html(
        _FIELD_HEAD,
        SafeString('<div class="col-md-6 col-xl-4">') if token.in_grid else "",
        auto_id,
        auto_id,
        SafeString(' class="scale"') if widget == "scale" else "",
        _when(carried, ' data-carried="{}"', carried),
        _when(
            widget != "checkboxes",
            ' role="radiogroup" aria-labelledby="{}_legend"{}',
            auto_id,
            _INVALID if invalid else "",
        ),
        _when(describedby, ' aria-describedby="{}"', describedby),
        auto_id,
        SafeString(" text-danger") if invalid else "",
        label,
        SafeString(' <span class="carried-mark">(carried over)</span>') if carried else "",
    )
    after = _when(help_text, '<div id="{}_helptext" class="form-text">{}</div>', auto_id, help_text)
    tails = tuple(format_html("\n{}  </fieldset>\n{}\n", _none_box(none, ticked), after) for ticked in ("", _CHECKED))
    return head, tails, _END_IN_GRID if token.in_grid else _END


def _none_box(none: tuple | None, ticked: str) -> str:
    if none is None:
        return ""
    name, box_id, of = none
    return format_html(_NONE_BOX, name, box_id, of, ticked, box_id)


@lru_cache(maxsize=256)
def _token_html(token: Token) -> str:
    """The HTML of a step of the page that is no input: a block's opening or closing, a heading, a grid's frame."""
    if token.kind == "open":
        return format_html(
            '<div id="{}"{}{}>\n',
            token.css_id,
            _when(token.show_when, ' data-show-when="{}"', token.show_when),
            _when(token.show_when_yes, ' data-show-when-yes="{}"', token.show_when_yes),
        )
    if token.kind == "heading":
        return format_html('<h3 class="h6 mt-2">{}</h3>\n', token.text)
    if token.kind == "grid_open":
        return format_html(
            '<div class="instrument" id="{}" data-instrument="{}" data-bands="{}" data-maximum="{}"><div class="row">\n',
            token.css_id,
            token.text,
            token.bands,
            token.maximum,
        )
    return _CLOSING.get(token.kind, "")


class ScreeningForm(forms.Form):
    """The questionnaire of DESIGN.md §2, made from the answer map; every answer optional until completion. For a
    reassessment (`carried`: the sections carried over, from the screening of `carried_on`), one "Confirm" box per
    carried-over section."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, carried=(), carried_on=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.carried, self.carried_on = tuple(k for k in answers.CARRIED_SECTIONS if k in carried), carried_on
        self.fields.update(QUESTION_FIELDS)  # shared, never copied (QUESTION_FIELDS)
        self.fields.update(NONE_FIELDS)  # said out loud rather than left blank; kept with the draft
        for key in self.carried:
            self.fields[answers.confirm_field(key)] = CONFIRM_FIELDS[key]
        # Fields in the order the page shows them, so the error summary reads top to bottom.
        confirms = {PAGE_SECTION_FIRST[k]: answers.confirm_field(k) for k in self.carried}
        order = [n for name in PAGE_ORDER for n in ((confirms[name], name) if name in confirms else (name,))]
        self.order_fields(["version", *order])

    @classmethod
    def for_screening(cls, screening: Screening, *args, **kwargs) -> ScreeningForm:
        """The questionnaire of a draft (a reassessment's with its carried-over sections)."""
        carried_on = None
        if screening.carried_sections:  # read with the draft where it was loaded for the page (views._load_draft)
            carried_on = getattr(screening, "carried_on", None) or screening.carried_from.signed_at
        return cls(*args, carried=screening.carried_sections, carried_on=carried_on, **kwargs)

    @cached_property
    def sections(self) -> list[tuple[SectionPlan, str, CarriedView | None]]:
        """Each section's plan, the HTML of its inputs, and a reassessment's carried-over note and Confirm box where
        it has one (includes/_questionnaire.html draws the sections around them)."""
        language = translation.get_language()  # once: it is a context-local lookup
        return [
            (plan, self._section_html(plan, language), self._carried_view(key))
            for key, plan in zip(SECTION_KEYS, PAGE, strict=True)
        ]

    @property
    def version_html(self) -> str:
        """The hidden version input, as Django's HiddenInput draws it (without its template: a tenth of the page's
        time)."""
        bound = self["version"]
        value = bound.value()
        shown = _when(value is not None and value != "", ' value="{}"', value)
        return format_html('<input type="hidden" name="{}"{} id="{}">', bound.html_name, shown, bound.auto_id)

    def _section_html(self, plan: SectionPlan, language: str) -> str:
        html = "".join(self._input_html(t, language) if t.kind == "field" else _token_html(t) for t in plan.tokens)
        # Every piece was made by format_html (_option_rows, _field_frame, _token_html) or is constant markup.
        return SafeString(html)  # nosec B703

    def _input_html(self, token: Token, language: str) -> str:
        """One input: its legend, options, "None of these" box, help and errors, linked by aria-describedby."""
        bound = self[token.text]
        errors, auto_id, html_name = bound.errors, bound.auto_id, bound.html_name
        none = self[none_field(token.text)] if token.text in NONE_OF_THESE_FOR else None
        carried = answers.CARRIED_SECTION_OF.get(token.text, "")
        described = " ".join(filter(None, [errors and f"{auto_id}_error", bound.help_text and f"{auto_id}_helptext"]))
        frame = (
            carried if carried in self.carried else "",
            bool(errors),
            described,
            (none.html_name, none.auto_id, html_name) if none is not None else None,
        )
        head, tails, end = _field_frame(token, auto_id, bound.label, bound.help_text, frame, language)
        rows = _option_rows(token.widget, token.text, html_name, auto_id, bool(errors), language)
        value = bound.value()
        if token.widget == "checkboxes":
            chosen = {str(v) for v in value or ()}
        else:
            chosen = {"" if value is None else str(value)}
        options = "".join(row[v in chosen] for (v, _), row in zip(CHOICES[token.text], rows, strict=True))
        if token.widget == "scale":
            options = f'<div class="scale-options">{options}</div>'
        shown = errors and format_html(
            '<div id="{}_error" class="field-error text-danger small mt-1">{}</div>',
            auto_id,
            format_html_join("", _ERROR, ((n, auto_id, e) for n, e in enumerate(errors, 1))),
        )
        ticked = bool(none is not None and none.value())
        # The options were escaped by format_html in _option_rows; every other piece is made by format_html.
        return SafeString(head + options + tails[ticked] + (shown or "") + end)  # nosec B703

    def _carried_view(self, key: str) -> CarriedView | None:
        if key not in self.carried:
            return None
        bound = self[answers.confirm_field(key)]
        errors = list(bound.errors)
        described = " ".join(filter(None, [f"{bound.auto_id}_what", errors and f"{bound.auto_id}_error"]))
        what = _carried_what(key)
        return CarriedView(
            key,
            bound.html_name,
            bound.auto_id,
            bound.label,
            bool(bound.value()),
            self.carried_on,
            what,
            errors,
            described,
        )

    @classmethod
    def initial_from(cls, screening: Screening) -> dict:
        values = answers.to_inputs(screening.answer_values())
        initial = {"version": screening.version, **{n: _to_form(answers.INPUTS[n], v) for n, v in values.items()}}
        initial.update({none_field(name): name in screening.none_ticked for name in NONE_OF_THESE_FOR})
        initial.update({answers.confirm_field(key): True for key in screening.confirmed_sections})
        return initial

    @property
    def confirmed(self) -> frozenset[str]:
        """The carried-over sections whose Confirm box is ticked."""
        return frozenset(k for k in self.carried if self.cleaned_data.get(answers.confirm_field(k)))

    @property
    def none_ticked(self) -> frozenset[str]:
        """The checklists answered "None of these"."""
        return frozenset(n for n in NONE_OF_THESE_FOR if self.cleaned_data.get(none_field(n)))

    def show_confirmed(self, sections) -> None:
        """After a save: tick the boxes of the sections it confirmed (a change to a carried answer confirms it)."""
        for key in sections:
            if key in self.carried:
                self.data[answers.confirm_field(key)] = "on"

    def clean(self):
        data = super().clean()
        for name in NONE_OF_THESE_FOR:
            if data.get(none_field(name)) and data.get(name):
                self.add_error(name, NONE_AND_SOME)
        # A follow-up left blank after a no is a no. A scale hidden because its substance was unticked keeps its
        # answers in the draft — ticked again, they are back as entered — and never counts: completing clears it
        # (`answer_columns(completing=True)`), so a hidden stale answer never reaches the rules.
        return answers.clear_inapplicable(data, drafting=True)

    def require_complete(self, confirmed=None) -> bool:
        """Completion needs every answer that applies, and every carried-over section confirmed (`confirmed`: as
        saved, else as ticked); add an error at each missing one."""
        for name in answers.missing(self.cleaned_data):
            if name not in self.errors:
                message = "Choose at least one substance to complete the screening." if name == "substances" else NEEDED
                self.add_error(name, message)
        for key in answers.unconfirmed(self.carried, self.confirmed if confirmed is None else confirmed):
            if answers.confirm_field(key) not in self.errors:
                self.add_error(answers.confirm_field(key), answers.UNCONFIRMED)
        return not self.errors

    def add_questionnaire_errors(self, errors: dict[str, list[str]]) -> None:
        for name, messages in errors.items():
            field = answers.error_input(name)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)

    def answer_columns(self, *, completing: bool = False) -> dict:
        """Cleaned answers as Screening column values; when completing, without the answers that do not apply."""
        values = answers.clear_inapplicable(dict(self.cleaned_data)) if completing else self.cleaned_data
        return answers.from_inputs(values)


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
    """The signature, and before it the acknowledgement of each safety flag raised (DESIGN.md §5): an emergency
    referral's action taken, a safety review's same-day risk assessment. The service checks them again."""

    emergency_action = forms.ChoiceField(
        label="Action taken on the emergency referral",
        choices=Screening.EmergencyAction.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the action taken on the emergency referral."},
    )
    emergency_action_text = forms.CharField(
        label="What was done",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Who was contacted or where the person went, when, and what happens next.",
        error_messages={"required": "Describe what was done about the emergency referral."},
    )
    safety_review_confirmed = forms.BooleanField(
        label="I confirm the same-day risk assessment was done",
        help_text="A safety review is raised: a clinician assesses the risk today, before the screening is signed.",
        error_messages={"required": "Confirm the same-day risk assessment before signing."},
    )
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Re-enter your password to sign. A signed screening cannot be changed; corrections are amendments.",
    )

    def __init__(self, *args, flags=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Only the acknowledgements the raised flags ask for.
        if rules.Flag.EMERGENCY_REFERRAL not in flags:
            del self.fields["emergency_action"], self.fields["emergency_action_text"]
        if rules.Flag.SAFETY_REVIEW not in flags:
            del self.fields["safety_review_confirmed"]
        self.helper = FormHelper()
        self.helper.form_tag = False

    @property
    def acknowledgements(self) -> dict:
        """The acknowledgements given, as `services.screening_sign` takes them."""
        data = self.cleaned_data
        return {
            "emergency_action": data.get("emergency_action", ""),
            "emergency_action_text": data.get("emergency_action_text", ""),
            "safety_review_confirmed": bool(data.get("safety_review_confirmed")),
        }


class AmendForm(forms.Form):
    reason = forms.CharField(
        label="Reason for amendment",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="What the amendment corrects and why. It is kept with the amendment and shown on the record.",
        error_messages={"required": "Give the reason for the amendment: what it corrects."},
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


class DayField(forms.DateField):
    """A day as YYYY-MM-DD (a date picker in browsers). A far-off day is a field error, being a typing
    mistake, unless `any_day` (the exports and the audit trail read 0001-01-01 and 9999-12-31 as open ends)."""

    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    default_error_messages = {"invalid": "Enter a date as YYYY-MM-DD."}

    def __init__(self, *, any_day: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.any_day = any_day

    def validate(self, value):
        super().validate(value)
        if value and not self.any_day and not EARLIEST <= value <= LATEST:
            raise ValidationError(PLAUSIBLE_MESSAGE, code="implausible")


class DateRangeMixin:
    """A form's two DayFields (`range_fields`, both days included) as one DateRange. A reversed range, or one longer
    than `max_days`, is an error at the end field: a page lists nothing rather than ignore a filter."""

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
        coerce=_is_yes,
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
    record_number = forms.CharField(
        label="Client record number", max_length=32, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def clean_record_number(self):
        number = self.cleaned_data["record_number"].strip()
        client = client_by_record_number(number)
        if client is None:
            raise forms.ValidationError("No client has this record number.")
        self.client = client
        return number


# --- User management (DESIGN.md §6) and the user's own password. The forms offer a username, an email address and
# one role: there is no field for superuser or staff status, groups or permissions, so none can be posted.

ROLE_CHOICES = [
    (CLINICIAN, "Clinician — screenings and clients"),
    (ADMIN, "Admin — review, dashboard, replay, user management"),
    (AUDITOR, "Auditor — exports and the audit log"),
]


class UserCreateForm(forms.Form):
    username = forms.CharField(
        label="Username",
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only; used to sign in.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        help_text="The link to set a password goes here; you never see it.",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="Role", choices=ROLE_CHOICES, widget=forms.RadioSelect)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.attrs = {"novalidate": ""}  # the server's errors, summarised and linked to their fields
        self.helper.add_input(Submit("submit", "Create user and send link"))

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this username already exists.")
        return username

    def clean_email(self):
        email = get_user_model().objects.normalize_email(self.cleaned_data["email"].strip())
        # One account per address: a "forgot password" email must reach exactly one user.
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("Another user already has this email address.")
        return email


class UserRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=ROLE_CHOICES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


def _with_helper(form: forms.Form, button: str) -> None:
    form.helper = FormHelper()
    form.helper.attrs = {"novalidate": ""}  # the server's errors, summarised and linked to their fields
    form.helper.add_input(Submit("submit", button))


class OwnPasswordChangeForm(auth_forms.PasswordChangeForm):
    """Change one's own password: the current one is required, and checked through `authenticate()` (the
    view's `confirm_password`), so that wrong ones count toward the sign-in lockout."""

    def __init__(self, *args, confirm=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.confirm = confirm
        _with_helper(self, "Change password")

    def clean_old_password(self):
        old = self.cleaned_data.get("old_password", "")
        if self.confirm is None:
            return super().clean_old_password()
        if refusal := self.confirm(old):
            raise forms.ValidationError(refusal, code="password_incorrect")
        return old


class PasswordSetForm(auth_forms.SetPasswordForm):
    """Set a password from an emailed link."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _with_helper(self, "Set password")


class ForgotPasswordForm(auth_forms.PasswordResetForm):
    """ "Forgot password": a link to the address's active user. Unlike Django's form it also reaches a user who
    has not set a password yet (their first link expired); an unknown or inactive address gets the same page."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        _with_helper(self, "Send link")

    def get_users(self, email):
        return get_user_model().objects.filter(email__iexact=email, is_active=True)
