"""Scoring rubrics (评估量表): immutable versions of the YAML files in ``rubrics/``, and which evaluations use them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, append_only, utcnow
from webapp.models.user import User

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")
#: Points: exact on PostgreSQL, handed to Python as floats.
Points = sa.Numeric(7, 2, asdecimal=False)


class Rubric(Base):
    """A rubric by its code (``school-based-training``); its content lives in its versions."""

    __tablename__ = "rubric"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(100), unique=True)
    #: The title of the latest version.
    title: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    versions: Mapped[list[RubricVersion]] = relationship(back_populates="rubric",
                                                         order_by="RubricVersion.version.desc()")

    def __repr__(self) -> str:
        return f"<Rubric {self.code}>"


class RubricVersion(Base):
    """One immutable version of a rubric: the tree of dimensions and indicators, the grade bands, how experts'
    scores are aggregated and when they disagree. Never changed or deleted: a change is a new version."""

    __tablename__ = "rubric_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_id: Mapped[int] = mapped_column(sa.ForeignKey("rubric.id", ondelete="RESTRICT"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    #: Why the numbers are what they are (the seeds give none: they are defaults to be set by the bureau).
    note: Mapped[str] = mapped_column(sa.Text)
    #: ``[{code, name, indicators: [{code, name, max_points, guidance, evidence, evidence_required, veto,
    #: pass_mark, source: [...]}]}]``
    tree: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    #: ``[{grade, min}]`` from the highest; the last band has no ``min`` (everything below).
    bands: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    #: The grade a failed veto indicator caps the result at.
    veto_grade: Mapped[str] = mapped_column(sa.String(40))
    aggregation: Mapped[str] = mapped_column(sa.String(20))
    #: ``trimmed_mean`` drops each indicator's highest and lowest score from this many experts on.
    trim_from_experts: Mapped[int]
    #: A spread (highest − lowest) above this many points on any indicator calls for reconciliation.
    disagreement_threshold: Mapped[float] = mapped_column(Points)
    total_points: Mapped[float] = mapped_column(Points)
    effective_from: Mapped[date] = mapped_column(sa.Date)
    #: sha256 of the canonical content; loading the same content again is a no-op.
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    #: The YAML text this version was made from.
    source_yaml: Mapped[str] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    rubric: Mapped[Rubric] = relationship(back_populates="versions")
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("rubric_id", "version"),
        sa.CheckConstraint("aggregation IN ('mean', 'trimmed_mean')", name="aggregation"),
        sa.CheckConstraint("total_points > 0 AND disagreement_threshold >= 0 AND trim_from_experts >= 3",
                           name="positive"),
    )

    def __repr__(self) -> str:
        return f"<RubricVersion {self.rubric_id} v{self.version}>"

    def indicators(self) -> list[dict[str, Any]]:
        """Every indicator in tree order, each with its dimension's ``dimension`` code and ``dimension_name``."""
        return [{**indicator, "dimension": dimension["code"], "dimension_name": dimension["name"]}
                for dimension in self.tree for indicator in dimension["indicators"]]


class RubricUse(Base):
    """A process's evaluation (an instance) scores with this version; the version stays as it is for it."""

    __tablename__ = "rubric_use"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("rubric_version.id", ondelete="RESTRICT"), index=True)
    #: The BPMN process id of the process that uses it (``school_evaluation``).
    process_key: Mapped[str] = mapped_column(sa.String(100))
    instance_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("process_instance.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    version: Mapped[RubricVersion] = relationship()

    __table_args__ = (sa.UniqueConstraint("version_id", "process_key", "instance_id"),)


class RubricVersionIsImmutable(RuntimeError):
    """Raised on any attempt to change or delete a rubric version; make a new version instead."""


append_only(RubricVersion, RubricVersionIsImmutable, "rubric version %(id)s is immutable; make a new version instead",
            "rubric version %(id)s is immutable; make a new version instead")
