"""Checking credentials, slowed down after repeated failures.

Every attempt for a login name takes that name's :class:`~webapp.models.LoginThrottle` row first (an upsert
that locks it until the commit), so concurrent attempts are counted one after the other and no more than
``max_failures`` wrong passwords are ever checked before the waiting starts. After that each further attempt has
to wait 2^(failures − max_failures) seconds, at most ``max_delay``: nobody can lock someone else out for long,
and the account holder is told when it starts. An address (a school's shared one) is refused only after many
failures of its own, within ``window``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db
from webapp.models import LoginFailure, LoginThrottle, Notification, User
from webapp.models.base import utcnow
from webapp.services import audit, notifications
from webapp.services.passwords import hash_password, needs_rehash, verify_password

LOGIN_MAX = 64
#: The notification telling an account holder that log-ins to their account have to wait, at most this often.
SLOWED = "auth.login_slowed"
NOTICE_INTERVAL = timedelta(days=1)
#: Old counters and failures deleted per attempt (never waiting for rows other attempts hold).
PRUNE_BATCH = 100


@dataclass(frozen=True)
class Throttle:
    #: Wrong passwords in a row for one login name before further attempts have to wait.
    max_failures: int
    #: The longest wait.
    max_delay: timedelta
    #: Failures are forgotten this long after the last one (or its wait) ended; also the per-address window.
    window: timedelta
    #: Failures one address may have within ``window`` before its attempts are refused until they age out.
    max_failures_per_ip: int

    def delay_after(self, failures: int) -> timedelta | None:
        """How long the next attempt waits after ``failures`` wrong passwords in a row (None: not at all)."""
        if failures < self.max_failures:
            return None
        return min(timedelta(seconds=2 ** min(failures - self.max_failures, 20)), self.max_delay)


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    #: Set when the attempt was refused without checking the password: how long until one may be checked.
    retry_after: timedelta | None = None


def authenticate(login: str, password: str, ip: str | None, throttle: Throttle,
                 moment: datetime | None = None) -> LoginResult:
    """The user when the credentials are right and no wait is due; failures are counted and audited.

    The name's counter stays locked until the caller commits, which it must do whatever the outcome."""
    key = login.strip().lower()[:LOGIN_MAX]
    now = moment or utcnow()
    counter = _lock_counter(key)
    _prune(key, now, throttle)
    if counter.forget_at is not None and counter.forget_at <= now:
        counter.failures, counter.wait_until = 0, None
    if counter.wait_until is not None and counter.wait_until > now:
        audit.record("auth.login_throttled", actor=None, object_type="login", object_id=key, ip=ip)
        return LoginResult(None, retry_after=counter.wait_until - now)
    address_wait = _address_wait(ip, now, throttle)
    if address_wait is not None:
        audit.record("auth.login_throttled", actor=None, object_type="address", object_id=ip, ip=ip)
        return LoginResult(None, retry_after=address_wait)

    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.login) == key))
    # Verified in every case (an unknown login against a dummy hash): the time must not tell who exists.
    right = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not right or not user.active:
        _count_failure(counter, user, key, ip, now, throttle)
        return LoginResult(None)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    db.session.delete(counter)
    audit.record("auth.login", actor=user, obj=user, ip=ip)
    db.session.flush()
    return LoginResult(user)


def _lock_counter(key: str) -> LoginThrottle:
    """The counter of login name ``key``, created if need be and locked (PostgreSQL: until the commit; SQLite
    has one writer at a time anyway). One atomic statement: ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (insert(LoginThrottle).values(login=key, failures=0)
                 .on_conflict_do_update(index_elements=[LoginThrottle.login], set_={"login": key})
                 .returning(LoginThrottle))
    return db.session.scalars(statement, execution_options={"populate_existing": True}).one()


def _prune(key: str, now: datetime, throttle: Throttle) -> None:
    """Delete forgotten counters (not ``key``'s, which this attempt holds) and failures older than the window;
    rows another attempt holds are skipped, so attempts never wait for each other here."""
    old_counters = (sa.select(LoginThrottle.login)
                    .where(LoginThrottle.forget_at <= now, LoginThrottle.login != key)
                    .limit(PRUNE_BATCH).with_for_update(skip_locked=True))
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.login.in_(old_counters))
                       .execution_options(synchronize_session=False))
    old_failures = (sa.select(LoginFailure.id).where(LoginFailure.at < now - throttle.window)
                    .limit(PRUNE_BATCH).with_for_update(skip_locked=True))
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.id.in_(old_failures))
                       .execution_options(synchronize_session=False))


def _address_wait(ip: str | None, now: datetime, throttle: Throttle) -> timedelta | None:
    """How long ``ip`` has to wait, when its failures within the window reached the limit."""
    if not ip:
        return None
    recent = (sa.select(LoginFailure.at).where(LoginFailure.ip == ip, LoginFailure.at > now - throttle.window)
              .order_by(LoginFailure.at.desc()).limit(throttle.max_failures_per_ip).subquery())
    count, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(recent.c.at))).one()
    if count < throttle.max_failures_per_ip:
        return None
    return max(oldest + throttle.window - now, timedelta(seconds=1))


def _count_failure(counter: LoginThrottle, user: User | None, key: str, ip: str | None, now: datetime,
                   throttle: Throttle) -> None:
    counter.failures += 1
    delay = throttle.delay_after(counter.failures)
    counter.wait_until = now + delay if delay is not None else None
    counter.forget_at = (counter.wait_until or now) + throttle.window
    db.session.add(LoginFailure(login=key, ip=ip, at=now))
    audit.record("auth.login_failed", actor=None, object_type="login", object_id=key, ip=ip)
    if counter.failures == throttle.max_failures and user is not None:
        _tell_the_holder(user, counter.failures, now)
    db.session.flush()


def _tell_the_holder(user: User, failures: int, now: datetime) -> None:
    """Log-ins to ``user``'s account now have to wait: never without their knowing (but at most once a day, so
    that nobody can flood them with these notices)."""
    audit.record("auth.login_slowed", actor=None, obj=user, after={"failures": failures})
    told = db.session.scalar(sa.select(Notification.id).where(
        Notification.user_id == user.id, Notification.kind == SLOWED, Notification.created_at > now - NOTICE_INTERVAL)
        .limit(1))
    if told is not None:
        return
    notifications.notify(
        user, SLOWED, title=_l("Several wrong passwords were entered for your account"),
        body=_l("Someone entered a wrong password for your login name %(n)d times in a row, so further attempts now "
                "have to wait, a little longer each time. If that was you, wait a moment and try again. If it was "
                "not, your account is safe as long as your password is not easy to guess; change it on the "
                "account security page if in doubt.", n=failures),
        link="/auth/security")
