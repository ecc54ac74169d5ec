"""The daily digest emails of pending tasks: one row per person and day, so nobody gets two."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, TZDateTime, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class TaskDigest(Base):
    """Claimed (committed) before the email leaves and unique per user and day: a digest goes out at most once,
    however many workers run the job and however often."""

    __tablename__ = "task_digest"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    #: The day in the configured time zone (TIMEZONE) the digest is for.
    day: Mapped[date] = mapped_column(sa.Date)
    #: Open tasks the person could act on when the digest was written.
    task_count: Mapped[int] = mapped_column(sa.Integer)
    claimed_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, server_default=sa.func.now())
    #: None while the email is being sent (or if the sender died: it is then not sent again that day).
    sent_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    __table_args__ = (sa.UniqueConstraint("user_id", "day"),)
