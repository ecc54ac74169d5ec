"""Creating and maintaining user accounts, their roles and their delegations."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import (
    TRAINING_TIERS,
    BackboneLevel,
    Delegation,
    EmploymentType,
    Membership,
    Org,
    OrgType,
    Role,
    RoleAssignment,
    SchoolStage,
    User,
    UserSession,
)
from webapp.models.base import utcnow
from webapp.services import api_tokens, sessions
from webapp.services.errors import ServiceError
from webapp.services.passwords import hash_password
from webapp.services.roles import valid_on

#: Called when someone leaves a school: (user, school or None for everywhere, reason code, actor). The campaigns
#: module registers the withdrawal of their tasks here at app start (it imports this module's neighbours, so this
#: module cannot import it).
leaving_hooks: list[Callable[[User, Org | None, str, User | None], None]] = []
#: The reasons, as the hooks get them.
LEFT_SCHOOL, DEACTIVATED, NO_LONGER_TEACHER = "left_school", "deactivated", "no_longer_teacher"

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
#: What an audit event records of a user, a role assignment and a delegation, before and after a change.
PROFILE_FIELDS = ("login", "display_name", "phone", "email", "org_id", "subject", "stage", "title", "hire_date",
                  "is_class_teacher", "backbone_level", "training_tier", "employment_type", "active")
ASSIGNMENT_FIELDS = ("user_id", "role", "org_id", "valid_from", "valid_to", "active")
DELEGATION_FIELDS = ("from_user_id", "to_user_id", "role", "valid_from", "valid_to", "reason", "active")


def check_password_strength(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise ServiceError(_l("The password must have at least %(n)d characters.", n=min_length), field="password")
    if password.isdigit() or password.isalpha():
        raise ServiceError(_l("The password must mix letters with digits or symbols."), field="password")


def _check_login(login: str, exclude_id: int | None = None) -> None:
    if not LOGIN_PATTERN.match(login):
        raise ServiceError(_l("Login names are 3–64 letters, digits, dots, dashes or underscores."), field="login")
    query = sa.select(User.id).where(sa.func.lower(User.login) == login.lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise ServiceError(_l("The login name %(login)s is already taken.", login=login), field="login")


def _apply_profile(user: User, values: dict[str, Any]) -> None:
    for name in ("display_name", "phone", "email", "subject", "title", "hire_date", "is_class_teacher", "locale"):
        if name in values:
            setattr(user, name, values[name] if values[name] != "" else None)
    if "org" in values:
        user.org = values["org"]
    if "stage" in values:
        user.stage = SchoolStage(values["stage"]) if values["stage"] else None
    if "backbone_level" in values:
        user.backbone_level = BackboneLevel(values["backbone_level"]) if values["backbone_level"] else None
    if "training_tier" in values:
        tier = values["training_tier"]
        if tier in (None, ""):
            user.training_tier = None
        elif isinstance(tier, bool) or str(tier).strip() not in {str(t) for t in TRAINING_TIERS}:
            raise ServiceError(_l("The training tier is 1, 2 or 3."), field="training_tier")
        else:
            user.training_tier = int(str(tier).strip())
    if "employment_type" in values:
        kind = values["employment_type"]
        if kind and kind not in {k.value for k in EmploymentType}:
            raise ServiceError(_l("Unknown employment type."), field="employment_type")
        user.employment_type = kind or None
    if not user.display_name:
        raise ServiceError(_l("The name is required."), field="display_name")


def create_user(*, login: str, password: str, display_name: str, **profile: Any) -> User:
    _check_login(login)
    user = User(login=login, password_hash=hash_password(password), display_name=display_name,
                password_changed_at=utcnow())
    _apply_profile(user, {"display_name": display_name, **profile})
    db.session.add(user)
    db.session.flush()
    return user


def update_user(user: User, *, login: str, actor: User | None = None, **profile: Any) -> User:
    """Change the account; moving to another school withdraws the tasks the processes withdraw when their assignee
    leaves (:data:`leaving_hooks`)."""
    _check_login(login, exclude_id=user.id)
    old_school = school_of(user.org)
    user.login = login
    _apply_profile(user, profile)
    db.session.flush()
    if old_school is not None and (user.org is None or not user.org.path.startswith(old_school.path)):
        _left(user, old_school, LEFT_SCHOOL, actor)
    return user


def set_password(user: User, password: str, *, actor: User | None, ip: str | None = None,
                 keep_session: UserSession | None = None) -> dict[str, int]:
    """Set a new password: every session of ``user`` but ``keep_session`` ends and every API token of theirs is
    revoked (whoever knew the old password may have started them). Returns how many of each, for the audit."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    ended = sessions.end_all(user, keep=keep_session)
    revoked = api_tokens.revoke_all(user, actor, ip)
    db.session.flush()
    return {"sessions_ended": ended, "api_tokens_revoked": revoked}


def set_user_active(user: User, active: bool, *, actor: User | None = None) -> None:
    if not active and db.session.scalar(sa.select(RoleAssignment.id).where(
            RoleAssignment.user_id == user.id, RoleAssignment.role == Role.ADMIN,
            RoleAssignment.active.is_(True)).limit(1)) is not None:
        _keep_an_administrator(user=user)
    was_active = user.active
    user.active = active
    db.session.flush()
    if was_active and not active:
        _left(user, None, DEACTIVATED, actor)


def set_primary_subgroup(user: User, subgroup: Org) -> Membership:
    """Put the teacher in ``subgroup`` and make it the one that reviews their applications first."""
    if subgroup.type is not OrgType.SUBGROUP:
        raise ServiceError(_l("Only a subgroup can be a teacher's group."), field="subgroup")
    for membership in user.memberships:
        membership.is_primary = False
    membership = next((m for m in user.memberships if m.org_id == subgroup.id), None)
    if membership is None:
        membership = Membership(org=subgroup)
        user.memberships.append(membership)
    membership.is_primary = True
    db.session.flush()
    return membership


def _check_period(valid_from: date | None, valid_to: date | None) -> None:
    if valid_from and valid_to and valid_to < valid_from:
        raise ServiceError(_l("The end date must not be before the start date."), field="valid_to")


def _check_admin_scope(role: Role | str, org: Org) -> None:
    """Administration is global (the admin pages reach every organisation), so it is held at the top only:
    a lower "admin" could otherwise make itself administrator of everything."""
    if Role(role) is Role.ADMIN and org.parent_id is not None:
        raise ServiceError(_l("The administrator role covers the whole system; assign it at the top "
                              "organisation."), field="org")


def assign_role(user: User, role: Role | str, org: Org, *, valid_from: date | None = None,
                valid_to: date | None = None) -> RoleAssignment:
    _check_period(valid_from, valid_to)
    _check_admin_scope(role, org)
    assignment = RoleAssignment(user=user, role=Role(role), org=org, valid_from=valid_from, valid_to=valid_to)
    db.session.add(assignment)
    db.session.flush()
    return assignment


def update_assignment(assignment: RoleAssignment, *, role: Role | str, org: Org, valid_from: date | None,
                      valid_to: date | None, actor: User | None = None) -> RoleAssignment:
    _check_period(valid_from, valid_to)
    _check_admin_scope(role, org)
    was_teacher_at = assignment.org if assignment.role is Role.TEACHER else None
    assignment.role, assignment.org = Role(role), org
    assignment.valid_from, assignment.valid_to = valid_from, valid_to
    db.session.flush()
    if was_teacher_at is not None and (assignment.role is not Role.TEACHER or assignment.org_id != was_teacher_at.id
                                       or not _in_force(assignment)):
        _no_longer_teacher(assignment.user, was_teacher_at, actor)
    return assignment


def _in_force(assignment: RoleAssignment) -> bool:
    day = date.today()
    return bool(assignment.active and (assignment.valid_from is None or assignment.valid_from <= day)
                and (assignment.valid_to is None or assignment.valid_to >= day))


def _no_longer_teacher(user: User, org: Org, actor: User | None) -> None:
    school = school_of(org)
    if school is not None:
        _left(user, school, NO_LONGER_TEACHER, actor)


def _left(user: User, school: Org | None, reason: str, actor: User | None) -> None:
    for hook in leaving_hooks:
        hook(user, school, reason, actor)


def school_of(org: Org | None) -> Org | None:
    """The school ``org`` is or belongs to (a subgroup's school), None above or beside schools."""
    if org is None:
        return None
    if org.type is OrgType.SCHOOL:
        return org
    ids = [int(part) for part in org.path.strip("/").split("/") if part.isdigit()]
    return db.session.scalar(sa.select(Org).where(Org.id.in_(ids), Org.type == OrgType.SCHOOL)
                             .order_by(Org.depth.desc()).limit(1)) if ids else None


def _other_admins(excluding_user: User | None = None, excluding: RoleAssignment | None = None) -> int:
    day = date.today()
    query = (sa.select(sa.func.count()).select_from(RoleAssignment).join(User, User.id == RoleAssignment.user_id)
             .where(RoleAssignment.role == Role.ADMIN, User.active.is_(True), valid_on(RoleAssignment, day)))
    if excluding_user is not None:
        query = query.where(RoleAssignment.user_id != excluding_user.id)
    if excluding is not None:
        query = query.where(RoleAssignment.id != excluding.id)
    return db.session.scalar(query) or 0


def _keep_an_administrator(*, user: User | None = None, assignment: RoleAssignment | None = None) -> None:
    if not _other_admins(user, assignment):
        raise ServiceError(_l("This is the last administrator; make someone else administrator first."))


def end_assignment(assignment: RoleAssignment, on: date | None = None, *, actor: User | None = None) -> None:
    """End the assignment now; its end date becomes ``on`` (today by default) and the row stays as history."""
    if assignment.role is Role.ADMIN:
        _keep_an_administrator(assignment=assignment)
    day = on or date.today()
    assignment.active = False
    if assignment.valid_to is None or assignment.valid_to >= day:
        assignment.valid_to = max(day, assignment.valid_from or day)
    db.session.flush()
    if assignment.role is Role.TEACHER:
        _no_longer_teacher(assignment.user, assignment.org, actor)


def _check_delegation(from_user: User, to_user: User, valid_from: date | None, valid_to: date | None) -> None:
    if from_user.id == to_user.id:
        raise ServiceError(_l("A person cannot delegate to themselves."), field="to_user")
    if not to_user.active:
        raise ServiceError(_l("The substitute's account is deactivated."), field="to_user")
    _check_period(valid_from, valid_to)
    if valid_to is None or valid_from is None:
        raise ServiceError(_l("A delegation needs a start and an end date."), field="valid_to")


def delegate(from_user: User, to_user: User, *, role: Role | str | None, valid_from: date, valid_to: date,
             reason: str | None = None, created_by: User | None = None) -> Delegation:
    _check_delegation(from_user, to_user, valid_from, valid_to)
    delegation = Delegation(from_user=from_user, to_user=to_user, role=Role(role) if role else None,
                            valid_from=valid_from, valid_to=valid_to, reason=reason or None,
                            created_by_id=created_by.id if created_by else None)
    db.session.add(delegation)
    db.session.flush()
    return delegation


def find_by_login(login: str) -> User | None:
    """The user with this login name, whatever its case."""
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.login) == login.strip().lower()))


def check_login(login: str, exclude_id: int | None = None) -> None:
    """Raise a ``ServiceError`` when ``login`` is malformed or taken (by another user than ``exclude_id``)."""
    _check_login(login, exclude_id)


def primary_subgroup(user: User) -> Org | None:
    return next((m.org for m in user.memberships if m.is_primary), None)


def clear_primary_subgroup(user: User) -> None:
    """The teacher keeps their subgroup memberships but none of them reviews first any more."""
    for membership in user.memberships:
        membership.is_primary = False
    db.session.flush()


def search_users(*, text: str | None = None, org: Org | None = None, role: Role | str | None = None,
                 active: bool | None = None) -> sa.Select:
    """Users matching every filter given: ``text`` in login, name or phone; working in ``org`` or below it;
    holding an active assignment of ``role``; active or not."""
    query = sa.select(User).order_by(User.display_name, User.login)
    if text:
        query = query.where(sa.or_(User.login.icontains(text, autoescape=True),
                                   User.display_name.icontains(text, autoescape=True),
                                   User.phone.icontains(text, autoescape=True)))
    if org is not None:
        query = query.where(User.org_id.in_(sa.select(Org.id).where(Org.path.startswith(org.path, autoescape=True))))
    if role:
        query = query.where(User.id.in_(sa.select(RoleAssignment.user_id).where(
            RoleAssignment.role == Role(role), RoleAssignment.active.is_(True))))
    if active is not None:
        query = query.where(User.active.is_(active))
    return query


def overlapping(model, valid_from: date | None, valid_to: date | None) -> sa.ColumnElement[bool]:
    """Rows of ``model`` whose validity period shares at least a day with [valid_from, valid_to] (open ends)."""
    conditions = [model.active.is_(True)]
    if valid_to is not None:
        conditions.append(sa.or_(model.valid_from.is_(None), model.valid_from <= valid_to))
    if valid_from is not None:
        conditions.append(sa.or_(model.valid_to.is_(None), model.valid_to >= valid_from))
    return sa.and_(*conditions)


def check_assignment(user: User, role: Role | str, org: Org, *, valid_from: date | None, valid_to: date | None,
                     exclude: RoleAssignment | None = None) -> None:
    """Refuse an assignment at a deactivated organisation, or one that repeats an active assignment of the
    same user, role and organisation for an overlapping period."""
    _check_admin_scope(role, org)
    if not org.active:
        raise ServiceError(_l("%(org)s is deactivated; roles can only be held at active organisations.",
                              org=org.name), field="org")
    _check_period(valid_from, valid_to)
    query = sa.select(RoleAssignment.id).where(RoleAssignment.user_id == user.id, RoleAssignment.role == Role(role),
                                               RoleAssignment.org_id == org.id,
                                               overlapping(RoleAssignment, valid_from, valid_to))
    if exclude is not None:
        query = query.where(RoleAssignment.id != exclude.id)
    if db.session.scalar(query.limit(1)) is not None:
        raise ServiceError(_l("%(name)s already holds this role at %(org)s for an overlapping period.",
                              name=user.display_name, org=org.name), field="role")


def assignment_query(*, role: Role | str | None = None, org: Org | None = None, text: str | None = None,
                     include_ended: bool = False, today: date | None = None) -> sa.Select:
    """Role assignments, newest first; ended ones (ended by hand or past their end date) only on request."""
    day = today or date.today()
    query = (sa.select(RoleAssignment).join(User, User.id == RoleAssignment.user_id)
             .order_by(RoleAssignment.id.desc()))
    if role:
        query = query.where(RoleAssignment.role == Role(role))
    if org is not None:
        query = query.where(RoleAssignment.org_id.in_(
            sa.select(Org.id).where(Org.path.startswith(org.path, autoescape=True))))
    if text:
        query = query.where(sa.or_(User.login.icontains(text, autoescape=True),
                                   User.display_name.icontains(text, autoescape=True)))
    if not include_ended:
        query = query.where(RoleAssignment.active.is_(True),
                            sa.or_(RoleAssignment.valid_to.is_(None), RoleAssignment.valid_to >= day))
    return query


def check_delegation(from_user: User, role: Role | str | None, valid_from: date | None,
                     valid_to: date | None) -> None:
    """The person who is away must be active and hold the delegated role (any role, for "all roles")
    at some time during the delegation."""
    if not from_user.active:
        raise ServiceError(_l("The account of %(name)s is deactivated.", name=from_user.display_name),
                           field="from_user")
    query = sa.select(RoleAssignment.id).where(RoleAssignment.user_id == from_user.id,
                                               overlapping(RoleAssignment, valid_from, valid_to))
    if role:
        query = query.where(RoleAssignment.role == Role(role))
    if db.session.scalar(query.limit(1)) is None:
        if role:
            raise ServiceError(_l("%(name)s does not hold this role during the delegation period.",
                                  name=from_user.display_name), field="role")
        raise ServiceError(_l("%(name)s holds no role during the delegation period, so there is nothing to "
                              "delegate.", name=from_user.display_name), field="from_user")


def update_delegation(delegation: Delegation, *, to_user: User, role: Role | str | None, valid_from: date,
                      valid_to: date, reason: str | None = None) -> Delegation:
    _check_delegation(delegation.from_user, to_user, valid_from, valid_to)
    delegation.to_user = to_user
    delegation.role = Role(role) if role else None
    delegation.valid_from, delegation.valid_to = valid_from, valid_to
    delegation.reason = reason or None
    db.session.flush()
    return delegation


def revoke_delegation(delegation: Delegation) -> None:
    delegation.revoke()
    db.session.flush()


def delegation_query(*, when: str = "current", text: str | None = None, today: date | None = None) -> sa.Select:
    """Delegations in effect today (``current``), not yet started (``future``), over or revoked (``past``)."""
    day = today or date.today()
    query = sa.select(Delegation)
    if when == "current":
        query = query.where(Delegation.active.is_(True), Delegation.valid_from <= day, Delegation.valid_to >= day)
    elif when == "future":
        query = query.where(Delegation.active.is_(True), Delegation.valid_from > day)
    elif when == "past":
        query = query.where(sa.or_(Delegation.active.is_(False), Delegation.valid_to < day))
    if text:
        people = sa.select(User.id).where(sa.or_(User.login.icontains(text, autoescape=True),
                                                 User.display_name.icontains(text, autoescape=True)))
        query = query.where(sa.or_(Delegation.from_user_id.in_(people), Delegation.to_user_id.in_(people)))
    order = Delegation.valid_to.desc() if when == "past" else Delegation.valid_from
    return query.order_by(order, Delegation.id)
