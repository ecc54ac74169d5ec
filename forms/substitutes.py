"""Naming one's own substitute (代理人) while away.

The view fills the choices (colleagues, the person's roles); the service decides what may be chosen, so a
choice that is not listed reaches it and is refused there with its reason (``validate_choice=False``).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Optional

from forms.base import BaseForm

_BAD_DATE = _l("Enter a date like 2025-09-01.")


def _user_id(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


class SubstituteForm(BaseForm):
    to_user = SelectField(_l("Substitute"), coerce=_user_id, choices=[], validate_choice=False,
                          validators=[InputRequired(_l("Choose your substitute."))],
                          description=_l("A colleague from your organisation or from where you hold the role."))
    role = SelectField(_l("Role"), choices=[], validate_choice=False, validators=[Optional()],
                       description=_l("The substitute receives your tasks in this role, in addition to their own."))
    valid_from = DateField(_l("From"), validators=[DataRequired(_l("Enter the first day."))],
                           invalid_value_message=_BAD_DATE)
    valid_to = DateField(_l("Until"), validators=[DataRequired(_l("Enter the last day."))],
                         invalid_value_message=_BAD_DATE)
    reason = StringField(_l("Reason"), validators=[Optional()], render_kw={"maxlength": 200},
                         description=_l("Optional, e.g. business trip, sick leave, training course."))
