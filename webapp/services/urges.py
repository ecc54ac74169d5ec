"""Urge (催办): the person who started an instance nudges those its open tasks wait for, at most once a day per task.

The handlers of a task are its claimer, else its assignee, else its candidates (``notifications.task_recipients``);
the initiator is never among them (a task waiting for the initiator has nobody else to urge). Each urge goes on the
record (``task.urge``), which is also what the once-a-day rule reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import AuditEvent, HumanTask, InstanceStatus, ProcessInstance, TaskStatus, User
from webapp.models.base import utcnow
from webapp.services import audit, instances, notifications
from webapp.services.errors import Conflict, NotAllowed

#: A task is urged at most once within this time.
URGE_INTERVAL = timedelta(hours=24)
URGED = "task.urged"


@dataclass(frozen=True)
class Urged:
    task: HumanTask
    #: How many people were told.
    recipients: int


def handlers(task: HumanTask) -> list[User]:
    """The people ``task`` waits for, the instance's initiator left out."""
    if task.claimed_by is not None:
        people = [task.claimed_by] if task.claimed_by.active else []
    else:
        people = notifications.task_recipients(task)
    return [person for person in people if person.id != task.instance.initiator_id]


def waits_for_others(task: HumanTask) -> bool:
    """Is ``task`` waiting for someone other than the initiator (not claimed by or assigned to them)?"""
    holder = task.claimed_by_id or task.assignee_id
    return holder is None or holder != task.instance.initiator_id


def last_urged(task_ids: list[int], now: datetime | None = None) -> dict[int, datetime]:
    """When each of ``task_ids`` was last urged within :data:`URGE_INTERVAL` before ``now`` (absent: not)."""
    if not task_ids:
        return {}
    since = (now or utcnow()) - URGE_INTERVAL
    rows = db.session.execute(
        sa.select(AuditEvent.object_id, sa.func.max(AuditEvent.at))
        .where(AuditEvent.object_type == HumanTask.__tablename__,
               AuditEvent.object_id.in_([str(task_id) for task_id in task_ids]),
               AuditEvent.action == "task.urge", AuditEvent.at > since)
        .group_by(AuditEvent.object_id))
    return {int(object_id): at for object_id, at in rows}


def may_urge(instance: ProcessInstance, user: User) -> bool:
    return instance.initiator_id == user.id and instance.status is InstanceStatus.RUNNING


def _open_tasks(instance: ProcessInstance) -> list[HumanTask]:
    return list(db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                              HumanTask.status == TaskStatus.OPEN)
                                   .order_by(HumanTask.id).execution_options(populate_existing=True)))


def urgeable(instance: ProcessInstance) -> list[HumanTask]:
    """The open tasks of ``instance`` that wait for someone other than its initiator."""
    return [task for task in _open_tasks(instance) if waits_for_others(task)]


def next_possible(task_ids: list[int], now: datetime | None = None) -> datetime | None:
    """When one of ``task_ids`` may be urged again; None when one may be urged now (or there are none)."""
    urged = last_urged(task_ids, now)
    if not task_ids or len(urged) < len(task_ids):
        return None
    return min(urged.values()) + URGE_INTERVAL


def _authorise(instance: ProcessInstance, user: User) -> None:
    if instance.initiator_id != user.id:
        raise NotAllowed(_l("Only the person who started this process may urge it."))
    if instance.status is not InstanceStatus.RUNNING:
        raise Conflict(_l("Only a process in progress can be urged."))


def _too_soon(when: datetime) -> Conflict:
    return Conflict(_l("You have urged this already; you can urge again after %(when)s.",
                       when=format_datetime(when, "short")))


def _urge(task: HumanTask, user: User) -> Urged:
    people = handlers(task)
    instance = task.instance
    notifications.notify_many(
        people, URGED,
        title=_l("%(name)s urges you: %(task)s – %(title)s", name=user.display_name,
                 task=notifications.one_line(task.name, notifications.QUOTED_MAX),
                 title=notifications.one_line(instance.title, notifications.QUOTED_MAX)),
        body=lambda: str(_l("Waiting since %(when)s", when=format_datetime(task.created_at, "short"))),
        link=f"/inbox/tasks/{task.id}", instance_id=instance.id)
    audit.record("task.urge", actor=user, obj=task, instance_id=instance.id,
                 after={"task": task.bpmn_id, "recipients": len(people)})
    return Urged(task, len(people))


def urge_instance(instance: ProcessInstance, user: User) -> list[Urged]:
    """Urge every open task of ``instance`` not urged within the last day (the instance locked meanwhile)."""
    _authorise(instance, user)
    instance = instances.lock_instance(instance.id)
    _authorise(instance, user)
    waiting = [task for task in urgeable(instance) if handlers(task)]
    if not waiting:
        raise Conflict(_l("Nobody can be urged: the process is not waiting for anyone else now."))
    now = utcnow()
    urged = last_urged([task.id for task in waiting], now)
    due = [task for task in waiting if task.id not in urged]
    if not due:
        raise _too_soon(min(urged.values()) + URGE_INTERVAL)
    done = [_urge(task, user) for task in due]
    db.session.flush()
    return done


def urge_task(task: HumanTask, user: User) -> Urged:
    """Urge one open task of an instance ``user`` started, unless it was urged within the last day."""
    _authorise(task.instance, user)
    instance = instances.lock_instance(task.instance_id)
    _authorise(instance, user)
    current = next((row for row in urgeable(instance) if row.id == task.id), None)
    if current is None:
        raise Conflict(_l("This step is not waiting for anyone else now."))
    if not handlers(current):
        raise Conflict(_l("Nobody can be urged: the process is not waiting for anyone else now."))
    urged = last_urged([current.id])
    if current.id in urged:
        raise _too_soon(urged[current.id] + URGE_INTERVAL)
    done = _urge(current, user)
    db.session.flush()
    return done
