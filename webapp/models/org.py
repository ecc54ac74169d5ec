"""Organisations: the city → county → school → subgroup tree that scopes every role."""

from __future__ import annotations

import enum
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TimestampMixin, str_enum


class OrgType(enum.StrEnum):
    CITY = "city"
    COUNTY = "county"
    SCHOOL_GROUP = "school_group"
    ZONE = "zone"
    SCHOOL = "school"
    SUBGROUP = "subgroup"
    INSTITUTE = "institute"


class SchoolStage(enum.StrEnum):
    KINDERGARTEN = "kindergarten"
    PRIMARY = "primary"
    JUNIOR = "junior"
    SENIOR = "senior"
    NINE_YEAR = "nine_year"
    COMPLETE = "complete"
    VOCATIONAL = "vocational"
    SPECIAL = "special"


#: Which types may sit directly under which (None = a root).
ALLOWED_PARENTS: dict[OrgType, set[OrgType | None]] = {
    OrgType.CITY: {None},
    OrgType.COUNTY: {OrgType.CITY, None},
    OrgType.SCHOOL_GROUP: {OrgType.COUNTY, OrgType.CITY},
    OrgType.ZONE: {OrgType.COUNTY, OrgType.CITY, OrgType.SCHOOL_GROUP},
    OrgType.SCHOOL: {OrgType.COUNTY, OrgType.CITY, OrgType.SCHOOL_GROUP, OrgType.ZONE},
    OrgType.SUBGROUP: {OrgType.SCHOOL},
    OrgType.INSTITUTE: {OrgType.CITY, OrgType.COUNTY},
}


class Org(TimestampMixin, Base):
    __tablename__ = "org"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable code from the education bureau (e.g. the 10-digit 学校标识码) or one we assign.
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    type: Mapped[OrgType] = mapped_column(str_enum(OrgType, "type"))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"), index=True)
    #: Materialised path of ids from the root, e.g. ``/1/4/17/``: ancestors without recursive queries.
    path: Mapped[str] = mapped_column(sa.String(512), index=True, default="/")
    depth: Mapped[int] = mapped_column(default=0)
    stage: Mapped[SchoolStage | None] = mapped_column(str_enum(SchoolStage, "stage"))
    #: Free label for the kind of unit (教研组, 备课组, 年级组, 研培中心, 研训院 ...).
    kind: Mapped[str | None] = mapped_column(sa.String(40))
    valid_from: Mapped[date | None] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    parent: Mapped[Org | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Org]] = relationship(back_populates="parent", order_by="Org.code")

    __table_args__ = (
        sa.CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="valid_period"),
    )

    def __repr__(self) -> str:
        return f"<Org {self.code} {self.name}>"

    @property
    def ancestor_ids(self) -> list[int]:
        """Ids from this org up to the root, nearest first (this org included)."""
        return [int(part) for part in reversed(self.path.strip("/").split("/")) if part]

    def is_valid_on(self, day: date) -> bool:
        return (self.active and (self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or day <= self.valid_to))
