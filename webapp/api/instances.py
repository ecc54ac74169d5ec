"""Process instances: start one, list mine, read one with its open tasks, history, comments and incidents."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from webapp.api import bp
from webapp.api import serializers as out
from webapp.api.common import api_user, invalid, json_body, page_args, paginated
from webapp.extensions import db
from webapp.models import InstanceStatus, Org, ProcessDefinition, ProcessInstance, Role, User
from webapp.security import current_roles
from webapp.services import instance_admin
from webapp.services import instances as instance_service
from webapp.services import tasks as task_service
from webapp.services.errors import NotAllowed, NotFound
from webapp.services.overview import teacher_subject_org

TITLE_MAX_LENGTH = 200
#: Variables the engine sets itself; start data may not override them.
RESERVED_VARIABLES = frozenset({"initiator", "subject_org"})


def _subject_org(value: Any, user: User, errors: dict[str, list[str]]) -> Org | None:
    """A number is an organisation id, a string its code; nothing means the caller's primary subgroup or org."""
    if value is None:
        org = teacher_subject_org(user)
        if org is None:
            errors["subject_org"] = [_("You belong to no organisation; say which one this is about.")]
        return org
    if isinstance(value, int) and not isinstance(value, bool):
        org = db.session.get(Org, value)
    elif isinstance(value, str) and value.strip():
        org = db.session.scalar(sa.select(Org).where(Org.code == value.strip()))
    else:
        org = None
    if org is None or not org.active:
        errors["subject_org"] = [_("No active organisation has this id or code.")]
        return None
    return org


def _start_data(value: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["data"] = [_("Send the process data as an object of variable name to value.")]
        return {}
    bad = sorted(name for name in value if not name.isidentifier() or name.startswith("_")
                 or name in RESERVED_VARIABLES)
    if bad:
        errors["data"] = [_("These names cannot be used as process variables: %(names)s.", names=", ".join(bad))]
    return value


def _is_admin_over(org: Org) -> bool:
    return any(held.role is Role.ADMIN and org.path.startswith(held.org.path) for held in current_roles())


def detail(instance: ProcessInstance, user: User) -> dict[str, Any]:
    events = instance_service.history(instance)
    return {**out.instance(instance),
            "open_tasks": [{**out.task(task), "visible": task_service.can_see(task, user)}
                           for task in instance_service.open_tasks(instance)],
            "history": [out.event(event) for event in events],
            "comments": [out.comment(note) for note in instance_service.comments(instance)],
            "incidents": [out.incident(incident) for incident in instance_service.incidents(instance)]}


@bp.post("/instances")
def start_instance():
    user = api_user()
    body = json_body()
    errors: dict[str, list[str]] = {}
    key = body.get("process_key")
    if not isinstance(key, str) or not key.strip():
        errors["process_key"] = [_("Say which process to start (its key).")]
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or len(title.strip()) > TITLE_MAX_LENGTH):
        errors["title"] = [_("A title is text of at most %(n)d characters.", n=TITLE_MAX_LENGTH)]
    data = _start_data(body.get("data"), errors)
    org = _subject_org(body.get("subject_org"), user, errors)
    if errors:
        raise invalid(errors)
    if not instance_service.may_start_for(user, org):
        raise NotAllowed(_("You may only start processes about your own organisation, your subgroups, or "
                           "organisations where you hold a role."))
    instance = instance_service.start(key.strip(), subject_org=org, initiator=user, data=data,
                                      title=(title or "").strip() or None)
    db.session.commit()
    response = jsonify(detail(instance, user))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_instance", instance_id=instance.id)
    return response


@bp.get("/instances")
def list_instances():
    """The instances I started, newest first; ``process`` and ``status`` narrow the list."""
    errors: dict[str, list[str]] = {}
    page, per_page = page_args(errors)
    status = request.args.get("status", "").strip() or None
    if status is not None and status not in InstanceStatus.__members__.values():
        errors["status"] = [_("Give one of: %(values)s.", values=", ".join(s.value for s in InstanceStatus))]
    if errors:
        raise invalid(errors)
    query = instance_service.started_by(api_user(), process_key=request.args.get("process", "").strip() or None,
                                        status=InstanceStatus(status) if status else None)
    query = query.options(selectinload(ProcessInstance.definition).load_only(ProcessDefinition.version,
                                                                            ProcessDefinition.name),
                          selectinload(ProcessInstance.subject_org), selectinload(ProcessInstance.initiator))
    return jsonify(paginated(query, page, per_page, out.instance))


@bp.get("/instances/<int:instance_id>")
def get_instance(instance_id: int):
    user = api_user()
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or not (task_service.can_see_instance(instance, user) or _is_admin_over(instance.subject_org)):
        raise NotFound(_("This process instance does not exist or is not visible to you."))
    return jsonify(detail(instance, user))


@bp.post("/instances/<int:instance_id>/suspend", defaults={"action": "suspend"})
@bp.post("/instances/<int:instance_id>/resume", defaults={"action": "resume"})
@bp.post("/instances/<int:instance_id>/cancel", defaults={"action": "cancel"})
def administer_instance(instance_id: int, action: str):
    """An administrator pauses, resumes or cancels an instance, with a ``reason`` that goes on the record."""
    reason = json_body().get("reason")
    if not isinstance(reason, str):
        raise invalid({"reason": [_("Give the reason.")]})
    instance = instance_admin.ACTIONS[action](instance_id, api_user(), reason)
    db.session.commit()
    return jsonify(detail(instance, api_user()))


@bp.post("/instances/<int:instance_id>/messages")
def send_message(instance_id: int):
    """Correlate a message to the instance waiting for it (``name``, optional ``variables``), as Camunda 7's
    ``/message`` does for one instance; administrators (and integrations acting as one) only."""
    body = json_body()
    name, variables = body.get("name"), body.get("variables", {})
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip():
        errors["name"] = [_("Give the message's name, as the diagram names it.")]
    if not isinstance(variables, dict):
        errors["variables"] = [_("Send the variables as an object of name to value.")]
    if errors:
        raise invalid(errors)
    if db.session.get(ProcessInstance, instance_id) is None:
        raise NotFound(_("This process instance does not exist or is not visible to you."))
    instance = instance_service.deliver_message(instance_id, name.strip(), variables, api_user())
    db.session.commit()
    return jsonify(detail(instance, api_user()))
