"""Certificates of recognised training hours (学时证明, and the completion certificates a rule set defines), and
their revocations. Both are append-only: what was issued stays as it was; a wrong certificate is revoked."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, append_only, utcnow
from webapp.models.ledger import BigId, RuleSet
from webapp.models.org import Org
from webapp.models.user import User

#: ``Certificate.kind`` of the plain 学时证明; any other kind is the code of a certificate of the rule set.
HOURS = "hours"


class Certificate(Base):
    """One issued certificate: what its PDF states (``content``), the PDF itself and its sha256, and the
    verification code printed on it (``code``: serial and check characters, without separators)."""

    __tablename__ = "certificate"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    #: The teacher's school when it was issued.
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"))
    #: ``hours`` (学时证明) or the code of a certificate the rule set defines (``completion``...).
    kind: Mapped[str] = mapped_column(sa.String(60))
    rule_set_id: Mapped[int] = mapped_column(sa.ForeignKey("rule_set.id", ondelete="RESTRICT"))
    #: ``semester``, ``school_year`` or a cycle's code, and the period's key (``2026-2027-1``...).
    period_kind: Mapped[str] = mapped_column(sa.String(60))
    period_key: Mapped[str] = mapped_column(sa.String(24))
    period_start: Mapped[date] = mapped_column(sa.Date)
    period_end: Mapped[date] = mapped_column(sa.Date)
    #: Entries earned up to this day count (the period's end, or the day of issue while it runs).
    as_of: Mapped[date] = mapped_column(sa.Date)
    issued_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    #: Exactly what the PDF states: names, period, hours and credits per category, total, requirement status.
    content: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    pdf_sha256: Mapped[str] = mapped_column(sa.String(64))
    pdf: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)

    teacher: Mapped[User] = relationship(foreign_keys=[teacher_id])
    org: Mapped[Org | None] = relationship(foreign_keys=[org_id])
    rule_set: Mapped[RuleSet] = relationship()
    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])
    revocation: Mapped[CertificateRevocation | None] = relationship(back_populates="certificate", uselist=False)

    __table_args__ = (sa.CheckConstraint("period_start <= as_of AND as_of <= period_end", name="as_of_in_period"),)

    def __repr__(self) -> str:
        return f"<Certificate {self.id} {self.kind} user={self.teacher_id} {self.period_kind} {self.period_key}>"


class CertificateRevocation(Base):
    """An administrator's revocation of a certificate (at most one): the verification page says it is revoked."""

    __tablename__ = "certificate_revocation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificate.id", ondelete="RESTRICT"), unique=True)
    revoked_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(sa.String(500))

    certificate: Mapped[Certificate] = relationship(back_populates="revocation")
    revoked_by: Mapped[User | None] = relationship()


class CertificateIsAppendOnly(RuntimeError):
    """Raised on any attempt to change or delete a certificate or a revocation; revoke it instead."""


append_only(Certificate, CertificateIsAppendOnly, "certificate %(id)s is append-only; revoke it instead",
            "certificate %(id)s is append-only; revoke it instead")
append_only(CertificateRevocation, CertificateIsAppendOnly, "certificate revocation %(id)s is final",
            "certificate revocation %(id)s is final")
