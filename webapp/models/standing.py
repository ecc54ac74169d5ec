"""Where each teacher stands against each requirement line, computed ahead for the compliance overviews.

One row per teacher and line (a category, or ``""`` for the period's total) of every period containing the day
the row was computed for, plus one summary row per teacher (``period_kind == ""``) holding the teacher's worst
status. The rows are derived from the ledger and the rule sets (``webapp.services.standings`` rewrites them);
the overviews read them only through ``GROUP BY`` aggregates.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, TZDateTime, str_enum
from webapp.models.ledger import Amount, BigId


class StandingStatus(enum.StrEnum):
    """Disjoint: a line below its minimum is either at risk (behind the period's pace) or not met yet."""

    MET = "met"
    NOT_MET = "not_met"
    AT_RISK = "at_risk"
    NO_MINIMUM = "no_minimum"
    #: Summary row only: no rule set is in force for the teacher's organisation.
    NO_RULES = "no_rules"


class CreditStanding(Base):
    __tablename__ = "credit_standing"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    #: The school the teacher's role is held at (the organisation itself when no school is above it).
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="CASCADE"))
    #: The day the standing was computed for.
    as_of: Mapped[date] = mapped_column(sa.Date)
    #: ``semester``, ``school_year`` or a cycle's code; ``""`` on the teacher's summary row.
    period_kind: Mapped[str] = mapped_column(sa.String(60))
    period_key: Mapped[str] = mapped_column(sa.String(24), default="")
    period_name: Mapped[str] = mapped_column(sa.String(100), default="")
    period_start: Mapped[date | None] = mapped_column(sa.Date)
    period_end: Mapped[date | None] = mapped_column(sa.Date)
    #: A category code, or ``""`` for the period's total.
    category: Mapped[str] = mapped_column(sa.String(60), default="")
    line_name: Mapped[str] = mapped_column(sa.String(100), default="")
    #: What ``counted`` and ``minimum`` are measured in: ``hours`` or ``credits``.
    measure: Mapped[str] = mapped_column(sa.String(16), default="hours")
    counted: Mapped[float] = mapped_column(Amount, default=0)
    counted_hours: Mapped[float] = mapped_column(Amount, default=0)
    counted_credits: Mapped[float] = mapped_column(Amount, default=0)
    minimum: Mapped[float | None] = mapped_column(Amount)
    exclusive: Mapped[bool] = mapped_column(default=False)
    status: Mapped[StandingStatus] = mapped_column(str_enum(StandingStatus, "status"))
    computed_at: Mapped[datetime] = mapped_column(TZDateTime())

    __table_args__ = (
        sa.UniqueConstraint("user_id", "period_kind", "category"),
        sa.Index("ix_credit_standing_school_id_period_kind_category", "school_id", "period_kind", "category"),
        sa.Index("ix_credit_standing_as_of", "as_of"),
        sa.CheckConstraint("measure IN ('hours', 'credits')", name="measure"),
    )

    def __repr__(self) -> str:
        return f"<CreditStanding user={self.user_id} {self.period_kind}/{self.category or 'total'} {self.status}>"


class SchoolStanding(Base):
    """The standings of one school's teachers added up per requirement line: ``credit_standing`` grouped by
    school, period and line, kept by ``webapp.services.standings`` whenever a teacher of the school is recomputed,
    so that a city's overview reads ~10,000 rows rather than aggregate a million. The summary rows
    (``period_kind == ""``) count the teachers by their worst status."""

    __tablename__ = "credit_standing_school"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="CASCADE"))
    period_kind: Mapped[str] = mapped_column(sa.String(60))
    period_key: Mapped[str] = mapped_column(sa.String(24))
    period_name: Mapped[str] = mapped_column(sa.String(100))
    period_start: Mapped[date | None] = mapped_column(sa.Date)
    period_end: Mapped[date | None] = mapped_column(sa.Date)
    category: Mapped[str] = mapped_column(sa.String(60))
    line_name: Mapped[str] = mapped_column(sa.String(100))
    measure: Mapped[str] = mapped_column(sa.String(16))
    teachers: Mapped[int]
    met: Mapped[int]
    not_met: Mapped[int]
    at_risk: Mapped[int]
    no_minimum: Mapped[int]
    no_rules: Mapped[int]
    counted: Mapped[float] = mapped_column(sa.Numeric(14, 2, asdecimal=False))
    counted_hours: Mapped[float] = mapped_column(sa.Numeric(14, 2, asdecimal=False))
    minimum_low: Mapped[float | None] = mapped_column(Amount)
    minimum_high: Mapped[float | None] = mapped_column(Amount)
    exclusive: Mapped[bool]
    as_of_low: Mapped[date] = mapped_column(sa.Date)
    as_of_high: Mapped[date] = mapped_column(sa.Date)
    computed_at: Mapped[datetime] = mapped_column(TZDateTime())

    __table_args__ = (sa.UniqueConstraint("school_id", "period_kind", "period_key", "category", "measure",
                                          name="uq_credit_standing_school_line"),)
