"""Log-in sessions and the role checks views use.

A log-in is a server-side :class:`~webapp.models.UserSession`: its random key goes into the signed session
cookie (and the remember-me cookie) as Flask-Login's user id, and every request looks it up once
(:func:`load_user`). Logging out, a password change or revoking it on the security page deletes the row, and
with it every copy of its cookies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Flask, abort, current_app, g, request, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from webapp.extensions import db, login_manager
from webapp.models import Role, User, UserSession
from webapp.services import roles as role_service
from webapp.services import sessions


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @app.before_request
    def _note_session_use() -> None:
        """Keep the session's last use (shown on the security page) and, when idle ones expire, its end.

        Written in its own small commit before the view starts, at most once a minute per session."""
        if request.endpoint == "static" or not current_user.is_authenticated:
            return
        record = current_session()
        if record is not None and sessions.touch(record, lifetimes()):
            db.session.commit()

    @app.context_processor
    def _current_roles() -> dict[str, Any]:
        return {"current_roles": {held.role for held in current_roles()}}


def lifetimes() -> sessions.Lifetimes:
    settings = current_app.config["YANXUN"]
    return sessions.Lifetimes(idle=timedelta(hours=settings["SESSION_IDLE_HOURS"]),
                              remembered=timedelta(days=settings["REMEMBER_DAYS"]))


def current_session() -> UserSession | None:
    """The server-side session of this request's log-in (None for API tokens and anonymous requests)."""
    return g.get("_yanxun_session")


def _bind(user: User, record: UserSession, key: str) -> None:
    user._session_key = key  # what User.get_id returns, hence what Flask-Login stores
    g._yanxun_session = record


def _fresh_cookie_session() -> None:
    """Empty the cookie session but for the chosen language: no value (CSRF token included) outlives a
    log-in or log-out."""
    locale = session.get("locale")
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # Flask-WTF's copy for this request
    if locale:
        session["locale"] = locale


def log_in(user: User, *, remember: bool) -> UserSession:
    """Start a server-side session for ``user`` in a fresh cookie session (new key, new CSRF token)."""
    _fresh_cookie_session()
    record, key = sessions.start(user, remember=remember, lifetimes=lifetimes(), ip=request.remote_addr,
                                 user_agent=request.user_agent.string)
    _bind(user, record, key)
    login_user(user, remember=remember)
    if not remember and current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        session["_remember"] = "clear"  # an older remember-me cookie of this browser goes
    return record


def log_out() -> None:
    """End this request's session on the server, and clear its cookies (remember-me included)."""
    record = current_session()
    if record is not None:
        sessions.end(record)
    _fresh_cookie_session()
    logout_user()  # after the clearing: it marks the remember-me cookie for deletion
    g.pop("_yanxun_session", None)


def current_roles() -> list[role_service.HeldRole]:
    """The logged-in user's roles today, looked up once per request."""
    if not current_user.is_authenticated:
        return []
    if "_yanxun_roles" not in g:
        g._yanxun_roles = role_service.roles_of(current_user)
    return g._yanxun_roles


@login_manager.user_loader
def load_user(key: str) -> User | None:
    """The user of the unexpired session with this key, if they are still active (one indexed query)."""
    record = sessions.find(key) if key else None
    if record is None or not record.user.active:
        return None
    _bind(record.user, record, key)
    return record.user


def require_role(*roles: Role) -> Callable:
    """Only users who hold (or act by delegation in) one of ``roles`` may use the view; others get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not {h.role for h in current_roles()}.intersection(roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator
