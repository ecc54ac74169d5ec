"""People who log in: teachers, leaders, officers, experts, administrators."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TimestampMixin, TZDateTime, str_enum
from webapp.models.org import Org, SchoolStage


class BackboneLevel(enum.StrEnum):
    SCHOOL = "school"
    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"
    NATIONAL = "national"


class EmploymentType(enum.StrEnum):
    """How a teacher is employed; rule sets may address one kind (Sichuan: 公办在编教师)."""

    ESTABLISHED = "established"    # 公办在编
    CONTRACT = "contract"          # 合同制 / 聘用
    SUBSTITUTE = "substitute"      # 代课
    PRIVATE = "private"            # 民办学校


#: Training tiers (分层研修, Dali: 一/二/三层级).
TRAINING_TIERS = (1, 2, 3)


class User(UserMixin, TimestampMixin, Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: The organisation the person works in (school, institute, bureau); roles are separate.
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"), index=True)
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    password_changed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    # Teacher attributes (DOMAIN.md §1: new, backbone, class teacher are attributes, not roles).
    subject: Mapped[str | None] = mapped_column(sa.String(40))
    stage: Mapped[SchoolStage | None] = mapped_column(str_enum(SchoolStage, "stage"))
    title: Mapped[str | None] = mapped_column(sa.String(40))
    hire_date: Mapped[date | None] = mapped_column(sa.Date)
    is_class_teacher: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    backbone_level: Mapped[BackboneLevel | None] = mapped_column(str_enum(BackboneLevel, "backbone_level"))
    #: 一/二/三层级 of layered training (1–3), when the region groups teachers so.
    training_tier: Mapped[int | None] = mapped_column(sa.SmallInteger)
    #: An :class:`EmploymentType` value (checked by the services).
    employment_type: Mapped[str | None] = mapped_column(sa.String(20))

    org: Mapped[Org | None] = relationship()
    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<User {self.login}>"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def __eq__(self, other: object) -> bool:
        # The same account (UserMixin compares get_id(), which is a session key here, or "" for everyone unbound).
        if not isinstance(other, User):
            return NotImplemented
        return self is other or (self.id is not None and self.id == other.id)

    __hash__ = UserMixin.__hash__  # defining __eq__ would otherwise make users unhashable

    def get_id(self) -> str:
        """The key of the log-in session this object was loaded for, which ``webapp.security`` binds to it;
        Flask-Login puts it in the session and remember-me cookies. Unbound: an id that loads nobody."""
        return getattr(self, "_session_key", "")


class Membership(Base):
    """A teacher's place in a subgroup (教研组 / 备课组 / 年级组); a teacher may sit in several."""

    __tablename__ = "membership"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="CASCADE"), primary_key=True, index=True)
    #: The subgroup that reviews the teacher's applications first.
    is_primary: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    user: Mapped[User] = relationship(back_populates="memberships")
    org: Mapped[Org] = relationship()
