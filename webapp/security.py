"""Log-in sessions and the role checks views use."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, abort, g
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from webapp.extensions import db, login_manager
from webapp.models import Role, User
from webapp.services import roles as role_service


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @app.context_processor
    def _current_roles() -> dict[str, Any]:
        return {"current_roles": {held.role for held in current_roles()}}


def current_roles() -> list[role_service.HeldRole]:
    """The logged-in user's roles today, looked up once per request."""
    if not current_user.is_authenticated:
        return []
    if "_yanxun_roles" not in g:
        g._yanxun_roles = role_service.roles_of(current_user)
    return g._yanxun_roles


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Ids look like ``42:1700000000000000``; a password change moves the stamp and ends older sessions."""
    user_id = session_id.partition(":")[0]
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.get_id() != session_id:
        return None
    return user


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
