"""Log-in sessions kept on the server: started at log-in, found on every request, ended at log-out.

The cookie holds a random key (signed, like every Flask session value); the table keeps only its sha256. Ending a
session deletes its row, which refuses the session cookie and the remember-me cookie alike, wherever they are.
Like every service this flushes and never commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.models.base import utcnow
from webapp.services import audit

#: ``last_seen_at`` is written at most this often, so a busy session does not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)
USER_AGENT_MAX = 255
#: Expired sessions deleted per log-in.
PRUNE_BATCH = 100


@dataclass(frozen=True)
class Lifetimes:
    #: A session without "keep me logged in" ends after this long without use.
    idle: timedelta
    #: One with it ends this long after the log-in (as its cookie does).
    remembered: timedelta


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def start(user: User, *, remember: bool, lifetimes: Lifetimes, ip: str | None = None,
          user_agent: str | None = None) -> tuple[UserSession, str]:
    """A new session for ``user``; returns it and its key (for the cookie; only its hash is stored).

    Sessions that have expired, anyone's, are deleted on the way (a batch at a time, skipping rows another
    transaction holds, so log-ins never wait for each other here)."""
    now = utcnow()
    expired = (sa.select(UserSession.id).where(UserSession.expires_at <= now)
               .limit(PRUNE_BATCH).with_for_update(skip_locked=True))
    db.session.execute(sa.delete(UserSession).where(UserSession.id.in_(expired))
                       .execution_options(synchronize_session=False))
    key = secrets.token_urlsafe(32)
    record = UserSession(user_id=user.id, key_hash=hash_key(key), remember=remember, created_at=now,
                         last_seen_at=now, expires_at=now + (lifetimes.remembered if remember else lifetimes.idle),
                         ip=ip, user_agent=(user_agent or "")[:USER_AGENT_MAX] or None)
    db.session.add(record)
    db.session.flush()
    return record, key


def find(key: str) -> UserSession | None:
    """The unexpired session with ``key``, its user loaded with it: one query on a unique index."""
    return db.session.scalar(sa.select(UserSession).options(joinedload(UserSession.user))
                             .where(UserSession.key_hash == hash_key(key), UserSession.expires_at > utcnow()))


def touch(record: UserSession, lifetimes: Lifetimes, moment: datetime | None = None) -> bool:
    """Note that ``record`` was used (at most once per :data:`TOUCH_INTERVAL`; True when written). A session
    without "keep me logged in" then lasts another ``lifetimes.idle``."""
    now = moment or utcnow()
    if record.last_seen_at > now - TOUCH_INTERVAL:
        return False
    record.last_seen_at = now
    if not record.remember:
        record.expires_at = now + lifetimes.idle
    db.session.flush()
    return True


def of(user: User) -> list[UserSession]:
    """``user``'s unexpired sessions, the most recently used first."""
    return list(db.session.scalars(sa.select(UserSession)
                                   .where(UserSession.user_id == user.id, UserSession.expires_at > utcnow())
                                   .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())))


def get_own(user: User, session_id: int) -> UserSession | None:
    record = db.session.get(UserSession, session_id)
    return record if record is not None and record.user_id == user.id else None


def end(record: UserSession) -> None:
    """End one session: its cookies stop working at once (the log-out view audits it as ``auth.logout``)."""
    db.session.delete(record)
    db.session.flush()


def revoke(record: UserSession, *, actor: User, ip: str | None = None) -> None:
    """End one of ``actor``'s other sessions from the account's security page; audited."""
    audit.record("auth.session_revoke", actor=actor, obj=record,
                 after={"user_agent": record.user_agent, "ip": record.ip}, ip=ip)
    end(record)


def end_all(user: User, *, keep: UserSession | None = None) -> int:
    """End every session of ``user`` but ``keep``; returns how many ended."""
    query = sa.delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    return db.session.execute(query).rowcount or 0
