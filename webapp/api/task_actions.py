"""The approver's actions besides completing: transfer (转交), urge (催办) and copy-to (抄送)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_babel import gettext as _

from webapp.api import bp
from webapp.api import serializers as out
from webapp.api.common import api_user, invalid, json_body
from webapp.extensions import db
from webapp.models import HumanTask, InstanceWatcher, ProcessInstance, User
from webapp.services import tasks as task_service
from webapp.services import urges, watchers
from webapp.services.errors import NotFound, ServiceError
from webapp.services.users import find_by_login


def _colleague(target: Any) -> User:
    if isinstance(target, int) and not isinstance(target, bool):
        colleague = db.session.get(User, target)
    elif isinstance(target, str) and target.strip():
        colleague = find_by_login(target)
    else:
        raise invalid({"to_user": [_("Say who takes the task over: their user id or login.")]})
    if colleague is None:
        raise ServiceError(_("There is no such user."), field="to_user")
    return colleague


def _visible_instance(instance_id: int, user: User) -> ProcessInstance:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or not task_service.can_see_instance(instance, user):
        raise NotFound(_("This process instance does not exist or is not visible to you."))
    return instance


@bp.post("/tasks/<int:task_id>/transfer")
def transfer_task(task_id: int):
    """``{"to_user": id or login, "reason": "..."}``: the colleague becomes the task's assignee and is told."""
    user = api_user()
    task = task_service.get_visible(task_id, user)
    body = json_body()
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise invalid({"reason": [_("Give the reason for the transfer.")]})
    task = task_service.transfer(task, user, _colleague(body.get("to_user")), reason)
    db.session.commit()
    return jsonify(out.task(task))


def _urged(item: urges.Urged) -> dict[str, Any]:
    return {"task": out.task(item.task), "recipients": item.recipients}


@bp.post("/tasks/<int:task_id>/urge")
def urge_task(task_id: int):
    """The initiator urges those one open task waits for (once a day per task)."""
    user = api_user()
    task = db.session.get(HumanTask, task_id)
    if task is None or not task_service.can_see_instance(task.instance, user):
        raise NotFound(_("This task does not exist or is not visible to you."))
    urged = urges.urge_task(task, user)
    db.session.commit()
    return jsonify({**_urged(urged), "next_urge_at": out.when(urges.next_possible([task.id]))})


@bp.post("/instances/<int:instance_id>/urge")
def urge_instance(instance_id: int):
    """The initiator urges every open task of the instance not urged within the last day."""
    user = api_user()
    urged = urges.urge_instance(_visible_instance(instance_id, user), user)
    db.session.commit()
    return jsonify({"urged": [_urged(item) for item in urged]})


def _watcher(item: InstanceWatcher) -> dict[str, Any]:
    return {"user": out.user_ref(item.user), "added_by": out.user_ref(item.added_by),
            "added_at": out.when(item.added_at)}


@bp.get("/instances/<int:instance_id>/watchers")
def list_watchers(instance_id: int):
    """The people copied on the instance, and whether I may copy more."""
    user = api_user()
    instance = _visible_instance(instance_id, user)
    return jsonify({"items": [_watcher(item) for item in watchers.watchers(instance)],
                    "may_add": watchers.may_copy(instance, user)})


@bp.post("/instances/<int:instance_id>/watchers")
def add_watchers(instance_id: int):
    """``{"users": [id or login, ...]}`` (at most 20): copy them on the instance; existing ones are kept as they are."""
    user = api_user()
    instance = _visible_instance(instance_id, user)
    refs = json_body().get("users")
    if (not isinstance(refs, list) or not refs
            or not all(isinstance(ref, str) or (isinstance(ref, int) and not isinstance(ref, bool)) for ref in refs)):
        raise invalid({"users": [_("Send the people to copy as a list of user ids or logins.")]})
    added = watchers.add(instance, user, watchers.people(refs))
    db.session.commit()
    return jsonify({"added": [out.user_ref(person) for person in added],
                    "items": [_watcher(item) for item in watchers.watchers(instance)]})
