"""In-app notifications (the bell), each optionally also sent by email."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, utcnow
from webapp.models.user import User

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class Notification(Base):
    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    #: What happened, e.g. ``application.returned``; templates and filters key on it.
    kind: Mapped[str] = mapped_column(sa.String(64))
    #: Already in the recipient's language when written (their locale at that moment).
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: A path inside YanXun to open, e.g. ``/inbox/tasks/42``.
    link: Mapped[str | None] = mapped_column(sa.String(300))
    instance_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    #: Set when the email copy was handed to the mail server (None: not sent, or no email wanted).
    emailed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    email_error: Mapped[str | None] = mapped_column(sa.Text)

    user: Mapped[User] = relationship()

    __table_args__ = (sa.Index("ix_notification_user_id_read_at", "user_id", "read_at"),)
