"""Models to JSON-ready dicts. Timestamps are ISO 8601 with offset; related people and orgs are small refs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from webapp.engine import FormFieldInfo, UserTaskInfo
from webapp.models import (
    ApiToken,
    AuditEvent,
    HumanTask,
    Incident,
    Org,
    ProcessDefinition,
    ProcessInstance,
    TaskComment,
    TaskStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.services.processes import RowSummary


def when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def plain(value: Any) -> Any:
    """Workflow data as JSON: dates as ISO strings, anything unusual as text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return str(value)


def user_ref(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.id, "login": user.login, "display_name": user.display_name}


def org_ref(org: Org | None) -> dict[str, Any] | None:
    return None if org is None else {"id": org.id, "code": org.code, "name": org.name, "type": org.type.value}


def definition(item: ProcessDefinition) -> dict[str, Any]:
    return {"id": item.id, "key": item.key, "version": item.version, "name": item.name,
            "content_hash": item.content_hash, "deployed_at": when(item.deployed_at),
            "deployed_by": user_ref(item.deployed_by), "state": item.state.value}


def instance(item: ProcessInstance) -> dict[str, Any]:
    return {"id": item.id, "title": item.title, "process_key": item.process_key,
            "definition_id": item.definition_id, "version": item.definition.version,
            "process_name": item.definition.name, "status": item.status.value,
            "subject_org": org_ref(item.subject_org), "initiator": user_ref(item.initiator),
            "started_at": when(item.started_at), "ended_at": when(item.ended_at), "summary": plain(item.summary)}


def task(item: HumanTask) -> dict[str, Any]:
    return {"id": item.id, "name": item.name, "bpmn_id": item.bpmn_id, "process_key": item.process_key,
            "status": item.status.value, "lane": item.lane, "form_key": item.form_key, "priority": item.priority,
            "instance": {"id": item.instance_id, "title": item.instance.title},
            "subject_org": org_ref(item.subject_org), "assignee": user_ref(item.assignee),
            "claimed_by": user_ref(item.claimed_by), "claimed_at": when(item.claimed_at),
            "due_at": when(item.due_at), "follow_up_at": when(item.follow_up_at),
            "overdue": item.status is TaskStatus.OPEN and item.due_at is not None and item.due_at < utcnow(),
            "created_at": when(item.created_at), "completed_at": when(item.completed_at),
            "completed_by": user_ref(item.completed_by)}


def summary(row: RowSummary | None) -> dict[str, Any] | None:
    """A record as its process package summarises it (None for processes that do not)."""
    if row is None:
        return None
    return {"reference": row.reference, "headline": row.headline, "facts": list(row.facts), "amount": row.amount,
            "amount_unit": str(row.amount_unit) if row.amount_unit else None, "link": row.link}


def form_field(info: FormFieldInfo) -> dict[str, Any]:
    return {"id": info.id, "label": info.label, "type": info.type, "default": plain(info.default),
            "value": plain(info.value), "required": info.required, "readonly": info.readonly,
            "constraints": dict(info.constraints),
            "options": [{"id": option.id, "name": option.name} for option in info.options],
            "properties": dict(info.properties)}


def candidates(item: HumanTask, orgs: Mapping[int, Org], users: Mapping[int, User]) -> list[dict[str, Any]]:
    return [{"role": c.role.value if c.role else None, "org": org_ref(orgs.get(c.org_id)) if c.org_id else None,
             "user": user_ref(users.get(c.user_id)) if c.user_id else None} for c in item.candidates]


def form(item: HumanTask, info: UserTaskInfo | None) -> dict[str, Any]:
    return {"key": item.form_key, "fields": [form_field(f) for f in info.form_fields] if info else []}


def comment(item: TaskComment) -> dict[str, Any]:
    return {"id": item.id, "task_id": item.task_id, "author": user_ref(item.author), "body": item.body,
            "created_at": when(item.created_at)}


def event(item: AuditEvent) -> dict[str, Any]:
    return {"id": item.id, "action": item.action, "at": when(item.at), "actor": user_ref(item.actor),
            "object_type": item.object_type, "object_id": item.object_id, "before": plain(item.before),
            "after": plain(item.after)}


def incident(item: Incident) -> dict[str, Any]:
    return {"id": item.id, "action": item.action, "bpmn_id": item.bpmn_id, "error_type": item.error_type,
            "message": item.message, "created_at": when(item.created_at), "resolved_at": when(item.resolved_at)}


def token(item: ApiToken) -> dict[str, Any]:
    return {"id": item.id, "name": item.name, "created_at": when(item.created_at),
            "last_used_at": when(item.last_used_at), "revoked_at": when(item.revoked_at)}
