"""Credit-hour application (formKey ``credit.application``) and review (formKey ``credit.review``) forms.

The forms render the fields and give the first, friendly check; the service layer
(``webapp.services.applications``) validates again and is authoritative. What a form needs from the
application (the rule set's catalogue, accepted file types, the most hours a reviewer may approve) comes
in through the constructor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateField,
    DecimalField,
    MultipleFileField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from forms import register
from forms.base import BaseForm

#: The words for training levels everywhere (``webapp.labels.LEVEL_LABELS``): 国家级, 省级, 市级, 县级, 校级.
LEVEL_CHOICES = (("national", _l("National level")), ("province", _l("Provincial level")), ("city", _l("City level")),
                 ("county", _l("County level")), ("school", _l("School level")))


class _CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


@register("credit.application")
class CreditApplicationForm(BaseForm):
    category = SelectField(_l("Category"), validators=[DataRequired(_l("Choose a category."))])
    item_code = SelectField(_l("Training item"), validators=[Optional()])
    level = SelectField(_l("Training level"), choices=[SelectChoice("", _l("— choose —")),
                                                       *(SelectChoice(v, label) for v, label in LEVEL_CHOICES)],
                        validators=[Optional()])
    organiser = StringField(_l("Organiser"), validators=[DataRequired(_l("Name the organiser.")), Length(max=200)])
    start_date = DateField(_l("From"), validators=[InputRequired(_l("Enter a date such as 2026-09-01."))])
    end_date = DateField(_l("To"), validators=[InputRequired(_l("Enter a date such as 2026-09-01."))])
    hours_requested = DecimalField(_l("Hours"), places=1, validators=[
        InputRequired(_l("Enter the hours, a number greater than 0.")),
        NumberRange(min=0.1, max=1000, message=_l("Enter the hours, a number greater than 0."))],
        render_kw={"step": "0.5", "min": "0.5", "inputmode": "decimal"})
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)], render_kw={"rows": 4})
    remove_evidence = _CheckboxList(_l("Remove these files"), coerce=int, validators=[Optional()])
    evidence = MultipleFileField(_l("Evidence files"))

    def __init__(self, *args: Any, categories: Iterable[tuple[str, str]] = (),
                 items: Iterable[tuple[str, str]] = (), accept: Iterable[str] = (),
                 existing: Iterable[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = [SelectChoice("", _l("— choose —")), *(SelectChoice(v, n) for v, n in categories)]
        self.item_code.choices = [SelectChoice("", _l("— none —")), *(SelectChoice(v, n) for v, n in items)]
        self.remove_evidence.choices = [SelectChoice(v, n) for v, n in existing]
        extensions = [f".{ext}" for ext in accept]
        self.evidence.render_kw = {"accept": ",".join(extensions), "multiple": True}
        self.evidence.description = _l("Certificates, sign-in sheets, lesson plans or photos: %(types)s.",
                                       types=", ".join(ext.upper() for ext in accept))

    def validate_end_date(self, field: DateField) -> None:
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise ValidationError(_l("The end date must not be before the start date."))

    def values(self) -> dict[str, Any]:
        """The fields as the service takes them."""
        return {"category": self.category.data, "item_code": self.item_code.data or None,
                "level": self.level.data or None, "organiser": self.organiser.data,
                "start_date": self.start_date.data, "end_date": self.end_date.data,
                "hours_requested": float(self.hours_requested.data) if self.hours_requested.data is not None
                else None, "description": self.description.data or ""}


@register("credit.review")
class CreditReviewForm(BaseForm):
    decision = RadioField(_l("Decision"), choices=[SelectChoice("approve", _l("Approve")),
                                                   SelectChoice("return", _l("Return for revision")),
                                                   SelectChoice("reject", _l("Reject"))],
                          validators=[InputRequired(_l("Choose approve, return for revision or reject."))])
    approved_hours = DecimalField(_l("Approved hours"), places=1, validators=[Optional()],
                                  render_kw={"step": "0.5", "min": "0.5", "inputmode": "decimal"})
    comment = TextAreaField(_l("Comment"), validators=[Length(max=2000)], render_kw={"rows": 3},
                            description=_l("Required when you approve fewer hours, return or reject."))

    def __init__(self, *args: Any, max_hours: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_hours = max_hours
        if max_hours is not None:
            self.approved_hours.render_kw = {**self.approved_hours.render_kw, "max": f"{max_hours:g}"}
            if self.approved_hours.data is None and not self.is_submitted():
                self.approved_hours.data = max_hours

    def validate_approved_hours(self, field: DecimalField) -> None:
        if self.decision.data != "approve":
            return
        if field.data is None:
            raise ValidationError(_l("Enter the approved hours."))
        if field.data <= 0:
            raise ValidationError(_l("Approve more than 0 hours, or reject the application."))
        if self.max_hours is not None and float(field.data) > self.max_hours + 1e-9:
            raise ValidationError(_l("At most %(limit)s hours can be approved.", limit=f"{self.max_hours:g}"))

    def validate_comment(self, field: TextAreaField) -> None:
        fewer = (self.decision.data == "approve" and self.approved_hours.data is not None
                 and self.max_hours is not None and float(self.approved_hours.data) < self.max_hours - 1e-9)
        if (fewer or self.decision.data in ("return", "reject")) and not (field.data or "").strip():
            raise ValidationError(_l("Give the reason for your decision."))
