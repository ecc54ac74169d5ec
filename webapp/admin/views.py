"""The administration dashboard and the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from webapp.admin import bp
from webapp.admin.common import assignment_status, page_size, user_label
from webapp.extensions import db
from webapp.labels import AUDIT_ACTION_LABELS, ROLE_LABELS
from webapp.models import (
    AuditEvent,
    DefinitionState,
    Delegation,
    Incident,
    Org,
    ProcessDefinition,
    Role,
    RoleAssignment,
    User,
)
from webapp.security import require_role
from webapp.services import delegations as delegation_service
from webapp.services import imports as import_service

#: The areas of the audit trail filter: the part of the action before the dot.
AUDIT_AREAS = {
    "org": _l("Organisations"),
    "user": _l("Users"),
    "role": _l("Role assignments"),
    "delegation": _l("Delegations"),
    "auth": _l("Log-ins and passwords"),
}


@bp.context_processor
def _admin_helpers() -> dict[str, Any]:
    return {"today": date.today(), "assignment_status": assignment_status,
            "delegation_status": delegation_service.status, "user_label": user_label}


def _count(query: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0


def _changes(event: AuditEvent) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for every field the event changed (all fields of a creation)."""
    if event.object_type == "import":
        return []
    before, after = event.before or {}, event.after or {}
    return [(key, before.get(key), after.get(key)) for key in dict.fromkeys([*before, *after])
            if before.get(key) != after.get(key)]


def _ids(events: list[AuditEvent], object_type: str) -> set[int]:
    return {int(e.object_id) for e in events if e.object_type == object_type and (e.object_id or "").isdigit()}


def _load(model, ids: set[int], *options) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in db.session.scalars(sa.select(model).options(*options).where(model.id.in_(ids)))}


def _describe(events: list[AuditEvent]) -> dict[int, tuple[str, str | None]]:
    """A readable name and a link for each event's object, loading each kind of object in one query."""
    orgs = _load(Org, _ids(events, "org"))
    users = _load(User, _ids(events, "user_account"))
    assignments = _load(RoleAssignment, _ids(events, "role_assignment"), selectinload(RoleAssignment.user),
                        selectinload(RoleAssignment.org))
    delegations = _load(Delegation, _ids(events, "delegation"), selectinload(Delegation.from_user),
                        selectinload(Delegation.to_user))
    described: dict[int, tuple[str, str | None]] = {}
    for event in events:
        key = int(event.object_id) if (event.object_id or "").isdigit() else None
        if event.object_type == "org" and key in orgs:
            described[event.id] = (f"{orgs[key].name} ({orgs[key].code})", url_for("admin.org_detail", org_id=key))
        elif event.object_type == "user_account" and key in users:
            described[event.id] = (user_label(users[key]), url_for("admin.user_detail", user_id=key))
        elif event.object_type == "role_assignment" and key in assignments:
            a = assignments[key]
            described[event.id] = (f"{ROLE_LABELS.get(a.role, a.role)} · {a.user.display_name} @ {a.org.name}",
                                   url_for("admin.assignment_edit", assignment_id=key))
        elif event.object_type == "delegation" and key in delegations:
            d = delegations[key]
            described[event.id] = (f"{d.from_user.display_name} → {d.to_user.display_name}",
                                   url_for("admin.delegation_edit", delegation_id=key))
        elif event.object_type == "import":
            described[event.id] = ((event.after or {}).get("filename") or _("Import"),
                                   url_for("admin.import_result", event_id=event.id))
        elif event.object_id:
            described[event.id] = (event.object_id, None)
    return described


def _events_context(events: list[AuditEvent]) -> dict[str, Any]:
    return {"events": events, "objects": _describe(events), "changes": {e.id: _changes(e) for e in events}}


@bp.route("/")
@require_role(Role.ADMIN)
def index():
    today = date.today()
    counts = {
        "orgs": _count(sa.select(Org.id).where(Org.active.is_(True))),
        "users": _count(sa.select(User.id).where(User.active.is_(True))),
        "assignments": _count(sa.select(RoleAssignment.id).where(
            RoleAssignment.active.is_(True),
            sa.or_(RoleAssignment.valid_to.is_(None), RoleAssignment.valid_to >= today))),
        "delegations": _count(sa.select(Delegation.id).where(
            Delegation.active.is_(True), Delegation.valid_from <= today, Delegation.valid_to >= today)),
        "incidents": _count(sa.select(Incident.id).where(Incident.resolved_at.is_(None))),
        "pending_definitions": _count(sa.select(ProcessDefinition.id).where(
            ProcessDefinition.state == DefinitionState.PENDING)),
    }
    events = list(db.session.scalars(sa.select(AuditEvent).options(selectinload(AuditEvent.actor))
                                     .order_by(AuditEvent.id.desc()).limit(10)))
    return render_template("admin/index.html", counts=counts, imports=import_service.recent_imports(3),
                           **_events_context(events))


@bp.route("/audit")
@require_role(Role.ADMIN)
def audit_trail():
    action = request.args.get("action", "").strip()
    object_type = request.args.get("object_type", "").strip()
    object_id = request.args.get("object_id", "").strip()
    query = sa.select(AuditEvent).options(selectinload(AuditEvent.actor)).order_by(AuditEvent.id.desc())
    if action:
        prefix = action if "." in action else f"{action}."
        query = query.where(AuditEvent.action.startswith(prefix, autoescape=True))
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    page = db.paginate(query, per_page=page_size(), error_out=False)
    actions = {area: [(code, label) for code, label in AUDIT_ACTION_LABELS.items() if code.startswith(f"{area}.")]
               for area in AUDIT_AREAS}
    return render_template("admin/audit.html", page=page, action=action, areas=AUDIT_AREAS, actions=actions,
                           object_filter=bool(object_type or object_id), **_events_context(list(page.items)))
