"""Writing audit events."""

from __future__ import annotations

from typing import Any

from webapp.extensions import db
from webapp.models import AuditEvent, User


def record(action: str, *, actor: User | None, obj: Any = None, object_type: str | None = None,
           object_id: Any = None, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           ip: str | None = None, instance_id: int | None = None) -> AuditEvent:
    """Append one audit event; ``obj`` (a model instance) fills in the object type and id."""
    if obj is not None:
        object_type = object_type or obj.__tablename__
        object_id = object_id if object_id is not None else obj.id
    event = AuditEvent(action=action, actor_id=actor.id if actor else None, object_type=object_type,
                       object_id=None if object_id is None else str(object_id), before=before, after=after, ip=ip,
                       instance_id=instance_id)
    db.session.add(event)
    return event


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The JSON-safe values of ``fields`` on ``obj``, for the before/after of an audit event."""
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif hasattr(value, "value"):
            value = value.value
        values[name] = value
    return values
