"""Creating and maintaining user accounts, their roles and their delegations."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import BackboneLevel, Delegation, Membership, Org, OrgType, Role, RoleAssignment, SchoolStage, User
from webapp.models.base import utcnow
from webapp.services.errors import ServiceError
from webapp.services.passwords import hash_password

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
PROFILE_FIELDS = ("login", "display_name", "phone", "email", "org_id", "subject", "stage", "title", "hire_date",
                  "is_class_teacher", "backbone_level", "active")


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
    for name in ("display_name", "phone", "email", "subject", "title", "hire_date", "is_class_teacher"):
        if name in values:
            setattr(user, name, values[name] if values[name] != "" else None)
    if "org" in values:
        user.org = values["org"]
    if "stage" in values:
        user.stage = SchoolStage(values["stage"]) if values["stage"] else None
    if "backbone_level" in values:
        user.backbone_level = BackboneLevel(values["backbone_level"]) if values["backbone_level"] else None
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


def update_user(user: User, *, login: str, **profile: Any) -> User:
    _check_login(login, exclude_id=user.id)
    user.login = login
    _apply_profile(user, profile)
    db.session.flush()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    db.session.flush()


def set_user_active(user: User, active: bool) -> None:
    user.active = active
    db.session.flush()


def set_primary_subgroup(user: User, subgroup: Org) -> Membership:
    """Put the teacher in ``subgroup`` and make it the one that reviews their applications first."""
    if subgroup.type is not OrgType.SUBGROUP:
        raise ServiceError(_l("Only a subgroup can be a teacher's group."), field="subgroup")
    for membership in user.memberships:
        membership.is_primary = False
    membership = next((m for m in user.memberships if m.org_id == subgroup.id), None)
    if membership is None:
        membership = Membership(user=user, org=subgroup)
        user.memberships.append(membership)
    membership.is_primary = True
    db.session.flush()
    return membership


def _check_period(valid_from: date | None, valid_to: date | None) -> None:
    if valid_from and valid_to and valid_to < valid_from:
        raise ServiceError(_l("The end date must not be before the start date."), field="valid_to")


def assign_role(user: User, role: Role | str, org: Org, *, valid_from: date | None = None,
                valid_to: date | None = None) -> RoleAssignment:
    _check_period(valid_from, valid_to)
    assignment = RoleAssignment(user=user, role=Role(role), org=org, valid_from=valid_from, valid_to=valid_to)
    db.session.add(assignment)
    db.session.flush()
    return assignment


def update_assignment(assignment: RoleAssignment, *, role: Role | str, org: Org, valid_from: date | None,
                      valid_to: date | None) -> RoleAssignment:
    _check_period(valid_from, valid_to)
    assignment.role, assignment.org = Role(role), org
    assignment.valid_from, assignment.valid_to = valid_from, valid_to
    db.session.flush()
    return assignment


def end_assignment(assignment: RoleAssignment, on: date | None = None) -> None:
    """End the assignment now; its end date becomes ``on`` (today by default) and the row stays as history."""
    day = on or date.today()
    assignment.active = False
    if assignment.valid_to is None or assignment.valid_to >= day:
        assignment.valid_to = max(day, assignment.valid_from or day)
    db.session.flush()


def delegate(from_user: User, to_user: User, *, role: Role | str | None, valid_from: date, valid_to: date,
             reason: str | None = None, created_by: User | None = None) -> Delegation:
    if from_user.id == to_user.id:
        raise ServiceError(_l("A person cannot delegate to themselves."), field="to_user")
    if not to_user.active:
        raise ServiceError(_l("The substitute's account is deactivated."), field="to_user")
    _check_period(valid_from, valid_to)
    if valid_to is None or valid_from is None:
        raise ServiceError(_l("A delegation needs a start and an end date."), field="valid_to")
    delegation = Delegation(from_user=from_user, to_user=to_user, role=Role(role) if role else None,
                            valid_from=valid_from, valid_to=valid_to, reason=reason or None,
                            created_by_id=created_by.id if created_by else None)
    db.session.add(delegation)
    db.session.flush()
    return delegation
