"""Declarative base, naming convention and shared column helpers."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class TZDateTime(sa.types.TypeDecorator):
    """Timestamps with time zone everywhere; SQLite gives back naive values, which we mark as UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use an aware datetime (UTC)")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def str_enum(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A VARCHAR column with a CHECK constraint listing the enum's values."""
    return sa.Enum(enum_cls, name=name, native_enum=False, create_constraint=True, length=32,
                   values_callable=lambda members: [m.value for m in members], validate_strings=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow,
                                                 server_default=sa.func.now())


def append_only(model: type, error: type[Exception], on_update: str, on_delete: str) -> None:
    """Refuse, in the ORM, to change or delete rows of ``model`` (the database refuses too, by a trigger):
    ``error`` is raised with ``on_update`` / ``on_delete`` (``%(id)s``: the row's id)."""

    @event.listens_for(model, "before_update")
    def _refuse_update(_mapper, _connection, target) -> None:
        raise error(on_update % {"id": target.id})

    @event.listens_for(model, "before_delete")
    def _refuse_delete(_mapper, _connection, target) -> None:
        raise error(on_delete % {"id": target.id})
