"""Who is calling: a per-user API token (``Authorization: Bearer``), else the log-in session cookie.

Token requests need no CSRF token (a browser never sends the header by itself); cookie requests that
change something must carry the session's CSRF token in ``X-CSRFToken``. Only the sha256 of a token is
stored.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Response, g, request
from flask_babel import gettext as _
from flask_login import current_user

from webapp.api import bp
from webapp.api.errors import error_response
from webapp.extensions import csrf, db
from webapp.models import ApiToken, User
from webapp.models.base import utcnow
from webapp.services.api_tokens import hash_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Endpoints anyone may read: the OpenAPI document describes the API, not its data.
PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
#: ``last_used_at`` is written at most this often, so busy clients do not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)


def token_authenticated() -> bool:
    """Did this request authenticate with an API token (rather than the session cookie)?"""
    return bool(g.get("api_token_id"))


def _unauthorised(message: str) -> Response:
    response = error_response(401, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="YanXun"'
    return response


def _token_owner(header: str) -> tuple[ApiToken, User] | None:
    scheme, _sep, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(value),
                                                        ApiToken.revoked_at.is_(None)))
    if token is None or not token.user.active:
        return None
    return token, token.user


def _touch(token: ApiToken) -> None:
    """Note the use, in its own small transaction, at most once per :data:`TOUCH_INTERVAL`."""
    now = utcnow()
    touched = db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.id == token.id,
               sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_INTERVAL))
        .values(last_used_at=now))
    if touched.rowcount:
        db.session.commit()


@bp.before_request
def authenticate() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization")
    if header is not None:
        found = _token_owner(header)
        if found is None:
            return _unauthorised(_("This API token is not valid: it is wrong or revoked, or its user is "
                                   "deactivated."))
        token, user = found
        g.api_token_id = token.id
        _touch(token)
        g._login_user = user  # Flask-Login's current_user, for this request only; no session is created
        return None
    if not current_user.is_authenticated or not current_user.active:
        return _unauthorised(_('Log in, or send an API token as "Authorization: Bearer <token>".'))
    if request.method not in SAFE_METHODS:
        csrf.protect()
    return None
