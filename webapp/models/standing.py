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
