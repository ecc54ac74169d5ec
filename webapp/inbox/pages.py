"""The task page every process shares: render it, and complete a task from it with one commit.

A process package whose task has a form of its own calls :func:`render_task` and :func:`handle_completion` with
its template, which extends ``inbox/task.html`` and fills its ``task_form`` and ``record`` blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import db
from webapp.models import HumanTask, TaskStatus
from webapp.services import instances, processes, tasks, timeline
from webapp.services.errors import Conflict, FormRejected, NotAllowed


def render_task(task: HumanTask, form: Any, *, template: str = "inbox/task.html", status: int = 200, **extra: Any):
    instance = task.instance
    is_open = task.status is TaskStatus.OPEN
    return render_template(
        template, task=task, instance=instance, form=form,
        can_act=is_open and tasks.can_act(task, current_user),
        can_claim=(is_open and task.claimed_by_id is None and task.assignee_id is None
                   and tasks.is_candidate(task, current_user) and tasks.may_take(task, current_user)),
        can_comment=is_open and tasks.may_comment(instance, current_user),
        summary=processes.summaries([instance]).get(instance.id),
        timeline=timeline.build(instance), now=datetime.now(UTC), **extra), status


def handle_completion(task: HumanTask, form: Any, complete: Callable[[], Any], **extra: Any):
    """Show the task (GET) or complete it (POST): one commit; every refusal explained, nothing half-saved."""
    if request.method == "GET":
        return render_task(task, form, **extra)
    if not form.validate():
        return render_task(task, form, status=400, **extra)
    back = redirect(url_for("inbox.task", task_id=task.id))
    try:
        complete()
        db.session.commit()
    except FormRejected as rejected:
        db.session.rollback()
        for field_id, messages in rejected.errors.items():
            for message in messages:
                form.add_error(field_id, message)
        form.form_errors.append(str(rejected))
        return render_task(task, form, status=422, **extra)
    except (NotAllowed, Conflict) as error:
        db.session.rollback()
        flash(str(error), "danger" if isinstance(error, NotAllowed) else "warning")
        return back
    except instances.ActionFailed as failure:
        db.session.rollback()
        incident = instances.record_incident(failure)
        db.session.commit()
        flash(_("The process could not continue, so nothing was saved. The administrators have been told what "
                "went wrong (incident %(id)s).", id=incident.id if incident else "-"), "danger")
        return back
    flash(_("Done: “%(name)s” is completed.", name=task.name), "success")
    return redirect(url_for("inbox.index"))
