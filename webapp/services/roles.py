"""Who holds role R for subject organisation S: walk up the tree, honour validity dates and delegations.

The nearest organisation (the subject org itself first, then its parent, and so on up to the root) at
which at least one valid assignment of the role exists is the *scope* of the answer; its holders are
the answer, plus anyone to whom a holder has delegated that role for the day asked about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Delegation, Org, Role, RoleAssignment, User


@dataclass(frozen=True)
class Holder:
    user: User
    #: Set when the user acts as a substitute: the holder who delegated to them.
    on_behalf_of: User | None = None


@dataclass(frozen=True)
class Resolution:
    role: Role
    subject_org: Org
    #: The organisation where the role was found; None when nobody holds it anywhere up the tree.
    scope_org: Org | None
    holders: list[Holder] = field(default_factory=list)

    @property
    def users(self) -> list[User]:
        seen: dict[int, User] = {}
        for holder in self.holders:
            seen.setdefault(holder.user.id, holder.user)
        return list(seen.values())


def valid_on(model, day: date):
    """SQL: ``model`` (an assignment, delegation or organisation row) is active and in force on ``day``."""
    return sa.and_(model.active.is_(True),
                   sa.or_(model.valid_from.is_(None), model.valid_from <= day),
                   sa.or_(model.valid_to.is_(None), model.valid_to >= day))


def delegates_for(holder_ids: list[int], role: Role, day: date) -> list[Delegation]:
    """Active delegations on ``day`` from any of ``holder_ids`` covering ``role``."""
    if not holder_ids:
        return []
    query = (sa.select(Delegation)
             .where(Delegation.from_user_id.in_(holder_ids), Delegation.active.is_(True),
                    Delegation.valid_from <= day, Delegation.valid_to >= day,
                    sa.or_(Delegation.role.is_(None), Delegation.role == role)))
    return list(db.session.scalars(query))


def resolve(role: Role | str, subject_org: Org, on: date | None = None) -> Resolution:
    """The holders of ``role`` for ``subject_org`` on day ``on`` (today by default)."""
    role = Role(role)
    day = on or date.today()
    ancestor_ids = subject_org.ancestor_ids
    rows = db.session.execute(
        sa.select(User, Org)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .join(Org, Org.id == RoleAssignment.org_id)
        .where(RoleAssignment.role == role, RoleAssignment.org_id.in_(ancestor_ids),
               valid_on(RoleAssignment, day), User.active.is_(True),
               valid_on(Org, day))
    ).all()
    if not rows:
        return Resolution(role, subject_org, None, [])
    position = {org_id: index for index, org_id in enumerate(ancestor_ids)}
    scope = min((org for _, org in rows), key=lambda org: position[org.id])
    holders = sorted({user for user, org in rows if org.id == scope.id}, key=lambda u: u.id)
    result = [Holder(user) for user in holders]
    by_id = {user.id: user for user in holders}
    for delegation in delegates_for(list(by_id), role, day):
        if delegation.to_user.active:
            result.append(Holder(delegation.to_user, on_behalf_of=by_id[delegation.from_user_id]))
    return Resolution(role, subject_org, scope, result)


def scope_of(role: Role | str, subject_org: Org, on: date | None = None) -> int | None:
    """Only the id of the organisation :func:`resolve` would find (one query, no users loaded)."""
    day = on or date.today()
    ancestor_ids = subject_org.ancestor_ids
    found = set(db.session.scalars(
        sa.select(RoleAssignment.org_id).distinct()
        .join(User, User.id == RoleAssignment.user_id)
        .join(Org, Org.id == RoleAssignment.org_id)
        .where(RoleAssignment.role == Role(role), RoleAssignment.org_id.in_(ancestor_ids),
               valid_on(RoleAssignment, day), User.active.is_(True), valid_on(Org, day))))
    return next((org_id for org_id in ancestor_ids if org_id in found), None)


@dataclass(frozen=True)
class HeldRole:
    role: Role
    org: Org
    #: Set when the role is held through a delegation from this user.
    delegated_by: User | None = None


def roles_of(user: User, on: date | None = None) -> list[HeldRole]:
    """Every (role, org) the user may act in on ``on``: own valid assignments, then delegated ones."""
    day = on or date.today()
    own = db.session.scalars(
        sa.select(RoleAssignment).options(joinedload(RoleAssignment.org))
        .where(RoleAssignment.user_id == user.id, valid_on(RoleAssignment, day))
        .order_by(RoleAssignment.role, RoleAssignment.org_id)).all()
    held = [HeldRole(a.role, a.org) for a in own]
    delegations = db.session.scalars(
        sa.select(Delegation).options(joinedload(Delegation.from_user))
        .where(Delegation.to_user_id == user.id, Delegation.active.is_(True),
                                    Delegation.valid_from <= day, Delegation.valid_to >= day)).all()
    for delegation in delegations:
        if not delegation.from_user.active:
            continue
        for assignment in db.session.scalars(
                sa.select(RoleAssignment).options(joinedload(RoleAssignment.org))
                .where(RoleAssignment.user_id == delegation.from_user_id, valid_on(RoleAssignment, day))):
            if delegation.role is None or delegation.role == assignment.role:
                held.append(HeldRole(assignment.role, assignment.org, delegated_by=delegation.from_user))
    return held


def has_role(user: User, role: Role, on: date | None = None) -> bool:
    return any(h.role == role for h in roles_of(user, on))
