"""The administration dashboard and the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from webapp.admin import bp
from webapp.admin.common import assignment_status, page_size, user_label
from webapp.audit_words import in_words
from webapp.extensions import db
from webapp.labels import AUDIT_ACTION_LABELS
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
                           **in_words(events))


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
                           object_filter=bool(object_type or object_id), **in_words(list(page.items)))
