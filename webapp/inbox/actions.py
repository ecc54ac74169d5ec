"""The approver's actions on the task and instance pages: transfer (转交), urge (催办), copy-to (抄送).

:func:`panel` and :func:`urge_state` compute what ``inbox/_task_actions.html`` and ``inbox/_urge.html`` show;
the pages include them with ``{% with actions=task_actions(task, current_user) %}`` and
``{% with actions=urge_state(instance, current_user) %}``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from webapp.errors import render_error
from webapp.extensions import db
from webapp.inbox import bp
from webapp.links import local_or
from webapp.models import HumanTask, ProcessInstance, TaskStatus, User
from webapp.services import tasks, urges, watchers
from webapp.services.errors import Conflict, NotAllowed, NotFound, ServiceError

#: What separates the login names typed into the copy-to field.
LOGIN_SEPARATORS = re.compile(r"[\s,，、;；]+")


def panel(task: HumanTask, user: User) -> dict[str, Any]:
    """What the task page offers ``user`` besides completing: transfer to whom, copy-to, who is copied."""
    instance = task.instance
    can_transfer = task.status is TaskStatus.OPEN and tasks.can_act(task, user)
    can_copy = watchers.may_copy(instance, user)
    return {"task": task, "instance": instance, "can_transfer": can_transfer,
            "colleagues": tasks.transfer_candidates(task, user) if can_transfer else [],
            "reason_max": tasks.TRANSFER_REASON_MAX_LENGTH, "can_copy": can_copy,
            "suggested": watchers.suggested(instance, user) if can_copy else [],
            "watchers": [watcher.user for watcher in watchers.watchers(instance)],
            "copy_max": watchers.MAX_PER_ADDITION}


def urge_state(instance: ProcessInstance, user: User) -> dict[str, Any]:
    """The urge button of the instance page: shown to its initiator while a task waits for someone else;
    ``next_at`` is set while every such task was urged within the last day (the button is then disabled)."""
    if not urges.may_urge(instance, user):
        return {"show": False}
    waiting = urges.urgeable(instance)
    return {"show": bool(waiting), "instance": instance,
            "next_at": urges.next_possible([task.id for task in waiting])}


bp.add_app_template_global(panel, "task_actions")
bp.add_app_template_global(urge_state, "urge_state")


def _visible_instance(instance_id: int) -> ProcessInstance:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or not tasks.can_see_instance(instance, current_user):
        abort(404)
    return instance


def _refused(error: ServiceError, back: str):
    """Roll back; a refusal of the person (403) is a page, anything else a message on the page they came from."""
    db.session.rollback()
    if isinstance(error, NotAllowed):
        return render_error(403, str(error))
    flash(str(error), "warning" if isinstance(error, Conflict) else "danger")
    return redirect(back)


@bp.route("/tasks/<int:task_id>/transfer", methods=["POST"])
@login_required
def transfer(task_id: int):
    try:
        task = tasks.get_visible(task_id, current_user)
    except NotFound:
        abort(404)
    back = url_for("inbox.task", task_id=task.id)
    if task.status is TaskStatus.OPEN and not tasks.can_act(task, current_user):
        return render_error(403, _("You may not act on this task."))
    colleague = db.session.get(User, request.form.get("to_user", type=int) or 0)
    if colleague is None:
        flash(_("Choose the colleague to transfer the task to."), "danger")
        return redirect(back)
    try:
        tasks.transfer(task, current_user, colleague, request.form.get("reason", ""))
        db.session.commit()
    except ServiceError as error:
        return _refused(error, back)
    flash(_("“%(task)s” has been transferred to %(name)s.", task=task.name, name=colleague.display_name), "success")
    return redirect(url_for("inbox.index"))


@bp.route("/instances/<int:instance_id>/urge", methods=["POST"])
@login_required
def urge(instance_id: int):
    instance = _visible_instance(instance_id)
    back = local_or(request.form.get("next"), url_for("inbox.instance", instance_id=instance.id))
    try:
        urged = urges.urge_instance(instance, current_user)
        db.session.commit()
    except ServiceError as error:
        return _refused(error, back)
    people = sum(item.recipients for item in urged)
    flash(ngettext("Urged: %(num)d person has been reminded.", "Urged: %(num)d people have been reminded.", people),
          "success")
    return redirect(back)


@bp.route("/instances/<int:instance_id>/watchers", methods=["POST"])
@login_required
def copy_to(instance_id: int):
    instance = _visible_instance(instance_id)
    back = local_or(request.form.get("next"), url_for("inbox.instance", instance_id=instance.id))
    if not watchers.may_copy(instance, current_user):
        return render_error(403, _("Only those who handle or handled a step of this process may copy others on it."))
    refs: list[int | str] = [int(value) for value in request.form.getlist("user_id") if value.isdigit()]
    refs += [login for login in LOGIN_SEPARATORS.split(request.form.get("logins", "")) if login]
    try:
        added = watchers.add(instance, current_user, watchers.people(refs))
        db.session.commit()
    except ServiceError as error:
        return _refused(error, back)
    if added:
        flash(_("Copied to %(names)s.", names="、".join(person.display_name for person in added)), "success")
    else:
        flash(_("They are copied on it already."), "info")
    return redirect(back)
