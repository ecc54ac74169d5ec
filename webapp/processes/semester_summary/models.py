"""The business records of a semester summary (学期总结与自查): each teacher's personal summary with its outcome
files, each subgroup's summary, and the school's summary and self-check. Business records hold the facts; the
``semester_summary`` instance holds the flow and is referenced by ``instance_id``."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, str_enum, utcnow
from webapp.models.org import Org
from webapp.models.user import User

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class PersonalStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    #: The teacher left the school (moved, deactivated, no longer a teacher there) before submitting.
    WITHDRAWN = "withdrawn"
    #: Not submitted when the school closed the collection (截止收集).
    MISSING = "missing"


class AttachmentKind(enum.StrEnum):
    """[003] 第五步 "完成案例分析、论文、研修日志、个人教学风格总结等成果"."""

    CASE_ANALYSIS = "case_analysis"
    PAPER = "paper"
    LOG = "log"
    STYLE_SUMMARY = "style_summary"


class SelfCheckStatus(enum.StrEnum):
    DONE = "done"  # 已落实
    PARTIAL = "partial"  # 部分落实
    NOT_DONE = "not_done"  # 未落实


class CountyDecision(enum.StrEnum):
    ACCEPTED = "accepted"
    RETURNED = "returned"


#: The school's duties the self-check evidences, [000] 第23条 "做好校本培训规划的制定和校本培训方案的审定工作；做好培训
#: 学分审核与认定工作；做好校本培训评价与成果总结交流工作；做好校本培训资料立卷建档工作".
SELF_CHECK_DUTIES = ("planning", "credit_review", "evaluation", "archiving")


class PersonalSummary(Base):
    __tablename__ = "summary_personal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("process_instance.id", ondelete="CASCADE"),
                                             index=True)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign.id", ondelete="SET NULL"), index=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"))
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    #: The campaign's period key, e.g. ``2026-2027-1``.
    period: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[PersonalStatus] = mapped_column(str_enum(PersonalStatus, "status"), default=PersonalStatus.DRAFT)
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: The semester's hours from the ledger when the teacher submitted: {"categories": {code: hours}, "lines": [...]}.
    hours: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    submitted_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    withdrawn_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)

    teacher: Mapped[User] = relationship()
    school: Mapped[Org] = relationship()
    attachments: Mapped[list[SummaryAttachment]] = relationship(
        back_populates="summary", cascade="all, delete-orphan", order_by="SummaryAttachment.id")

    __table_args__ = (sa.UniqueConstraint("instance_id", "teacher_id"),)


class SummaryAttachment(Base):
    """One outcome file of a personal summary, stored once per content (``webapp.services.uploads``)."""

    __tablename__ = "summary_attachment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    personal_summary_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("summary_personal.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(str_enum(AttachmentKind, "kind"))
    file_name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_path: Mapped[str] = mapped_column(sa.String(200))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    summary: Mapped[PersonalSummary] = relationship(back_populates="attachments")

    __table_args__ = (sa.UniqueConstraint("personal_summary_id", "kind", "sha256"),)


class SubgroupSummary(Base):
    __tablename__ = "summary_subgroup"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("process_instance.id", ondelete="CASCADE"),
                                             index=True)
    subgroup_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"))
    leader_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    subgroup: Mapped[Org] = relationship()
    leader: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("instance_id", "subgroup_id"),)


class SchoolSummary(Base):
    """The school's summary and self-check ([000] 第26条 "学校每学年都应进行校本培训工作的总结和自查")."""

    __tablename__ = "summary_school"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("process_instance.id", ondelete="CASCADE"),
                                             unique=True)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign.id", ondelete="SET NULL"), index=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"), index=True)
    period: Mapped[str] = mapped_column(sa.String(40))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: Duty code (:data:`SELF_CHECK_DUTIES`) -> {"status": SelfCheckStatus value, "note": text}.
    self_check: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: Newsletters issued this semester ([003] "学校完成不少于2期的研修简报").
    newsletters: Mapped[int] = mapped_column(default=0)
    #: The ledger's figures for the semester when the school compiled (see ``summaries.aggregates``).
    aggregates: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: [{"login", "name", "status"}] of the teachers whose personal summary did not come in.
    missing_teachers: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    compiled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    compiled_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    signed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    signed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    #: The principal's comment (required when returning it to the school officer).
    sign_comment: Mapped[str | None] = mapped_column(sa.Text)
    county_decision: Mapped[CountyDecision | None] = mapped_column(str_enum(CountyDecision, "county_decision"))
    county_comment: Mapped[str | None] = mapped_column(sa.Text)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    #: How many times the principal or the county sent it back.
    returned_count: Mapped[int] = mapped_column(default=0)

    school: Mapped[Org] = relationship()
    compiled_by: Mapped[User | None] = relationship(foreign_keys=[compiled_by_id])
    signed_by: Mapped[User | None] = relationship(foreign_keys=[signed_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (sa.CheckConstraint("newsletters >= 0", name="newsletters_not_negative"),)
