"""Credit rule sets (immutable versions of the YAML files in ``rules/``) and the append-only credit ledger."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, append_only, str_enum, utcnow
from webapp.models.org import Org
from webapp.models.user import User

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")
#: Hours and credits: exact on PostgreSQL, handed to Python as floats (rounded to 0.01 by the services).
Amount = sa.Numeric(9, 2, asdecimal=False)


class RuleSet(Base):
    """One immutable version of a rule set, resolved through ``extends`` (see rules/README.md)."""

    __tablename__ = "rule_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The YAML ``id``, e.g. ``dali-2020``.
    code: Mapped[str] = mapped_column(sa.String(100))
    version: Mapped[int]
    #: sha256 of the resolved rule set; loading the same content again is a no-op.
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.String(200))
    #: Document number and seed/section references.
    source: Mapped[str] = mapped_column(sa.Text)
    #: Code of the organisation whose subtree the rules govern (``Org.code``); the org may be created later.
    jurisdiction_code: Mapped[str] = mapped_column(sa.String(64), index=True)
    effective_from: Mapped[date] = mapped_column(sa.Date)
    effective_to: Mapped[date | None] = mapped_column(sa.Date)
    #: The day this version takes effect (``version_effective_from``; the first version: ``effective_from``).
    #: On a day, the version with the latest ``version_from`` not after it applies, so a new version never
    #: changes what an earlier day's compliance was.
    version_from: Mapped[date] = mapped_column(sa.Date)
    #: The first day an entry may be earned on and posted under this rule set: by default the start of the
    #: earliest period (semester, school year, cycle) containing ``effective_from``, so a cycle that began
    #: before the rule set can be completed and its history migrated in.
    entries_from: Mapped[date] = mapped_column(sa.Date)
    extends_code: Mapped[str | None] = mapped_column(sa.String(100))
    #: The resolved rules (parents merged in, defaults filled), as JSON.
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    #: The YAML text of the file this version was loaded from, and its name.
    source_yaml: Mapped[str] = mapped_column(sa.Text)
    file_name: Mapped[str | None] = mapped_column(sa.String(255))
    loaded_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("code", "version"),
        sa.CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="valid_period"),
    )

    def __repr__(self) -> str:
        return f"<RuleSet {self.code} v{self.version}>"

    def covers(self, day: date) -> bool:
        """In force on ``day``: its requirements apply."""
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def accepts(self, day: date) -> bool:
        """Entries earned on ``day`` may be posted under it."""
        return self.entries_from <= day and (self.effective_to is None or day <= self.effective_to)


class EntrySource(enum.StrEnum):
    APPLICATION = "application"
    IMPORT = "import"
    MANUAL = "manual"
    REVERSAL = "reversal"


class CreditEntry(Base):
    """One posting to a teacher's credit ledger. Never updated or deleted: a correction is a reversal entry.

    ``hours``/``credits`` are what was recognised; ``counted_*`` is what counts after the rule set's caps
    (the rest is recorded with ``not_counted_reason``). A reversal negates all four and points at the
    entry it cancels through ``reverses_id`` (unique, so an entry is reversed at most once).
    """

    __tablename__ = "credit_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    #: The organisation the teacher worked in when the entry was posted (their school).
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"))
    rule_set_id: Mapped[int] = mapped_column(sa.ForeignKey("rule_set.id", ondelete="RESTRICT"), index=True)
    category: Mapped[str] = mapped_column(sa.String(60))
    item_code: Mapped[str | None] = mapped_column(sa.String(60))
    #: Training level (national, province, city, county, school) when the conversion depends on it.
    level: Mapped[str | None] = mapped_column(sa.String(16))
    title: Mapped[str | None] = mapped_column(sa.String(200))
    hours: Mapped[float] = mapped_column(Amount)
    credits: Mapped[float] = mapped_column(Amount)
    counted_hours: Mapped[float] = mapped_column(Amount)
    counted_credits: Mapped[float] = mapped_column(Amount)
    not_counted_reason: Mapped[str | None] = mapped_column(sa.String(500))
    earned_on: Mapped[date] = mapped_column(sa.Date)
    #: Period keys under the rule set's calendar, e.g. ``2026-2027`` and ``2026-2027-1``.
    school_year: Mapped[str] = mapped_column(sa.String(20))
    semester: Mapped[str] = mapped_column(sa.String(24))
    source: Mapped[EntrySource] = mapped_column(str_enum(EntrySource, "source"))
    #: What the entry came from: a process instance id, an import batch, a certificate number...
    source_ref: Mapped[str | None] = mapped_column(sa.String(100))
    #: sha256 of the evidence file(s); the same evidence backs at most one entry per category.
    evidence_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    recognised_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    recognised_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"))
    recognised_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(sa.Text)
    reverses_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credit_entry.id", ondelete="RESTRICT"),
                                                    unique=True)
    #: The capped entry this one re-posts after a reversal freed room under the caps (that entry is reversed
    #: in the same step), so what counts follows the corrected ledger without changing any row. No foreign
    #: key: entries are never deleted, so the link cannot dangle.
    replaces_id: Mapped[int | None] = mapped_column(BigId, index=True, unique=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    org: Mapped[Org | None] = relationship(foreign_keys=[org_id])
    rule_set: Mapped[RuleSet] = relationship()
    recognised_by: Mapped[User | None] = relationship(foreign_keys=[recognised_by_id])
    recognised_org: Mapped[Org | None] = relationship(foreign_keys=[recognised_org_id])
    reverses: Mapped[CreditEntry | None] = relationship(remote_side=[id], foreign_keys=[reverses_id])
    replaces: Mapped[CreditEntry | None] = relationship(
        remote_side=[id], foreign_keys=[replaces_id], primaryjoin="CreditEntry.replaces_id == CreditEntry.id")

    __table_args__ = (
        sa.Index("ix_credit_entry_user_id_earned_on", "user_id", "earned_on"),
        sa.Index("ix_credit_entry_org_id_earned_on", "org_id", "earned_on"),
        sa.CheckConstraint(
            "(source = 'reversal' AND reverses_id IS NOT NULL AND hours <= 0 AND credits <= 0"
            " AND counted_hours <= 0 AND counted_credits <= 0)"
            " OR (source <> 'reversal' AND reverses_id IS NULL AND hours >= 0 AND credits >= 0"
            " AND counted_hours >= 0 AND counted_credits >= 0)", name="sign"),
        sa.CheckConstraint("abs(counted_hours) <= abs(hours) AND abs(counted_credits) <= abs(credits)",
                           name="counted_within"),
    )

    def __repr__(self) -> str:
        return f"<CreditEntry {self.id} user={self.user_id} {self.category} {self.hours}h>"

    @property
    def is_reversal(self) -> bool:
        return self.reverses_id is not None


class LedgerIsAppendOnly(RuntimeError):
    """Raised on any attempt to change or delete a credit entry; post a reversal instead."""


append_only(CreditEntry, LedgerIsAppendOnly, "credit entry %(id)s is append-only; post a reversal instead",
            "credit entry %(id)s is append-only; post a reversal instead")
