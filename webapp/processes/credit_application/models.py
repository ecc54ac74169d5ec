"""Credit-hour applications (学时申请) and their evidence files: the business record a credit_application
instance references; the workflow holds the flow."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, str_enum, utcnow
from webapp.models.org import Org
from webapp.models.user import User
from webapp.models.workflow import ProcessInstance

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")
Amount = sa.Numeric(9, 2, asdecimal=False)


class ApplicationStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    RECOGNISED = "recognised"
    #: An administrator cancelled its process (the reason is in ``return_reason``).
    CANCELLED = "cancelled"


#: Statuses whose evidence no longer blocks another application from using the same file.
RELEASED_STATUSES = (ApplicationStatus.WITHDRAWN, ApplicationStatus.REJECTED, ApplicationStatus.CANCELLED)


class Application(Base):
    __tablename__ = "application"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    #: The teacher's primary subgroup, else their school: where the review chain starts.
    subject_org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"), index=True)
    rule_set_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rule_set.id", ondelete="RESTRICT"))
    category: Mapped[str] = mapped_column(sa.String(64))
    item_code: Mapped[str | None] = mapped_column(sa.String(64))
    level: Mapped[str | None] = mapped_column(sa.String(16))
    organiser: Mapped[str] = mapped_column(sa.String(200), default="")
    start_date: Mapped[date] = mapped_column(sa.Date)
    end_date: Mapped[date] = mapped_column(sa.Date)
    hours_requested: Mapped[float] = mapped_column(Amount)
    hours_approved: Mapped[float | None] = mapped_column(Amount)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[ApplicationStatus] = mapped_column(str_enum(ApplicationStatus, "status"),
                                                      default=ApplicationStatus.DRAFT)
    #: Why it was last returned (a reviewer's comment or the automatic checks' findings).
    return_reason: Mapped[str | None] = mapped_column(sa.Text)
    instance_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("process_instance.id", ondelete="SET NULL"), unique=True)
    credit_entry_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("credit_entry.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    teacher: Mapped[User] = relationship(foreign_keys=[teacher_id])
    subject_org: Mapped[Org] = relationship()
    instance: Mapped[ProcessInstance | None] = relationship()
    evidence: Mapped[list[Evidence]] = relationship(back_populates="application", cascade="all, delete-orphan",
                                                    order_by="Evidence.id")

    __table_args__ = (
        sa.CheckConstraint("hours_requested > 0", name="hours_requested_positive"),
        sa.CheckConstraint("hours_approved IS NULL OR hours_approved >= 0", name="hours_approved_not_negative"),
        sa.CheckConstraint("end_date >= start_date", name="dates_in_order"),
    )


class Evidence(Base):
    """One uploaded file backing an application, stored once per content under ``EVIDENCE_DIR``."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    #: Relative to ``EVIDENCE_DIR``: ``<sha256[:2]>/<sha256>``.
    storage_path: Mapped[str] = mapped_column(sa.String(200))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="evidence")

    __table_args__ = (sa.UniqueConstraint("application_id", "sha256"),)
