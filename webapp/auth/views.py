"""Log in, log out, change password, choose the language."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from forms.auth import ChangePasswordForm, LoginForm
from webapp.auth import bp
from webapp.extensions import db
from webapp.links import local_or
from webapp.services import audit
from webapp.services.auth import Throttle, authenticate
from webapp.services.errors import ServiceError
from webapp.services.passwords import verify_password
from webapp.services.users import check_password_strength, set_password


def _throttle() -> Throttle:
    settings = current_app.config["YANXUN"]
    return Throttle(max_failures=settings["LOGIN_MAX_FAILURES"],
                    max_failures_per_ip=settings["LOGIN_MAX_FAILURES_PER_IP"],
                    window=timedelta(minutes=settings["LOGIN_FAILURE_WINDOW_MINUTES"]))


def _safe_next(target: str | None) -> str:
    """Only follow ``next`` to a path on this site."""
    return local_or(target, url_for("home.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = authenticate(form.login.data, form.password.data, request.remote_addr, _throttle())
        if result.user is not None:
            login_user(result.user, remember=form.remember.data)
            if result.user.locale:
                session["locale"] = result.user.locale
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        db.session.commit()
        if result.locked:
            minutes = current_app.config["YANXUN"]["LOGIN_FAILURE_WINDOW_MINUTES"]
            form.form_errors.append(_("Too many failed attempts. Log-in is paused for this account; try again in "
                                      "%(minutes)d minutes or ask your administrator.", minutes=minutes))
            status = 429
        else:
            form.form_errors.append(_("The login name or password is wrong."))
            status = 401
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit.record("auth.logout", actor=current_user, obj=current_user, ip=request.remote_addr)
    db.session.commit()
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.current_password.data):
            form.current_password.errors = [_("The current password is wrong.")]
        else:
            try:
                check_password_strength(form.new_password.data, current_app.config["YANXUN"]["PASSWORD_MIN_LENGTH"])
            except ServiceError as error:
                form.new_password.errors = [str(error)]
            else:
                user = current_user._get_current_object()  # the real object: login_user must not get the proxy
                set_password(user, form.new_password.data)
                audit.record("auth.password_changed", actor=user, obj=user, ip=request.remote_addr)
                db.session.commit()
                login_user(user)  # the session id carries the password stamp, so refresh this session
                flash(_("Your password has been changed. Other devices have been logged out."), "success")
                return redirect(url_for("home.index"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/language", methods=["POST"])
def set_language():
    code = request.form.get("locale", "")
    if code in current_app.config["YANXUN"]["LOCALES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(_safe_next(request.form.get("next") or (request.referrer and urlsplit(request.referrer).path)))
