"""Log-ins: the sessions people are logged in with, and the failed attempts that slow further ones down."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, utcnow
from webapp.models.user import User


class UserSession(Base):
    """One log-in on one device. Its cookie (and the remember-me cookie) carries a random key, of which only the
    sha256 is kept here; deleting the row ends the log-in wherever its cookies are."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: "Keep me logged in": the session lasts its full lifetime rather than ending when idle.
    remember: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime(), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed log-ins in a row for one login name, whether or not an account has it. One row per name, locked
    by every attempt, so concurrent attempts count exactly; forgotten after a quiet while or a log-in."""

    __tablename__ = "login_throttle"

    #: The login name as typed, lower-cased.
    login: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    #: No attempt for this name is checked before this moment.
    wait_until: Mapped[datetime | None] = mapped_column(TZDateTime())
    #: From this moment the failures no longer count (and the row may be deleted).
    forget_at: Mapped[datetime | None] = mapped_column(TZDateTime(), index=True)


class LoginFailure(Base):
    """A failed login, kept for the per-address limit; old rows are pruned on later login attempts."""

    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, index=True)
