"""Human tasks: who may see and act on them, the inbox queries, claim, unclaim, transfer and comment."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased, joinedload, selectinload

from webapp.extensions import db
from webapp.models import (
    Delegation,
    HumanTask,
    InstanceWatcher,
    ProcessInstance,
    Role,
    RoleAssignment,
    TaskCandidate,
    TaskComment,
    TaskStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.services import audit, notifications, processes
from webapp.services import roles as role_service
from webapp.services.errors import Conflict, NotAllowed, NotFound, ServiceError

COMMENT_MAX_LENGTH = 2000
TRANSFER_REASON_MAX_LENGTH = 200
#: The transfer picker lists at most this many colleagues (a role held by more is a broadcast, not a team).
TRANSFER_CANDIDATES_MAX = 200
#: The kind of the notice a colleague gets when a task is transferred to them.
TASK_TRANSFERRED = "task.transferred"


class Scope(enum.StrEnum):
    #: Assigned to me or claimed by me.
    ASSIGNED = "assigned"
    #: Open, unclaimed tasks I could claim through my roles or as a named candidate.
    CLAIMABLE = "claimable"
    #: Both of the above.
    ALL = "all"
    #: Tasks I completed.
    DONE = "done"


def held_pairs(user: User) -> list[tuple[str, int]]:
    """The (role code, org id) pairs ``user`` acts in today, for :func:`inbox_query`."""
    return [(held.role.value, held.org.id) for held in role_service.roles_of(user)]


def _claimable_by(user: User, pairs: Sequence[tuple[str, int]]):
    """Task ids naming the user, or one of their (role, org) pairs: two index-only probes (see the indexes)."""
    ids = sa.select(TaskCandidate.task_id).where(TaskCandidate.user_id == user.id)
    if pairs:
        ids = sa.union_all(sa.select(TaskCandidate.task_id)
                           .where(sa.tuple_(TaskCandidate.role, TaskCandidate.org_id).in_(pairs)), ids)
    return HumanTask.id.in_(ids)


def _own_forbidden(user: User) -> sa.Select:
    """Open tasks of instances ``user`` started whose form forbids self-review (the process packages name those
    forms: nobody reviews their own application): a probe of the user's own instances, never one query per task.
    Such tasks are not offered to the initiator in any inbox list."""
    return (sa.select(HumanTask.id).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(ProcessInstance.initiator_id == user.id, HumanTask.status == TaskStatus.OPEN,
                   HumanTask.form_key.in_(sorted(processes.self_review_forms()))))


def _claimable_rows(user: User, pairs: Sequence[tuple[str, int]]) -> sa.Select:
    who = [TaskCandidate.user_id == user.id]
    if pairs:
        who.append(sa.tuple_(TaskCandidate.role, TaskCandidate.org_id).in_(pairs))
    query = sa.select(TaskCandidate.task_id, TaskCandidate.due_at).where(TaskCandidate.claimable.is_(True),
                                                                         sa.or_(*who))
    if processes.self_review_forms():
        query = query.where(TaskCandidate.task_id.not_in(_own_forbidden(user)))
    return query


def claimable_count_query(user: User, pairs: Sequence[tuple[str, int]]) -> sa.Select:
    ids = _claimable_rows(user, pairs).with_only_columns(TaskCandidate.task_id).distinct().subquery()
    return sa.select(sa.func.count()).select_from(ids)


def claimable_count(user: User, pairs: Sequence[tuple[str, int]]) -> int:
    """How many tasks ``user`` can claim, counted in ``task_candidate``'s claimable indexes alone."""
    return db.session.scalar(claimable_count_query(user, pairs)) or 0


def claimable_ids_query(user: User, pairs: Sequence[tuple[str, int]], *, page: int, per_page: int) -> sa.Select:
    rows = _claimable_rows(user, pairs).subquery()
    due = sa.func.min(rows.c.due_at)
    return (sa.select(rows.c.task_id).group_by(rows.c.task_id).order_by(due.is_(None), due, rows.c.task_id)
            .limit(per_page).offset((page - 1) * per_page))


#: What an inbox row reads of its task, loaded with the page instead of once per row.
ROW_LOADS = (joinedload(HumanTask.instance).joinedload(ProcessInstance.initiator), joinedload(HumanTask.subject_org),
             joinedload(HumanTask.claimed_by))


def claimable_page(user: User, pairs: Sequence[tuple[str, int]], *, page: int, per_page: int) -> list[HumanTask]:
    """One page of the tasks ``user`` can claim, soonest due first (undated last), from the indexes alone;
    the same tasks and order as ``inbox_query(user, Scope.CLAIMABLE)`` sorted by due date."""
    ids = db.session.scalars(claimable_ids_query(user, pairs, page=page, per_page=per_page)).all()
    found = {task.id: task for task in db.session.scalars(
        sa.select(HumanTask).where(HumanTask.id.in_(ids)).options(*ROW_LOADS))}
    return [found[task_id] for task_id in ids if task_id in found]


def inbox_query(user: User, scope: Scope = Scope.ALL, *, process_key: str | None = None,
                subject_org_ids: sa.Select | None = None, overdue_at: datetime | None = None,
                pairs: Sequence[tuple[str, int]] | None = None) -> sa.Select:
    """The tasks ``user`` sees in ``scope``, newest first; filters narrow it further.

    ``pairs``: the user's :func:`held_pairs`, when the caller has them already (a page asks several times).
    """
    if scope is Scope.DONE:
        query = sa.select(HumanTask).where(HumanTask.completed_by_id == user.id)
        order = HumanTask.completed_at.desc()
    else:
        mine = sa.or_(HumanTask.assignee_id == user.id, HumanTask.claimed_by_id == user.id)
        if scope is Scope.ASSIGNED:
            who = mine
        else:
            claimable = sa.and_(HumanTask.assignee_id.is_(None), HumanTask.claimed_by_id.is_(None),
                                _claimable_by(user, held_pairs(user) if pairs is None else pairs))
            who = claimable if scope is Scope.CLAIMABLE else sa.or_(mine, claimable)
        query = sa.select(HumanTask).where(HumanTask.status == TaskStatus.OPEN, who)
        if processes.self_review_forms():
            query = query.where(HumanTask.id.not_in(_own_forbidden(user)))
        order = HumanTask.created_at.desc()
    if process_key:
        query = query.where(HumanTask.process_key == process_key)
    if subject_org_ids is not None:
        query = query.where(HumanTask.subject_org_id.in_(subject_org_ids))
    if overdue_at is not None:
        query = query.where(HumanTask.due_at < overdue_at)
    return query.order_by(order, HumanTask.id.desc())


def _acts_in(user: User, day: date):
    """A sub-select of the (role, org_id) pairs ``user`` acts in on ``day``: own assignments and delegated ones."""
    valid = role_service.valid_on(RoleAssignment, day)
    delegators = (sa.select(Delegation.from_user_id)
                  .join(User, User.id == Delegation.from_user_id)
                  .where(Delegation.to_user_id == user.id, Delegation.active.is_(True), User.active.is_(True),
                         Delegation.valid_from <= day, Delegation.valid_to >= day,
                         sa.or_(Delegation.role.is_(None), Delegation.role == RoleAssignment.role)))
    return valid, sa.or_(RoleAssignment.user_id == user.id, RoleAssignment.user_id.in_(delegators))


def is_candidate(task: HumanTask, user: User) -> bool:
    """May ``user`` claim ``task`` (named candidate, or acts in a candidate role at its scope organisation)?

    One query: this sits on the path of every completion.
    """
    valid, whose = _acts_in(user, date.today())
    holds = (sa.select(RoleAssignment.id)
             .where(RoleAssignment.role == TaskCandidate.role, RoleAssignment.org_id == TaskCandidate.org_id,
                    valid, whose))
    query = sa.select(sa.exists().where(TaskCandidate.task_id == task.id,
                                        sa.or_(TaskCandidate.user_id == user.id, sa.exists(holds))))
    return bool(db.session.scalar(query))


def can_act(task: HumanTask, user: User) -> bool:
    if task.claimed_by_id is not None:
        return task.claimed_by_id == user.id
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return is_candidate(task, user)


#: The roles that review and recognise work along the organisation tree (not designers, experts, admins...).
CHAIN_ROLES = (Role.SUBGROUP_LEADER, Role.SCHOOL_OFFICER, Role.PRINCIPAL, Role.COUNTY_OFFICER, Role.BUREAU_OFFICER)


def reviews_in_chain(task: HumanTask, user: User) -> bool:
    """Does ``user`` act in a reviewing role (:data:`CHAIN_ROLES`) at the task's subject organisation or above?

    They may look at the task even when they are not (or no longer: closed tasks keep no candidates) among
    those who may act on it, so a reviewer who comes too late is told it is closed rather than "not found".
    """
    valid, whose = _acts_in(user, date.today())
    query = sa.select(sa.exists().where(RoleAssignment.role.in_(CHAIN_ROLES),
                                        RoleAssignment.org_id.in_(task.subject_org.ancestor_ids), valid, whose))
    return bool(db.session.scalar(query))


def can_see(task: HumanTask, user: User) -> bool:
    if user.id in (task.completed_by_id, task.assignee_id, task.claimed_by_id, task.instance.initiator_id):
        return True
    return is_candidate(task, user) or reviews_in_chain(task, user)


def authorise_complete(task: HumanTask, user: User) -> None:
    """Raise :class:`NotAllowed` unless ``user`` may complete ``task`` now."""
    if can_act(task, user):
        return
    if task.claimed_by_id is not None and is_candidate(task, user):
        raise NotAllowed(_l("%(name)s has claimed this task; only they can complete it.",
                            name=task.claimed_by.display_name))
    raise NotAllowed(_l("You may not act on this task."))


def get_visible(task_id: int, user: User) -> HumanTask:
    """The task, if ``user`` may see it; otherwise :class:`NotFound` (its existence is not revealed)."""
    task = db.session.get(HumanTask, task_id)
    if task is None or not can_see(task, user):
        raise NotFound(_l("This task does not exist or is not visible to you."))
    return task


def _lock_task(task: HumanTask) -> HumanTask:
    locked = db.session.scalar(sa.select(HumanTask).where(HumanTask.id == task.id).with_for_update()
                               .execution_options(populate_existing=True))
    if locked is None:
        raise NotFound(_l("This task does not exist or is not visible to you."))
    if locked.status is not TaskStatus.OPEN:
        raise Conflict(_l("This task has already been completed or cancelled."))
    return locked


def _sync_claimable(task: HumanTask) -> None:
    """Copy "open, unassigned and unclaimed" onto the task's candidate rows (see TaskCandidate.claimable)."""
    db.session.execute(sa.update(TaskCandidate).where(TaskCandidate.task_id == task.id)
                       .values(claimable=task.assignee_id is None and task.claimed_by_id is None)
                       .execution_options(synchronize_session=False))
    db.session.expire(task, ["candidates"])


def may_take(task: HumanTask, user: User) -> bool:
    """Whether ``user`` may take the task on at all: never their own review (its form forbids self-review)."""
    return not (task.form_key in processes.self_review_forms() and task.instance.initiator_id == user.id)


def claim(task: HumanTask, user: User) -> HumanTask:
    task = _lock_task(task)
    if not may_take(task, user):
        raise NotAllowed(_l("You cannot review your own application."))
    if task.claimed_by_id == user.id:
        return task
    if task.claimed_by_id is not None:
        raise Conflict(_l("%(name)s claimed this task first.", name=task.claimed_by.display_name))
    if task.assignee_id not in (None, user.id) or not (task.assignee_id == user.id or is_candidate(task, user)):
        raise NotAllowed(_l("You may not claim this task."))
    task.claimed_by_id, task.claimed_at = user.id, utcnow()
    _sync_claimable(task)
    audit.record("task.claim", actor=user, obj=task, instance_id=task.instance_id, after={"task": task.bpmn_id})
    db.session.flush()
    return task


def unclaim(task: HumanTask, user: User) -> HumanTask:
    task = _lock_task(task)
    if task.claimed_by_id != user.id:
        raise NotAllowed(_l("Only the person who claimed this task can give it back."))
    task.claimed_by_id, task.claimed_at = None, None
    _sync_claimable(task)
    audit.record("task.unclaim", actor=user, obj=task, instance_id=task.instance_id, after={"task": task.bpmn_id})
    db.session.flush()
    return task


def transfer(task: HumanTask, user: User, colleague: User, reason: str) -> HumanTask:
    """Hand ``task`` over (转交) to a colleague who may act on it too (:func:`is_candidate`), with a reason.

    The colleague becomes its assignee (any claim ends) and is told, with the reason; the history keeps who
    it went to and why. Never to the person who started the instance when its form forbids self-review.
    """
    task = _lock_task(task)
    if not can_act(task, user):
        raise NotAllowed(_l("You may not act on this task."))
    if colleague.id == user.id:
        raise ServiceError(_l("Choose a colleague other than yourself."), field="to_user")
    if not colleague.active:
        raise ServiceError(_l("%(name)s's account is not active.", name=colleague.display_name), field="to_user")
    if task.form_key in processes.self_review_forms() and colleague.id == task.instance.initiator_id:
        raise ServiceError(_l("%(name)s started this process and may not handle this step of it.",
                              name=colleague.display_name), field="to_user")
    if not is_candidate(task, colleague):
        raise ServiceError(_l("%(name)s does not hold the role this task needs.", name=colleague.display_name),
                           field="to_user")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_l("Give the reason for the transfer."), field="reason")
    if len(reason) > TRANSFER_REASON_MAX_LENGTH:
        raise ServiceError(_l("A reason can have at most %(n)d characters.", n=TRANSFER_REASON_MAX_LENGTH),
                           field="reason")
    before = {"assignee_id": task.assignee_id, "claimed_by_id": task.claimed_by_id}
    task.assignee_id, task.claimed_by_id, task.claimed_at = colleague.id, None, None
    _sync_claimable(task)
    audit.record("task.transfer", actor=user, obj=task, instance_id=task.instance_id, before=before,
                 after={"task": task.bpmn_id, "to_user_id": colleague.id, "to_name": colleague.display_name,
                        "reason": reason})
    instance = task.instance
    notifications.notify(
        colleague, TASK_TRANSFERRED,
        title=_l("%(name)s transferred a task to you: %(task)s – %(title)s", name=user.display_name,
                 task=notifications.one_line(task.name, notifications.QUOTED_MAX),
                 title=notifications.one_line(instance.title, notifications.QUOTED_MAX)),
        body=_l("Reason: %(reason)s", reason=reason), link=f"/inbox/tasks/{task.id}", instance_id=instance.id)
    db.session.flush()
    return task


def transfer_candidates(task: HumanTask, user: User, *, limit: int = TRANSFER_CANDIDATES_MAX) -> list[User]:
    """The colleagues ``user`` may transfer ``task`` to (the rules of :func:`transfer`), by name, at most ``limit``.

    One query, the same people :func:`is_candidate` accepts: named candidates, holders of a candidate role at its
    organisation today, and their substitutes for that role.
    """
    day = date.today()
    matches = sa.and_(TaskCandidate.task_id == task.id, TaskCandidate.role == RoleAssignment.role,
                      TaskCandidate.org_id == RoleAssignment.org_id)
    valid = role_service.valid_on(RoleAssignment, day)
    holders = sa.select(RoleAssignment.user_id).join(TaskCandidate, matches).where(valid)
    delegator = aliased(User)
    substitutes = (sa.select(Delegation.to_user_id)
                   .join(delegator, delegator.id == Delegation.from_user_id)
                   .join(RoleAssignment, RoleAssignment.user_id == Delegation.from_user_id)
                   .join(TaskCandidate, matches)
                   .where(valid, delegator.active.is_(True), Delegation.active.is_(True),
                          Delegation.valid_from <= day, Delegation.valid_to >= day,
                          sa.or_(Delegation.role.is_(None), Delegation.role == RoleAssignment.role)))
    named = sa.select(TaskCandidate.user_id).where(TaskCandidate.task_id == task.id,
                                                   TaskCandidate.user_id.is_not(None))
    query = sa.select(User).where(User.active.is_(True), User.id != user.id,
                                  sa.or_(User.id.in_(holders), User.id.in_(substitutes), User.id.in_(named)))
    if task.form_key in processes.self_review_forms() and task.instance.initiator_id is not None:
        query = query.where(User.id != task.instance.initiator_id)
    return list(db.session.scalars(query.options(selectinload(User.org)).order_by(User.display_name, User.id)
                                   .limit(limit)))


def may_comment(instance: ProcessInstance, user: User) -> bool:
    """Those who act on the instance may comment on it; others who may only look (the chain above, administrators)
    may not.

    They are its initiator, whoever completed one of its tasks, the assignee, claimer or a candidate of an open
    one (a candidate role held directly or as a substitute), and the active substitutes of those named people.
    """
    if instance.initiator_id == user.id:
        return True
    rows = db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance.id)).all()
    open_tasks = [task for task in rows if task.status is TaskStatus.OPEN]
    people = {task.completed_by_id for task in rows} | {task.assignee_id for task in open_tasks} \
        | {task.claimed_by_id for task in open_tasks}
    people.discard(None)
    if user.id in people or any(is_candidate(task, user) for task in open_tasks):
        return True
    named = sa.select(TaskCandidate.user_id).where(TaskCandidate.task_id.in_([task.id for task in open_tasks]),
                                                   TaskCandidate.user_id.is_not(None))
    today = date.today()
    substitute = (sa.select(Delegation.id).join(User, User.id == Delegation.from_user_id)
                  .where(Delegation.to_user_id == user.id, Delegation.active.is_(True), User.active.is_(True),
                         Delegation.valid_from <= today, Delegation.valid_to >= today,
                         sa.or_(Delegation.from_user_id.in_(people), Delegation.from_user_id.in_(named))))
    return bool(db.session.scalar(sa.select(sa.exists(substitute))))


def authorise_comment(instance: ProcessInstance, user: User) -> None:
    """Raise :class:`NotAllowed` unless ``user`` may comment on ``instance`` (:func:`may_comment`)."""
    if not may_comment(instance, user):
        raise NotAllowed(_l("Only the people taking part in this process may comment on it: the applicant, "
                            "those who handle or handled its steps, and their substitutes."))


def comment(task: HumanTask, user: User, body: str) -> TaskComment:
    """Add ``body`` to the task's instance as ``user``, who must take part in it (:func:`may_comment`)."""
    authorise_comment(task.instance, user)
    text = (body or "").strip()
    if not text:
        raise ServiceError(_l("Write a comment first."), field="body")
    if len(text) > COMMENT_MAX_LENGTH:
        raise ServiceError(_l("A comment can have at most %(n)d characters.", n=COMMENT_MAX_LENGTH), field="body")
    note = TaskComment(instance_id=task.instance_id, task_id=task.id, author_id=user.id, body=text)
    db.session.add(note)
    db.session.flush()
    audit.record("task.comment", actor=user, obj=note, instance_id=task.instance_id,
                 after={"task": task.bpmn_id, "body": text})
    return note


def can_see_instance(instance: ProcessInstance, user: User) -> bool:
    """The initiator, the people copied on it (watchers), anyone who can see one of its tasks, and administrators
    over its organisation."""
    if instance.initiator_id == user.id:
        return True
    watching = sa.select(InstanceWatcher.id).where(InstanceWatcher.instance_id == instance.id,
                                                    InstanceWatcher.user_id == user.id)
    if db.session.scalar(sa.select(sa.exists(watching))):
        return True
    if any(held.role is Role.ADMIN and instance.subject_org.path.startswith(held.org.path)
           for held in role_service.roles_of(user)):
        return True
    tasks = db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
    return any(can_see(task, user) for task in tasks)
