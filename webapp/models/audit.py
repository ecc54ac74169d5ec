"""Append-only audit trail of who did what, when, with the data before and after.

Events are never changed or deleted: the ORM refuses here, and a database trigger refuses UPDATE and DELETE
(migration ``0a11ce000012``). Their foreign keys are RESTRICT, so neither an instance nor a user that has
events can be deleted (which would have deleted or blanked its events).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, append_only, utcnow
from webapp.models.user import User
from webapp.models.workflow import ProcessInstance


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    #: Dotted verb, e.g. ``user.create``, ``role.assign``, ``auth.login_failed``.
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    #: Set for workflow events, so an instance's history is one indexed query.
    instance_id: Mapped[int | None] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("process_instance.id", ondelete="RESTRICT"), index=True)

    actor: Mapped[User | None] = relationship()

    __table_args__ = (sa.Index("ix_audit_event_object", "object_type", "object_id"),)


class AuditTrailIsAppendOnly(RuntimeError):
    """Raised on any attempt to change or delete an audit event, or to delete a process instance that has some."""


append_only(AuditEvent, AuditTrailIsAppendOnly, "audit event %(id)s is append-only: it is never changed",
            "audit event %(id)s is append-only: it is never deleted")


@event.listens_for(ProcessInstance, "before_delete")
def _keep_instances_with_history(_mapper, connection, target: ProcessInstance) -> None:
    if connection.scalar(sa.select(sa.exists().where(AuditEvent.instance_id == target.id))):
        raise AuditTrailIsAppendOnly(f"process instance {target.id} has an audit history, which is kept for good: "
                                     "the instance cannot be deleted")

