"""Per-user API tokens (``Authorization: Bearer``): issued once in plain, kept as their sha256, revoked.

A password change or reset revokes all of a user's tokens (:func:`webapp.services.users.set_password`). Like
every service this flushes and never commits.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ApiToken, User
from webapp.models.base import utcnow
from webapp.services import audit

TOKEN_PREFIX = "yx_"  # noqa: S105 - a public prefix that makes leaked tokens recognisable, not a secret
NAME_MAX_LENGTH = 100


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(user: User, name: str, ip: str | None = None) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the plain token, which is never stored."""
    plain = generate_token()
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(plain))
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.create", actor=user, obj=token, after={"name": name}, ip=ip)
    return token, plain


def revoke(token: ApiToken, actor: User | None, ip: str | None = None) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("api_token.revoke", actor=actor, obj=token, after={"name": token.name}, ip=ip)
        db.session.flush()


def active_of(user: User) -> list[ApiToken]:
    """``user``'s tokens that still work, the newest first."""
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id,
                                                             ApiToken.revoked_at.is_(None))
                                   .order_by(ApiToken.id.desc())))


def get_own(user: User, token_id: int) -> ApiToken | None:
    token = db.session.get(ApiToken, token_id)
    return token if token is not None and token.user_id == user.id else None


def revoke_all(user: User, actor: User | None, ip: str | None = None) -> int:
    """Revoke every token of ``user`` that still works (each audited); returns how many."""
    tokens = active_of(user)
    for token in tokens:
        revoke(token, actor, ip)
    return len(tokens)
