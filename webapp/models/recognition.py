"""The yearly recognition batch (Dali [003] 八、1.(2)①: "对教师的线上线下研修学时学分每年一认定"): a county
closes a school year, and what each school's teachers had then is kept as it was."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, append_only, utcnow
from webapp.models.org import Org
from webapp.models.user import User


class RecognitionBatch(Base):
    """One closed school year of one county (or any organisation above schools). Never changed: the report is
    the snapshot taken when it was closed; entries of that year recorded later are corrections, shown as such."""

    __tablename__ = "recognition_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"), index=True)
    #: The school-year key of the rule sets' calendar, e.g. ``2020-2021``.
    school_year: Mapped[str] = mapped_column(sa.String(20))
    year_start: Mapped[date] = mapped_column(sa.Date)
    #: Inclusive; the day the standings of the report are taken on.
    year_end: Mapped[date] = mapped_column(sa.Date)
    closed_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    teachers: Mapped[int] = mapped_column(default=0)
    schools: Mapped[int] = mapped_column(default=0)
    #: The summary per school (see webapp/services/recognition.py for its shape).
    report: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    org: Mapped[Org] = relationship()
    closed_by: Mapped[User | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("org_id", "school_year"),)

    def __repr__(self) -> str:
        return f"<RecognitionBatch {self.org_id} {self.school_year}>"


class RecognitionBatchIsFinal(RuntimeError):
    """A closed year's report is never changed."""


append_only(RecognitionBatch, RecognitionBatchIsFinal, "recognition batch %(id)s is final",
            "recognition batch %(id)s is final")
