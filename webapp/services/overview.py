"""What each role's home page shows: the facts a person needs before their work starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import AuditEvent, Delegation, Membership, Org, OrgType, Role, RoleAssignment, User
from webapp.services import roles as role_service

#: The review chain a teacher's application goes through (DOMAIN.md §3), in order.
REVIEW_CHAIN = (Role.SUBGROUP_LEADER, Role.SCHOOL_OFFICER, Role.COUNTY_OFFICER)


@dataclass
class Scope:
    """One organisation a leader is responsible for, with the size of what lies below it."""

    role: Role
    org: Org
    delegated_by: User | None
    teachers: int
    schools: int


@dataclass
class HomeOverview:
    held: list[role_service.HeldRole]
    roles: set[Role]
    reviewers: list[role_service.Resolution] = field(default_factory=list)
    scopes: list[Scope] = field(default_factory=list)
    delegations_out: list[Delegation] = field(default_factory=list)
    delegations_in: list[Delegation] = field(default_factory=list)
    admin_counts: dict[str, int] = field(default_factory=dict)
    recent_events: list[AuditEvent] = field(default_factory=list)


def teacher_subject_org(user: User) -> Org | None:
    """The organisation a teacher's work is reviewed from: their primary subgroup, else their school."""
    primary = next((m.org for m in user.memberships if m.is_primary and m.org.active), None)
    return primary or user.org


def _scope_sizes(org: Org) -> tuple[int, int]:
    """Teachers and schools at or below ``org``. Teachers hold their role at the school and sit in subgroups
    through :class:`Membership`, so a subgroup counts its teacher members."""
    below = sa.select(Org.id).where(Org.path.startswith(org.path, autoescape=True))
    members = sa.select(Membership.user_id).where(Membership.org_id.in_(below))
    teachers = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(RoleAssignment.user_id)))
        .where(RoleAssignment.role == Role.TEACHER, RoleAssignment.active.is_(True),
               sa.or_(RoleAssignment.org_id.in_(below), RoleAssignment.user_id.in_(members)))) or 0
    schools = db.session.scalar(
        sa.select(sa.func.count()).select_from(Org)
        .where(Org.type == OrgType.SCHOOL, Org.active.is_(True), Org.id.in_(below))) or 0
    return teachers, schools


def build(user: User, held: list[role_service.HeldRole], today: date | None = None) -> HomeOverview:
    """The home page of ``user``, who holds ``held`` today."""
    day = today or date.today()
    overview = HomeOverview(held=held, roles={h.role for h in held})
    if Role.TEACHER in overview.roles:
        subject = teacher_subject_org(user)
        if subject is not None:
            overview.reviewers = [role_service.resolve(role, subject, day) for role in REVIEW_CHAIN]
    for h in held:
        if h.role in {Role.SUBGROUP_LEADER, Role.SCHOOL_OFFICER, Role.PRINCIPAL, Role.COUNTY_OFFICER,
                      Role.BUREAU_OFFICER, Role.RESEARCHER}:
            teachers, schools = _scope_sizes(h.org)
            overview.scopes.append(Scope(h.role, h.org, h.delegated_by, teachers, schools))
    overview.delegations_out = list(db.session.scalars(
        sa.select(Delegation).where(Delegation.from_user_id == user.id, Delegation.active.is_(True),
                                    Delegation.valid_to >= day).order_by(Delegation.valid_from)))
    overview.delegations_in = list(db.session.scalars(
        sa.select(Delegation).where(Delegation.to_user_id == user.id, Delegation.active.is_(True),
                                    Delegation.valid_to >= day).order_by(Delegation.valid_from)))
    if Role.ADMIN in overview.roles:
        overview.admin_counts = {
            "orgs": db.session.scalar(sa.select(sa.func.count()).select_from(Org).where(Org.active.is_(True))),
            "users": db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.active.is_(True))),
            "assignments": db.session.scalar(sa.select(sa.func.count()).select_from(RoleAssignment)
                                             .where(RoleAssignment.active.is_(True))),
            "delegations": db.session.scalar(sa.select(sa.func.count()).select_from(Delegation)
                                             .where(Delegation.active.is_(True), Delegation.valid_to >= day)),
        }
        overview.recent_events = list(db.session.scalars(
            sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(8)))
    return overview
