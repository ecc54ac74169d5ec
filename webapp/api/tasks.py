"""Human tasks: my inbox with filters, one task with its form schema, and the actions on it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app, jsonify, request
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload, selectinload

from webapp.api import bp
from webapp.api import serializers as out
from webapp.api.common import api_user, bool_arg, invalid, json_body, page_args, paginated
from webapp.api.task_actions import transfer_task
from webapp.engine import EngineError
from webapp.extensions import db
from webapp.models import HumanTask, Org, TaskStatus, User
from webapp.models.base import utcnow
from webapp.services import instances as instance_service
from webapp.services import processes
from webapp.services import tasks as task_service
from webapp.services.orgs import descendant_ids


def _visible(task_id: int) -> HumanTask:
    return task_service.get_visible(task_id, api_user())


def _permissions(task: HumanTask, user: User) -> dict[str, bool]:
    is_open = task.status is TaskStatus.OPEN
    can_act = is_open and task_service.can_act(task, user)
    return {"claim": can_act and task.claimed_by_id is None,
            "unclaim": is_open and task.claimed_by_id == user.id, "complete": can_act, "delegate": can_act,
            "comment": task_service.may_comment(task.instance, user)}


def _form_info(task: HumanTask) -> tuple[Any, str | None]:
    """The engine's view of the task, or why it could not be read (the task itself still shows)."""
    try:
        return instance_service.user_task_info(task), None
    except EngineError as error:
        current_app.logger.warning("form of task %s could not be read: %s", task.id, error)
        return None, _("The form could not be read from the process: %(error)s", error=str(error))


def _task_detail(task: HumanTask, user: User) -> dict[str, Any]:
    info, form_error = _form_info(task)
    org_ids = {c.org_id for c in task.candidates if c.org_id}
    user_ids = {c.user_id for c in task.candidates if c.user_id}
    orgs = {o.id: o for o in db.session.scalars(sa.select(Org).where(Org.id.in_(org_ids)))} if org_ids else {}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    comments = [note for note in instance_service.comments(task.instance) if note.task_id == task.id]
    return {**out.task(task),
            "instance": out.instance(task.instance),
            "documentation": info.documentation if info else None,
            "candidates": out.candidates(task, orgs, users),
            "form": {**out.form(task, info), "error": form_error},
            "permissions": _permissions(task, user),
            "comments": [out.comment(note) for note in comments]}


def _after_action(task: HumanTask, user: User) -> dict[str, Any]:
    return {**out.task(task), "permissions": _permissions(task, user)}


@bp.get("/tasks")
def list_tasks():
    """``scope`` assigned | claimable | all | done; ``process`` key; ``org`` id (and everything below);
    ``overdue=true``; ``page``, ``per_page``."""
    errors: dict[str, list[str]] = {}
    page, per_page = page_args(errors)
    raw_scope = request.args.get("scope", "").strip() or task_service.Scope.ALL.value
    if raw_scope not in {s.value for s in task_service.Scope}:
        errors["scope"] = [_("Give one of: %(values)s.", values=", ".join(s.value for s in task_service.Scope))]
    org_ids = None
    raw_org = request.args.get("org", "").strip()
    if raw_org:
        org = db.session.get(Org, int(raw_org)) if raw_org.isdigit() else None
        if org is None:
            errors["org"] = [_("No organisation has this id.")]
        else:
            org_ids = descendant_ids(org)
    overdue = bool_arg("overdue", errors)
    if errors:
        raise invalid(errors)
    query = task_service.inbox_query(api_user(), task_service.Scope(raw_scope),
                                     process_key=request.args.get("process", "").strip() or None,
                                     subject_org_ids=org_ids, overdue_at=utcnow() if overdue else None)
    query = query.options(joinedload(HumanTask.instance), joinedload(HumanTask.subject_org),
                          selectinload(HumanTask.assignee), selectinload(HumanTask.claimed_by),
                          selectinload(HumanTask.completed_by))
    return jsonify(paginated(query, page, per_page, out.task, extra=_summaries))


def _summaries(items: list[HumanTask]):
    """Each task's record in the words of its process (number, headline, facts), for the page in one go."""
    rows = processes.summaries(task.instance for task in items)
    return lambda task: {"summary": out.summary(rows.get(task.instance_id))}


@bp.get("/tasks/<int:task_id>")
def get_task(task_id: int):
    user = api_user()
    return jsonify(_task_detail(_visible(task_id), user))


@bp.post("/tasks/<int:task_id>/claim")
def claim_task(task_id: int):
    user = api_user()
    task = task_service.claim(_visible(task_id), user)
    db.session.commit()
    return jsonify(_after_action(task, user))


@bp.post("/tasks/<int:task_id>/unclaim")
def unclaim_task(task_id: int):
    user = api_user()
    task = task_service.unclaim(_visible(task_id), user)
    db.session.commit()
    return jsonify(_after_action(task, user))


@bp.post("/tasks/<int:task_id>/complete")
def complete_task(task_id: int):
    user = api_user()
    task = _visible(task_id)
    data = json_body().get("data", {})
    if not isinstance(data, dict):
        raise invalid({"data": [_("Send the form values as an object of field id to value.")]})
    package = processes.for_form(task.form_key)
    if package is not None and package.complete is not None:
        package.complete(task, user, data)  # the process's own rules apply here as on its page
    else:
        instance_service.complete_task(task, user, data, task_service.authorise_complete)
    db.session.commit()
    instance = task.instance
    return jsonify({"task": _after_action(task, user), "instance": out.instance(instance),
                    "next_tasks": [out.task(t) for t in instance_service.open_tasks(instance)
                                   if task_service.can_see(t, user)]})


@bp.post("/tasks/<int:task_id>/delegate")
def delegate_task(task_id: int):
    """The former name of ``/transfer``: the same rules (a reason is required) and answer."""
    return transfer_task(task_id)


@bp.post("/tasks/<int:task_id>/comments")
def comment_task(task_id: int):
    user = api_user()
    task = _visible(task_id)
    body = json_body().get("body")
    note = task_service.comment(task, user, body if isinstance(body, str) else "")
    db.session.commit()
    return jsonify(out.comment(note)), 201

