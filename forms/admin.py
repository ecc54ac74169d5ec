"""Administration forms: organisations, users, role assignments, delegations, CSV import.

Choices (organisations, roles, types, stages...) come from the view: ``form.org.choices = [...]``.
Field names match the ``field`` a service names in its ``ServiceError`` so the view can attach the
error with ``form.add_error(error.field, error.message)``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, Optional, Regexp

from forms.base import BaseForm

_BAD_DATE = _l("Enter a date like 2025-09-01.")
_BAD_CHOICE = _l("Choose one of the listed options.")
_NO_SPACES = r"^\S+$"
_PHONE = r"^[0-9+\-() ]+$"


def optional_int(value: object) -> int | None:
    """Coerce a select's value to an id; the empty option means "none"."""
    if value is None or value == "":
        return None
    return int(str(value))


def _select(label, *, required_message=None, coerce=str, invalid_choice_message=_BAD_CHOICE, **kwargs) -> SelectField:
    validators = [InputRequired(required_message)] if required_message else [Optional()]
    return SelectField(label, validators=validators, coerce=coerce, choices=[],
                       invalid_choice_message=invalid_choice_message, **kwargs)


def _date(label, *, required_message=None, **kwargs) -> DateField:
    validators = [DataRequired(required_message)] if required_message else [Optional()]
    return DateField(label, validators=validators, invalid_value_message=_BAD_DATE, **kwargs)


class ConfirmForm(BaseForm):
    """A bare POST form: only the CSRF token, for confirmed actions (deactivate, end, revoke)."""


class OrgForm(BaseForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Enter the name.")), Length(max=200)])
    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter the code.")), Length(max=64),
                                               Regexp(_NO_SPACES, message=_l("The code cannot contain spaces."))],
                       description=_l("The code from the education bureau (e.g. the 10-digit school "
                                      "identification code) or one you choose; it must be unique."),
                       render_kw={"autocapitalize": "none", "spellcheck": "false"})
    type = _select(_l("Type"), required_message=_l("Choose the type."))
    parent = _select(_l("Parent organisation"), coerce=optional_int,
                     description=_l("Only cities and counties may be at the top level."))
    stage = _select(_l("School stage"), description=_l("For schools and their subgroups."))
    kind = StringField(_l("Kind"), validators=[Optional(), Length(max=40)],
                       description=_l("Free label, e.g. 教研组, 备课组, 年级组, 研培中心."))
    valid_from = _date(_l("Valid from"))
    valid_to = _date(_l("Valid until"), description=_l("Leave empty while the organisation exists."))


class UserForm(BaseForm):
    login = StringField(_l("Login name"), validators=[DataRequired(_l("Enter the login name.")), Length(max=64)],
                        description=_l("3–64 letters, digits, dots, dashes or underscores."),
                        render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"})
    display_name = StringField(_l("Full name"),
                               validators=[DataRequired(_l("Enter the person's name.")), Length(max=100)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32),
                                                  Regexp(_PHONE, message=_l("Use digits, spaces, +, - or ()."))],
                        render_kw={"type": "tel", "autocomplete": "off"})
    email = StringField(_l("Email"), validators=[Optional(), Length(max=254),
                                                  Email(_l("Enter a valid email address."))],
                        render_kw={"type": "email", "autocomplete": "off"})
    org = _select(_l("Organisation"), coerce=optional_int,
                  description=_l("Where the person works: a school, an institute, a bureau."))
    subgroup = _select(_l("Primary subgroup"), coerce=optional_int,
                       description=_l("The subgroup that reviews the teacher's applications first; "
                                      "it must belong to the organisation above."))
    subject = StringField(_l("Subject"), validators=[Optional(), Length(max=40)])
    stage = _select(_l("Stage taught"))
    title = StringField(_l("Professional title"), validators=[Optional(), Length(max=40)])
    hire_date = _date(_l("Hire date"))
    is_class_teacher = BooleanField(_l("Class teacher (班主任)"))
    backbone_level = _select(_l("Backbone teacher level"))
    training_tier = _select(_l("Training tier"), invalid_choice_message=_l("The training tier is 1, 2 or 3."),
                            description=_l("The tier of layered training (分层研修) the teacher is in, where the "
                                           "region groups teachers so."))
    employment_type = _select(_l("Employment type"),
                              description=_l("Credit rules may set other requirements for contract, substitute "
                                             "and private-school teachers."))


class NewUserForm(UserForm):
    password = PasswordField(_l("Initial password"),
                             validators=[DataRequired(_l("Enter an initial password.")), Length(max=128)],
                             render_kw={"autocomplete": "new-password"})


class PasswordResetForm(BaseForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(_l("Enter a new password.")),
                                                             Length(max=128)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(_l("Repeat the new password.")),
                                        EqualTo("password", _l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class AssignmentForm(BaseForm):
    user = StringField(_l("User (login name)"), validators=[DataRequired(_l("Enter the user's login name.")),
                                                            Length(max=64)],
                       render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"})
    role = _select(_l("Role"), required_message=_l("Choose the role."))
    org = _select(_l("At organisation"), required_message=_l("Choose the organisation."), coerce=optional_int,
                  description=_l("The role covers this organisation and everything below it."))
    valid_from = _date(_l("Valid from"), description=_l("Leave empty to start at once."))
    valid_to = _date(_l("Valid until"), description=_l("Leave empty for no end date."))


class DelegationForm(BaseForm):
    from_user = StringField(_l("Person who is away (login name)"),
                            validators=[DataRequired(_l("Enter the login name of the person who is away.")),
                                        Length(max=64)],
                            render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"})
    to_user = StringField(_l("Substitute (login name)"),
                          validators=[DataRequired(_l("Enter the substitute's login name.")), Length(max=64)],
                          render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"})
    role = _select(_l("Role"), description=_l("Delegate one role, or every role the person holds."))
    valid_from = _date(_l("From"), required_message=_l("Enter the first day."))
    valid_to = _date(_l("Until"), required_message=_l("Enter the last day."))
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=200)],
                         description=_l("E.g. training course, sick leave, maternity leave."))


class ImportForm(BaseForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file to upload."))],
                     render_kw={"accept": ".csv,text/csv"})


class ReasonForm(BaseForm):
    """An administrator's action on a process instance or version, with the reason that goes on the record."""

    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Give the reason.")), Length(max=500)])


class NoteForm(BaseForm):
    """A decision with an optional note (required by the service where a reason is needed)."""

    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])
