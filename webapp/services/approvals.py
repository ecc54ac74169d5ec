"""What an instance's reviews decided, read from the record (not from the diagram's variables), and the check a
handler makes before it writes anything people are judged by (credits, grades, titles).

A process names its review steps and the role each needs (:class:`ReviewPolicy`); before posting, its
handler calls :func:`require`, which refuses unless every required step's latest decision is an approval
by a different person holding that role for the instance's organisation, none of them the initiator. A
diagram redeployed without its reviews therefore cannot post: the handler refuses, the step rolls back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import AuditEvent, HumanTask, Org, ProcessInstance, Role, TaskStatus, User
from webapp.services import roles as role_service


@dataclass(frozen=True)
class ReviewPolicy:
    """``steps``: BPMN id of each review task → the role whoever decides it must hold. ``restart``: the BPMN id
    of the task after which every review counts anew (a resubmission), if any."""

    steps: Mapping[str, Role]
    approve: str = "approve"
    restart: str | None = None


@dataclass(frozen=True)
class Decision:
    step: str
    decision: str | None
    user: User | None


class ReviewMissing(Exception):
    """The instance lacks an approval its policy requires; nothing may be posted."""


def decisions(instance: ProcessInstance, policy: ReviewPolicy) -> dict[str, Decision]:
    """The latest completed decision of each review step (since the last restart task, if any)."""
    steps = [*policy.steps, *([policy.restart] if policy.restart else [])]
    rows = db.session.execute(
        sa.select(HumanTask, AuditEvent.after).join(
            AuditEvent, sa.and_(AuditEvent.object_type == "human_task",
                                AuditEvent.object_id == sa.cast(HumanTask.id, sa.String),
                                AuditEvent.action == "task.complete"), isouter=True)
        .where(HumanTask.instance_id == instance.id, HumanTask.bpmn_id.in_(steps),
               HumanTask.status == TaskStatus.COMPLETED)
        .order_by(HumanTask.completed_at, HumanTask.id)).all()
    latest: dict[str, Decision] = {}
    for task, after in rows:
        if task.bpmn_id == policy.restart:
            latest.clear()
            continue
        data = (after or {}).get("data") or {}
        latest[task.bpmn_id] = Decision(task.bpmn_id, data.get("decision"), task.completed_by)
    return latest


def require(instance: ProcessInstance, policy: ReviewPolicy, required: Collection[str]) -> list[User]:
    """The approvers of the ``required`` steps; raises :class:`ReviewMissing` saying what is wrong."""
    found = decisions(instance, policy)
    approvers: list[User] = []
    for step in required:
        decision = found.get(step)
        if decision is None or decision.decision != policy.approve or decision.user is None:
            raise ReviewMissing(_l("The review step %(step)s has not approved this record.", step=step))
        if decision.user.id == instance.initiator_id:
            raise ReviewMissing(_l("The review step %(step)s was decided by the applicant.", step=step))
        if not _holds(decision.user, policy.steps[step], instance.subject_org):
            raise ReviewMissing(_l("The review step %(step)s was decided by someone without the role it needs.",
                                   step=step))
        approvers.append(decision.user)
    if len({user.id for user in approvers}) < len(approvers):
        raise ReviewMissing(_l("One person approved at more than one review step; each needs another person."))
    return approvers


def _holds(user: User, role: Role, subject_org: Org) -> bool:
    return any(held.role == role and subject_org.path.startswith(held.org.path)
               for held in role_service.roles_of(user))
