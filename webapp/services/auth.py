"""Checking credentials, with throttling after repeated failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import LoginFailure, User
from webapp.models.base import utcnow
from webapp.services import audit
from webapp.services.passwords import hash_password, needs_rehash, verify_password


@dataclass(frozen=True)
class Throttle:
    max_failures: int
    max_failures_per_ip: int
    window: timedelta


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    #: True when the attempt was refused without checking the password (too many recent failures).
    locked: bool = False


def _recent_failures(column, value: str, since) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)
                             .where(column == value, LoginFailure.at >= since)) or 0


def is_locked(login: str, ip: str | None, throttle: Throttle) -> bool:
    since = utcnow() - throttle.window
    if _recent_failures(LoginFailure.login, login.lower(), since) >= throttle.max_failures:
        return True
    return bool(ip) and _recent_failures(LoginFailure.ip, ip, since) >= throttle.max_failures_per_ip


def authenticate(login: str, password: str, ip: str | None, throttle: Throttle) -> LoginResult:
    """Return the user when the credentials are right and the login is not locked; record failures."""
    key = login.strip().lower()
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.at < utcnow() - 4 * throttle.window))
    if is_locked(key, ip, throttle):
        audit.record("auth.login_locked", actor=None, object_type="login", object_id=key, ip=ip)
        return LoginResult(None, locked=True)
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.login) == key))
    # Verified in every case (an unknown login against a dummy hash): the time must not tell who exists.
    right = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not right or not user.active:
        db.session.add(LoginFailure(login=key, ip=ip))
        audit.record("auth.login_failed", actor=None, object_type="login", object_id=key, ip=ip)
        db.session.flush()
        return LoginResult(None)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.login == key))
    audit.record("auth.login", actor=user, obj=user, ip=ip)
    db.session.flush()
    return LoginResult(user)
