"""The timeline of a record, as DingTalk / Feishu 审批 show it: every step in order (who, for whom, what they
decided in words, what changed, their comment, how long it waited), the current steps with who may take them
and until when, and the steps still to come.

Built from the instance's audit trail and its task rows in a fixed number of queries, whatever its length.
Never shows a BPMN id or an event code: actions have words (``webapp.labels`` and each process package's),
steps their names from the diagram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.labels import AUDIT_ACTION_LABELS, DECISION_LABELS, ROLE_LABELS
from webapp.models import AuditEvent, HumanTask, InstanceStatus, Org, ProcessInstance, TaskCandidate, TaskStatus, User
from webapp.models.base import utcnow
from webapp.services import instances, processes
from webapp.services import roles as role_service

#: Automatic steps that say nothing to the people on the record (their effects have entries of their own).
QUIET_ACTIONS = frozenset({"service.complete", "timer.fire"})


@dataclass
class Entry:
    at: datetime
    #: What happened, in words ("同意", "退回修改", "转交", "评论"...).
    action: str
    kind: str = "step"  # step | approve | return | reject | comment | system | problem
    actor: str | None = None
    #: The person the actor stood in for ("王磊 代 刘芳").
    on_behalf_of: str | None = None
    step: str | None = None
    details: list[str] = field(default_factory=list)
    comment: str | None = None
    waited: timedelta | None = None


@dataclass
class Current:
    task_id: int
    name: str
    since: datetime
    waited: timedelta
    due_at: datetime | None
    overdue: bool
    #: Who holds it (assignee or claimer), else who may take it (roles at organisations, named people).
    holder: str | None
    candidates: list[str]


@dataclass
class Timeline:
    entries: list[Entry]
    current: list[Current]
    to_come: list[str]
    #: The process listed the steps to come; otherwise they are what the diagram can reach (some may not come).
    to_come_certain: bool
    finished: bool
    #: BPMN ids of the open and of the completed steps, for the diagram's colours.
    open_steps: list[str] = field(default_factory=list)
    done_steps: list[str] = field(default_factory=list)


_KINDS = {"approve": "approve", "return": "return", "reject": "reject"}


def action_words(action: str) -> str:
    """An audit action in words: the generic ones and each process package's own; never the code."""
    words = {**AUDIT_ACTION_LABELS, **processes.event_words()}.get(action)
    return str(words) if words is not None else _("Recorded change")


def _tasks(instance_id: int) -> dict[str, HumanTask]:
    """The instance's task rows by id, with the holders an open step names (assignee, claimer)."""
    return {str(task.id): task for task in db.session.scalars(
        sa.select(HumanTask).where(HumanTask.instance_id == instance_id)
        .options(joinedload(HumanTask.assignee), joinedload(HumanTask.claimed_by)))}


def _entry(event: AuditEvent, tasks: dict[str, HumanTask], instance: ProcessInstance,
           users: dict[int, str]) -> Entry:
    after = event.after or {}
    task = tasks.get(str(event.object_id)) if event.object_type == "human_task" else None
    entry = Entry(at=event.at, action=action_words(event.action), step=task.name if task else None,
                  actor=event.actor.display_name if event.actor else None)
    if event.actor is None:
        entry.kind = "system"
    behalf = after.get("on_behalf_of")
    if isinstance(behalf, dict) and behalf.get("name"):
        entry.on_behalf_of = str(behalf["name"])
    if event.action == "task.complete":
        data = after.get("data") if isinstance(after.get("data"), dict) else {}
        decision = data.get("decision")
        if isinstance(decision, str) and decision in DECISION_LABELS:
            entry.action, entry.kind = str(DECISION_LABELS[decision]), _KINDS.get(decision, "step")
        package = processes.get(instance.process_key)
        if package is not None and package.describe_completion is not None:
            entry.details = package.describe_completion(event, instance)
        if isinstance(data.get("comment"), str) and data["comment"].strip():
            entry.comment = data["comment"].strip()
        if task is not None and task.completed_at is not None:
            entry.waited = task.completed_at - task.created_at
    elif event.action == "task.comment":
        entry.kind, entry.comment = "comment", str(after.get("body") or "") or None
    elif event.action in ("task.transfer", "task.delegate"):
        to = after.get("to_name") or users.get(after.get("to_user_id") or after.get("assignee_id") or 0)
        if to:
            entry.action = _("Transferred to %(name)s", name=to)
        entry.comment = str(after.get("reason") or "") or None
    elif event.action == "instance.copy" and isinstance(after.get("names"), list):
        entry.action = _("Copied to %(names)s", names=_(", ").join(str(n) for n in after["names"]))
    elif event.action == "instance.incident":
        entry.kind = "problem"
    if event.action not in ("task.comment", "task.complete", "task.transfer", "task.delegate") and after.get("reason"):
        entry.comment = str(after["reason"])
    return entry


def _people(events: list[AuditEvent]) -> dict[int, str]:
    """Names of the people transfers name (one query)."""
    ids = {int(value) for e in events if e.action in ("task.transfer", "task.delegate") and e.after
           for value in (e.after.get("to_user_id"), e.after.get("assignee_id")) if isinstance(value, int)}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(ids))).all())


#: Open tasks whose role candidates are named (the people who hold the role); the rest say the role only.
NAMED_TASKS = 5
#: People named per role.
NAMED_HOLDERS = 5


def _holders(candidate: TaskCandidate, task: HumanTask) -> str:
    """"陈静、王磊（代 刘芳）": who holds the candidate role for the task's organisation today."""
    if candidate.role is None:
        return ""
    holders = role_service.resolve(candidate.role, task.subject_org).holders[:NAMED_HOLDERS]
    return _(", ").join(_("%(name)s (for %(other)s)", name=h.user.display_name, other=h.on_behalf_of.display_name)
                        if h.on_behalf_of else h.user.display_name for h in holders)


def _current(open_tasks: list[HumanTask], now: datetime) -> list[Current]:
    if not open_tasks:
        return []
    candidates = list(db.session.scalars(sa.select(TaskCandidate).where(
        TaskCandidate.task_id.in_([t.id for t in open_tasks])).order_by(TaskCandidate.id)))
    org_ids = {c.org_id for c in candidates if c.org_id}
    user_ids = {c.user_id for c in candidates if c.user_id}
    orgs = dict(db.session.execute(sa.select(Org.id, Org.name).where(Org.id.in_(org_ids))).all()) if org_ids else {}
    people = (dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(user_ids))).all())
              if user_ids else {})
    current = []
    for number, task in enumerate(open_tasks):
        names = []
        for c in (c for c in candidates if c.task_id == task.id):
            if c.user_id:
                names.append(people.get(c.user_id, ""))
            elif c.role is not None:
                role = f"{orgs.get(c.org_id, '')} {ROLE_LABELS.get(c.role, '')}".strip()
                holders = _holders(c, task) if number < NAMED_TASKS else ""
                names.append(_("%(role)s: %(people)s", role=role, people=holders) if holders else role)
        holder = task.assignee or task.claimed_by
        current.append(Current(task_id=task.id, name=task.name, since=task.created_at, waited=now - task.created_at,
                               due_at=task.due_at, overdue=bool(task.due_at and task.due_at < now),
                               holder=holder.display_name if holder else None,
                               candidates=[n for n in dict.fromkeys(names) if n]))
    return current


def build(instance: ProcessInstance, now: datetime | None = None) -> Timeline:
    """The timeline of ``instance`` (a fixed number of queries)."""
    now = now or utcnow()
    events = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.instance_id == instance.id)
                                     .options(joinedload(AuditEvent.actor)).order_by(AuditEvent.id)))
    tasks = _tasks(instance.id)
    users = _people(events)
    package = processes.get(instance.process_key)
    quiet = QUIET_ACTIONS | (package.quiet_events if package is not None else frozenset())
    entries = [_entry(event, tasks, instance, users) for event in events if event.action not in quiet]
    running = instance.status in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
    open_tasks = sorted((t for t in tasks.values() if t.status is TaskStatus.OPEN), key=lambda t: t.id) \
        if running else []
    to_come, certain = [], True
    if running and open_tasks:
        package = processes.get(instance.process_key)
        if package is not None and package.steps_to_come is not None:
            to_come = package.steps_to_come(instance)
        else:
            certain = False
            done = {t.bpmn_id for t in tasks.values() if t.status is TaskStatus.COMPLETED}
            to_come = instances.upcoming_steps(instance, [t.bpmn_id for t in open_tasks],
                                               done | {t.bpmn_id for t in open_tasks})
    open_steps = list(dict.fromkeys(t.bpmn_id for t in open_tasks))
    completed = dict.fromkeys(t.bpmn_id for t in tasks.values() if t.status is TaskStatus.COMPLETED)
    done_steps = [bpmn_id for bpmn_id in completed if bpmn_id not in open_steps]
    return Timeline(entries=entries, current=_current(open_tasks, now), to_come=to_come, to_come_certain=certain,
                    finished=not running, open_steps=open_steps, done_steps=done_steps)
