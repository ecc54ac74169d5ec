"""Copy-to (抄送): people added to an instance read its record and are told when they are added and when it ends.

Who may copy: whoever can act on one of the instance's open tasks, or has completed one of its tasks.

Who may be copied: active users of the instance's region, that is of its *copy scope*, the nearest county at or
above the instance's subject organisation (the top of its tree when no county is above it): people whose
organisation is at or below that county (its schools, subgroups, its training centre), and people holding a valid
role at an organisation at or below it or at one above it (the city's bureau officers, say). So a school's record
can be shown to its county's staff and the city above, never to another county's schools.

This module must never import :mod:`webapp.services.instances`, which calls :func:`instance_ended` when an instance
completes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import (
    HumanTask,
    InstanceStatus,
    InstanceWatcher,
    Org,
    OrgType,
    ProcessInstance,
    RoleAssignment,
    TaskStatus,
    User,
)
from webapp.services import audit, notifications, tasks
from webapp.services import roles as role_service
from webapp.services.errors import NotAllowed, ServiceError

#: At most this many people are copied in one go.
MAX_PER_ADDITION = 20
#: The picker suggests at most this many people (the reviewers above the record).
MAX_SUGGESTED = 30
COPIED = "instance.copied"
ENDED = "instance.ended"


def watchers(instance: ProcessInstance) -> list[InstanceWatcher]:
    """The people copied on ``instance``, in the order they were added."""
    return list(db.session.scalars(sa.select(InstanceWatcher).where(InstanceWatcher.instance_id == instance.id)
                                   .order_by(InstanceWatcher.added_at, InstanceWatcher.id)))


def may_copy(instance: ProcessInstance, user: User) -> bool:
    """Can ``user`` act on an open task of ``instance``, or did they complete one of its tasks?"""
    rows = db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance.id)).all()
    if any(task.completed_by_id == user.id for task in rows):
        return True
    return any(task.status is TaskStatus.OPEN and tasks.can_act(task, user) for task in rows)


def copy_scope(instance: ProcessInstance) -> Org:
    """The organisation whose people may be copied on ``instance`` (see the module's docstring)."""
    subject = instance.subject_org
    ancestors = {org.id: org for org in db.session.scalars(sa.select(Org).where(Org.id.in_(subject.ancestor_ids)))}
    chain = [ancestors[org_id] for org_id in subject.ancestor_ids if org_id in ancestors]
    return next((org for org in chain if org.type is OrgType.COUNTY), chain[-1] if chain else subject)


def _in_scope(scope: Org) -> sa.ColumnElement[bool]:
    """SQL: a ``User`` row may be copied on an instance of copy scope ``scope``."""
    below = sa.select(Org.id).where(Org.path.startswith(scope.path, autoescape=True))
    holders = sa.select(RoleAssignment.user_id).where(
        role_service.valid_on(RoleAssignment, date.today()),
        sa.or_(RoleAssignment.org_id.in_(below), RoleAssignment.org_id.in_(scope.ancestor_ids)))
    return sa.and_(User.active.is_(True), sa.or_(User.org_id.in_(below), User.id.in_(holders)))


def suggested(instance: ProcessInstance, user: User) -> list[User]:
    """People to offer in the picker: the reviewers above the record (holders of the chain roles at its subject
    organisation and above), not yet copied, not ``user``; by name, at most :data:`MAX_SUGGESTED`."""
    copied = sa.select(InstanceWatcher.user_id).where(InstanceWatcher.instance_id == instance.id)
    reviewers = sa.select(RoleAssignment.user_id).where(
        RoleAssignment.role.in_(tasks.CHAIN_ROLES), RoleAssignment.org_id.in_(instance.subject_org.ancestor_ids),
        role_service.valid_on(RoleAssignment, date.today()))
    query = (sa.select(User).where(User.id.in_(reviewers), User.id.not_in(copied), User.id != user.id,
                                   _in_scope(copy_scope(instance)))
             .options(selectinload(User.org)).order_by(User.display_name, User.id).limit(MAX_SUGGESTED))
    return list(db.session.scalars(query))


def _key(ref: int | str) -> int | str:
    return ref.strip().lower() if isinstance(ref, str) else ref


def people(refs: Sequence[int | str]) -> list[User]:
    """The users named by ``refs`` (ids, or logins in any case), each once, in the order given; an unknown one is
    refused, and so are more than :data:`MAX_PER_ADDITION` of them."""
    keys = list(dict.fromkeys(_key(ref) for ref in refs if not isinstance(ref, str) or ref.strip()))
    if len(keys) > MAX_PER_ADDITION:
        raise ServiceError(_l("Copy at most %(n)d people at a time.", n=MAX_PER_ADDITION), field="users")
    ids = [key for key in keys if isinstance(key, int)]
    logins = [key for key in keys if isinstance(key, str)]
    found = list(db.session.scalars(sa.select(User).where(sa.or_(User.id.in_(ids),
                                                                 sa.func.lower(User.login).in_(logins)))))
    by_key: dict[int | str, User] = {**{u.id: u for u in found}, **{u.login.lower(): u for u in found}}
    unknown = [str(key) for key in keys if key not in by_key]
    if unknown:
        raise ServiceError(_l("There is no such user: %(names)s.", names="、".join(unknown)), field="users")
    return list({by_key[key].id: by_key[key] for key in keys}.values())


def add(instance: ProcessInstance, user: User, chosen: Sequence[User]) -> list[User]:
    """Copy ``chosen`` on ``instance`` as ``user``; returns those newly added (existing watchers: no-op).

    Each one is told, and the history says who added whom.
    """
    if not may_copy(instance, user):
        raise NotAllowed(_l("Only those who handle or handled a step of this process may copy others on it."))
    distinct = list({person.id: person for person in chosen}.values())
    if not distinct:
        raise ServiceError(_l("Choose the people to copy."), field="users")
    if len(distinct) > MAX_PER_ADDITION:
        raise ServiceError(_l("Copy at most %(n)d people at a time.", n=MAX_PER_ADDITION), field="users")
    if any(person.id == user.id for person in distinct):
        raise ServiceError(_l("You cannot copy yourself."), field="users")
    # One addition at a time per instance, so two people copying the same colleague cannot both insert them.
    db.session.execute(sa.select(ProcessInstance.id).where(ProcessInstance.id == instance.id).with_for_update())
    allowed = set(db.session.scalars(sa.select(User.id).where(User.id.in_([p.id for p in distinct]),
                                                              _in_scope(copy_scope(instance)))))
    refused = [person.display_name for person in distinct if person.id not in allowed]
    if refused:
        raise ServiceError(_l("These people cannot be copied on this process (not active, or outside its region): "
                              "%(names)s.", names="、".join(refused)), field="users")
    present = set(db.session.scalars(sa.select(InstanceWatcher.user_id).where(
        InstanceWatcher.instance_id == instance.id, InstanceWatcher.user_id.in_(allowed))))
    added = [person for person in distinct if person.id not in present]
    if not added:
        return []
    db.session.add_all(InstanceWatcher(instance_id=instance.id, user_id=person.id, added_by_id=user.id)
                       for person in added)
    db.session.flush()
    audit.record("instance.copy", actor=user, obj=instance, instance_id=instance.id,
                 after={"user_ids": [person.id for person in added], "names": [p.display_name for p in added]})
    for person in added:
        notifications.notify(person, COPIED,
                             title=_l("%(name)s copied you on “%(title)s”", name=user.display_name,
                                      title=notifications.one_line(instance.title, notifications.QUOTED_MAX)),
                             link=f"/inbox/instances/{instance.id}", instance_id=instance.id)
    return added


def instance_ended(instance: ProcessInstance) -> None:
    """``instance`` has just completed or been cancelled: tell the people copied on it."""
    if instance.id is None:  # completed as it started: nobody can have been copied yet
        return
    people_ids = db.session.scalars(sa.select(InstanceWatcher.user_id)
                                    .where(InstanceWatcher.instance_id == instance.id)).all()
    if not people_ids:
        return
    title = notifications.one_line(instance.title, notifications.QUOTED_MAX)
    if instance.status is InstanceStatus.CANCELLED:
        text = _l("“%(title)s” was cancelled", title=title)
    else:
        text = _l("“%(title)s” has finished", title=title)
    notifications.notify_many(db.session.scalars(sa.select(User).where(User.id.in_(people_ids)).order_by(User.id)),
                              ENDED, title=text, link=f"/inbox/instances/{instance.id}", instance_id=instance.id)
