"""Campaigns (研修活动): one process run over many schools at once, for one period, with a deadline per stage.

A county officer launches a campaign (e.g. "2026–2027 学年第一学期总结") over a set of schools; each school gets
its own process instance, pinned to the version deployed at launch. Evaluations and accreditations use the
same building block (DOMAIN.md §3); what a stage is and which tasks belong to it, the process says
(``webapp.services.processes.CampaignSpec``).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, str_enum, utcnow
from webapp.models.org import Org
from webapp.models.user import User
from webapp.models.workflow import ProcessDefinition, ProcessInstance


class CampaignStatus(enum.StrEnum):
    #: Instances are being started in the background (``started`` of ``total`` so far).
    LAUNCHING = "launching"
    OPEN = "open"
    #: Closed by the county: open tasks were cancelled with the recorded reason.
    CLOSED = "closed"


class CampaignSchoolStatus(enum.StrEnum):
    """Where one school of a campaign stands: its instance's start, then the outcome the process records."""

    PENDING = "pending"  # its instance is not started yet
    FAILED = "failed"  # its instance could not be started (``error`` says why)
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"  # the school's work reached the county
    RETURNED = "returned"  # the county sent it back; the school is working on it again
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"  # the campaign was closed before the school finished


class Campaign(Base):
    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(sa.String(100), index=True)
    #: The version every instance of the campaign runs (the latest deployed at launch).
    definition_id: Mapped[int] = mapped_column(sa.ForeignKey("process_definition.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(sa.String(200))
    #: The period key, e.g. ``2026-2027-1`` (first semester); a school takes part once per process and period.
    period: Mapped[str] = mapped_column(sa.String(40))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    #: The organisation that launched it (a county, or a city for a city-wide one).
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"), index=True)
    launched_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    launched_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    status: Mapped[CampaignStatus] = mapped_column(str_enum(CampaignStatus, "status"), default=CampaignStatus.LAUNCHING)
    #: Stage key -> deadline (ISO date-time with offset), in the order of the process's stages.
    deadlines: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    #: Reminders go this many days before each deadline.
    remind_days: Mapped[int] = mapped_column(default=3)
    note: Mapped[str | None] = mapped_column(sa.Text)
    total: Mapped[int] = mapped_column(default=0)
    started: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    closed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    close_reason: Mapped[str | None] = mapped_column(sa.Text)

    definition: Mapped[ProcessDefinition] = relationship()
    org: Mapped[Org] = relationship()
    launched_by: Mapped[User | None] = relationship(foreign_keys=[launched_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.process_key} {self.period}>"


class CampaignSchool(Base):
    """One school of a campaign and its instance."""

    __tablename__ = "campaign_school"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"), index=True)
    #: Copies of the campaign's, so that one school cannot take part twice in one process and period.
    process_key: Mapped[str] = mapped_column(sa.String(100))
    period: Mapped[str] = mapped_column(sa.String(40))
    instance_id: Mapped[int | None] = mapped_column(sa.ForeignKey("process_instance.id", ondelete="SET NULL"),
                                                    unique=True)
    status: Mapped[CampaignSchoolStatus] = mapped_column(str_enum(CampaignSchoolStatus, "status"),
                                                         default=CampaignSchoolStatus.PENDING)
    #: Why the instance could not be started, in the reader's words.
    error: Mapped[str | None] = mapped_column(sa.Text)
    returned_count: Mapped[int] = mapped_column(default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    #: Process-specific figures for the board (e.g. personal summaries in / expected).
    facts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    campaign: Mapped[Campaign] = relationship()
    org: Mapped[Org] = relationship()
    instance: Mapped[ProcessInstance | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("process_key", "period", "org_id"),)

    def __repr__(self) -> str:
        return f"<CampaignSchool {self.campaign_id} {self.org_id} {self.status}>"
