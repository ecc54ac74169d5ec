"""Log-in and password forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from forms.base import BaseForm


class LoginForm(BaseForm):
    login = StringField(_l("Login name"), validators=[DataRequired(_l("Enter your login name.")), Length(max=64)],
                        render_kw={"autocomplete": "username", "autocapitalize": "none", "autofocus": True})
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Keep me logged in on this device"))


class ChangePasswordForm(BaseForm):
    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(_l("Enter your current password."))],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), validators=[DataRequired(_l("Enter a new password.")),
                                                                 Length(max=128)],
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(_l("Repeat the new password.")),
                                        EqualTo("new_password", _l("The two new passwords differ."))],
                            render_kw={"autocomplete": "new-password"})
