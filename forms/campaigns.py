"""Launching a campaign (研修活动), extending a stage's deadline and closing it.

The view fills the choices (the processes run as campaigns, the school groups and schools in the officer's scope);
the deadlines, one per stage of the chosen process, are read by the view from ``deadline_<stage>`` inputs.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from forms.base import BaseForm

_BAD_DATE = _l("Enter a date like 2025-09-01.")
SCOPE_ALL, SCOPE_GROUP, SCOPE_PICK = "all", "group", "pick"


def _id(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


class CheckboxList(SelectMultipleField):
    """Many choices as a list of checkboxes (works without JavaScript)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LaunchForm(BaseForm):
    process_key = SelectField(_l("Process"), choices=[], validators=[InputRequired(_l("Choose the process."))])
    title = StringField(_l("Title"), validators=[DataRequired(_l("Give the campaign a title.")), Length(max=200)])
    period = StringField(_l("Period key"), validators=[DataRequired(_l("Give the period, e.g. 2026-2027-1.")),
                                                   Length(max=40)],
                         description=_l("A short key such as 2026-2027-1 (first semester); a school takes part once "
                                        "per process and period."))
    period_start = DateField(_l("Period starts"), validators=[DataRequired(_l("Enter the first day."))],
                             invalid_value_message=_BAD_DATE)
    period_end = DateField(_l("Period ends"), validators=[DataRequired(_l("Enter the last day."))],
                           invalid_value_message=_BAD_DATE)
    scope = RadioField(_l("Schools taking part"), default=SCOPE_ALL, choices=[
        SelectChoice(SCOPE_ALL, _l("Every school")), SelectChoice(SCOPE_GROUP, _l("A school group or zone")),
        SelectChoice(SCOPE_PICK, _l("Schools I pick"))])
    group = SelectField(_l("School group or zone"), coerce=_id, choices=[], validate_choice=False,
                        validators=[Optional()])
    schools = CheckboxList(_l("Pick schools"), coerce=int, choices=[], validate_choice=False,
                           validators=[Optional()])
    remind_days = IntegerField(_l("Remind this many days before each deadline"), default=3,
                               validators=[InputRequired(_l("Enter a number of days.")), NumberRange(0, 60)])
    note = TextAreaField(_l("Note to the schools"), validators=[Optional(), Length(max=2000)],
                         render_kw={"rows": 3})


class ExtendForm(BaseForm):
    stage = SelectField(_l("Step to extend"), choices=[], validators=[InputRequired(_l("Choose the step."))])
    deadline = DateTimeLocalField(_l("New deadline"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                                  validators=[DataRequired(_l("Enter the new deadline."))])


class CloseForm(BaseForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Give the reason.")), Length(max=500)],
                           render_kw={"rows": 2, "maxlength": 500})
