"""A CSV import running in the background: the uploaded file, where it has got to, and each row's outcome."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.audit import AuditEvent
from webapp.models.base import Base, TZDateTime, str_enum, utcnow
from webapp.models.user import User


class ImportJobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(Base):
    """Rows are imported in chunks, each committed with ``processed_rows`` and the rows' outcomes, so a job cut
    off (a worker dies, a deploy) resumes after the last committed chunk and never imports a row twice."""

    __tablename__ = "import_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``orgs`` or ``users``.
    kind: Mapped[str] = mapped_column(sa.String(16))
    filename: Mapped[str] = mapped_column(sa.String(200))
    #: The uploaded file as sent (at most ``CSV_IMPORT_MAX_BYTES``); workers on other hosts read it from here.
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    status: Mapped[ImportJobStatus] = mapped_column(str_enum(ImportJobStatus, "status"),
                                                    default=ImportJobStatus.QUEUED)
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    #: One entry per processed row: row number, key, status, errors (and the values of a rejected row,
    #: secrets blanked), as the finished report holds them.
    results: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list, deferred=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    #: The uploader's language: row messages are written in it.
    locale: Mapped[str] = mapped_column(sa.String(16))
    password_min_length: Mapped[int] = mapped_column(default=8)
    #: The ``*.import`` audit event holding the report, once done.
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("audit_event.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    actor: Mapped[User | None] = relationship()
    event: Mapped[AuditEvent | None] = relationship()

    __table_args__ = (sa.Index("ix_import_job_unfinished", "status", "updated_at"),)
