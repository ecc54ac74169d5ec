"""Log in, log out, change password, the account's sessions and API tokens, choose the language."""

from __future__ import annotations

import math
from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from forms.auth import ChangePasswordForm, LoginForm
from webapp.auth import bp
from webapp.auth.devices import describe_device
from webapp.extensions import db
from webapp.links import local_or
from webapp.security import current_session, log_in, log_out
from webapp.services import api_tokens, audit, sessions
from webapp.services.auth import Throttle, authenticate
from webapp.services.errors import ServiceError
from webapp.services.passwords import verify_password
from webapp.services.users import check_password_strength, set_password


def _throttle() -> Throttle:
    settings = current_app.config["YANXUN"]
    return Throttle(max_failures=settings["LOGIN_MAX_FAILURES"],
                    max_delay=timedelta(minutes=settings["LOGIN_MAX_DELAY_MINUTES"]),
                    window=timedelta(minutes=settings["LOGIN_FAILURE_WINDOW_MINUTES"]),
                    max_failures_per_ip=settings["LOGIN_MAX_FAILURES_PER_IP"])


def _safe_next(target: str | None) -> str:
    """Only follow ``next`` to a path on this site."""
    return local_or(target, url_for("home.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status, headers = 200, {}
    if form.validate_on_submit():
        result = authenticate(form.login.data, form.password.data, request.remote_addr, _throttle())
        if result.user is not None:
            log_in(result.user, remember=form.remember.data)
            if result.user.locale:
                session["locale"] = result.user.locale
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        db.session.commit()
        if result.retry_after is not None:
            seconds = math.ceil(result.retry_after.total_seconds())
            if seconds < 60:
                form.form_errors.append(ngettext("Too many attempts. Please try again in %(num)d second.",
                                                 "Too many attempts. Please try again in %(num)d seconds.", seconds))
            else:
                form.form_errors.append(ngettext("Too many attempts. Please try again in %(num)d minute.",
                                                 "Too many attempts. Please try again in %(num)d minutes.",
                                                 math.ceil(seconds / 60)))
            status, headers = 429, {"Retry-After": str(seconds)}
        else:
            form.form_errors.append(_("The login name or password is wrong."))
            status = 401
    return render_template("auth/login.html", form=form), status, headers


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit.record("auth.logout", actor=current_user, obj=current_user, ip=request.remote_addr)
    log_out()
    db.session.commit()
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
                user = current_user._get_current_object()
                ended = set_password(user, form.new_password.data, actor=user, ip=request.remote_addr,
                                     keep_session=current_session())
                audit.record("auth.password_changed", actor=user, obj=user, after=ended, ip=request.remote_addr)
                db.session.commit()
                flash(_("Your password has been changed. Your other sessions have been logged out and your API "
                        "tokens revoked."), "success")
                return redirect(url_for("home.index"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/security")
@login_required
def security():
    """My sessions (where I am logged in) and my API tokens, each with a button that ends it."""
    return render_template("auth/security.html", sessions=sessions.of(current_user), current=current_session(),
                           tokens=api_tokens.active_of(current_user), describe_device=describe_device)


@bp.route("/security/sessions/<int:session_id>/end", methods=["POST"])
@login_required
def end_session(session_id: int):
    record = sessions.get_own(current_user, session_id)
    if record is None:
        abort(404)
    if record is current_session():
        return logout()
    sessions.revoke(record, actor=current_user, ip=request.remote_addr)
    db.session.commit()
    flash(_("That session has been logged out."), "success")
    return redirect(url_for("auth.security"))


@bp.route("/security/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions():
    for record in sessions.of(current_user):
        if record is not current_session():
            sessions.revoke(record, actor=current_user, ip=request.remote_addr)
    db.session.commit()
    flash(_("All your other sessions have been logged out."), "success")
    return redirect(url_for("auth.security"))


@bp.route("/security/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    token = api_tokens.get_own(current_user, token_id)
    if token is None:
        abort(404)
    api_tokens.revoke(token, current_user, request.remote_addr)
    db.session.commit()
    flash(_("The API token %(name)s has been revoked.", name=token.name), "success")
    return redirect(url_for("auth.security"))


@bp.route("/language", methods=["POST"])
def set_language():
    code = request.form.get("locale", "")
    if code in current_app.config["YANXUN"]["LOCALES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(_safe_next(request.form.get("next") or (request.referrer and urlsplit(request.referrer).path)))
