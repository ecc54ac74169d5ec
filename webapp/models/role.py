"""Roles held at an organisation, and out-of-office delegations."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TimestampMixin, TZDateTime, str_enum, utcnow
from webapp.models.org import Org
from webapp.models.user import User


class Role(enum.StrEnum):
    """Role codes: the contract between BPMN diagrams (lanes, candidateGroups) and the application."""

    TEACHER = "teacher"
    SUBGROUP_LEADER = "subgroup_leader"
    SCHOOL_OFFICER = "school_officer"
    PRINCIPAL = "principal"
    RESEARCHER = "researcher"
    COUNTY_OFFICER = "county_officer"
    BUREAU_OFFICER = "bureau_officer"
    EXPERT = "expert"
    DESIGNER = "designer"
    ADMIN = "admin"


ROLE_CODES = frozenset(role.value for role in Role)


class RoleAssignment(TimestampMixin, Base):
    """``user`` holds ``role`` for ``org`` and everything below it, between the two dates (inclusive)."""

    __tablename__ = "role_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"))
    valid_from: Mapped[date | None] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    user: Mapped[User] = relationship()
    org: Mapped[Org] = relationship()

    __table_args__ = (
        sa.Index("ix_role_assignment_role_org_id", "role", "org_id"),
        sa.CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="valid_period"),
    )

    def is_valid_on(self, day: date) -> bool:
        return (self.active and (self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or day <= self.valid_to))


class Delegation(TimestampMixin, Base):
    """While ``from_user`` is away, ``to_user`` acts for them in ``role`` (or in every role when empty)."""

    __tablename__ = "delegation"

    id: Mapped[int] = mapped_column(primary_key=True)
    from_user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    to_user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role | None] = mapped_column(str_enum(Role, "role"))
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    from_user: Mapped[User] = relationship(foreign_keys=[from_user_id])
    to_user: Mapped[User] = relationship(foreign_keys=[to_user_id])

    __table_args__ = (
        sa.CheckConstraint("valid_to >= valid_from", name="valid_period"),
        sa.CheckConstraint("from_user_id <> to_user_id", name="not_self"),
    )

    def is_valid_on(self, day: date) -> bool:
        return self.active and self.valid_from <= day <= self.valid_to

    def revoke(self) -> None:
        self.active = False
        self.revoked_at = utcnow()
