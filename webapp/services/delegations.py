"""Delegations (代理人): setting up and ending a substitute, and who acted for whom.

Two doors, one set of rules. An administrator delegates for anyone on the admin pages (:func:`create`,
:func:`update`, :func:`revoke`; rules in :func:`check_admin_rules`). Everyone names their own substitute
while away, as in DingTalk or Feishu (the "My substitutes" page and ``/api/v1/me/substitutes``:
:func:`create_own`, :func:`revoke_own`; rules in :func:`check_own`). Each creation and revocation is audited
(``delegation.create`` / ``delegation.revoke``, with ``self_service`` saying which door) and told to the
substitute (``delegation.received`` / ``delegation.ended``). Like every service: flush, never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.labels import ROLE_LABELS
from webapp.models import ROLE_CODES, Delegation, HumanTask, OrgType, Role, RoleAssignment, TaskStatus, User
from webapp.services import audit, notifications
from webapp.services import users as user_service
from webapp.services.errors import Conflict, NotFound, ServiceError
from webapp.services.runtime import get_runtime

#: The "My substitutes" page (``auth.substitutes``); notifications link to it.
PAGE = "/auth/substitutes"
RECEIVED = "delegation.received"
ENDED = "delegation.ended"
REASON_MAX_LENGTH = 200
#: How many delegations that are over the page and the API show, newest first.
PAST_SHOWN = 20


def status(delegation: Delegation, today: date) -> str:
    """``revoked``, ``past`` (over), ``future`` (not started) or ``current``."""
    if not delegation.active:
        return "revoked"
    if delegation.valid_to < today:
        return "past"
    if delegation.valid_from > today:
        return "future"
    return "current"


def is_self_service(delegation: Delegation) -> bool:
    """Set up by the person who is away (not by an administrator)."""
    return delegation.created_by_id == delegation.from_user_id


def _record(action: str, delegation: Delegation, *, actor: User, ip: str | None, self_service: bool,
            before: dict | None = None) -> None:
    after = {**audit.snapshot(delegation, user_service.DELEGATION_FIELDS), "self_service": self_service}
    audit.record(action, actor=actor, obj=delegation, before=before, after=after, ip=ip)


def _role_words(role: Role | None) -> str:
    return str(ROLE_LABELS[role]) if role else _("All roles")


def _tell(user: User, kind: str, title: Callable[[], str], body: Callable[[], str]) -> None:
    notifications.notify(user, kind, title=title, body=body, link=PAGE)


def _tell_received(delegation: Delegation) -> None:
    absent = delegation.from_user.display_name

    def body() -> str:
        if delegation.role:
            lines = [_("Role: %(role)s. During these days their tasks in it reach your inbox too, and you may act "
                       "on them for %(name)s.", role=ROLE_LABELS[delegation.role], name=absent)]
        else:
            lines = [_("All their roles. During these days their tasks reach your inbox too, and you may act on "
                       "them for %(name)s.", name=absent)]
        if delegation.reason:
            lines.append(_("Reason: %(reason)s", reason=delegation.reason))
        return "\n".join(lines)

    _tell(delegation.to_user, RECEIVED,
          lambda: _("You are the substitute of %(name)s from %(start)s to %(end)s", name=absent,
                    start=format_date(delegation.valid_from), end=format_date(delegation.valid_to)), body)


def _tell_ended(delegation: Delegation) -> None:
    absent = delegation.from_user.display_name
    _tell(delegation.to_user, ENDED, lambda: _("You are no longer the substitute of %(name)s", name=absent),
          lambda: _("The substitution from %(start)s to %(end)s (%(role)s) has been revoked; their tasks no longer "
                    "reach you.", start=format_date(delegation.valid_from), end=format_date(delegation.valid_to),
                    role=_role_words(delegation.role)))


# -- administrators ---------------------------------------------------------------------------------------------

def check_admin_rules(from_user: User, role: Role | str | None, valid_from: date, valid_to: date, *,
                      today: date | None = None) -> None:
    """An administrator's delegation must not be over already, and the person who is away must be active and
    hold the delegated role (any role, for "all roles") at some time during it."""
    if valid_from <= valid_to < (today or date.today()):
        raise ServiceError(_l("The last day is in the past; a delegation must end today or later."),
                           field="valid_to")
    user_service.check_delegation(from_user, role or None, valid_from, valid_to)


def create(from_user: User, to_user: User, *, role: Role | str | None, valid_from: date, valid_to: date,
           reason: str | None, actor: User, ip: str | None = None) -> Delegation:
    """An administrator makes ``to_user`` the substitute of ``from_user``."""
    check_admin_rules(from_user, role, valid_from, valid_to)
    delegation = user_service.delegate(from_user, to_user, role=role or None, valid_from=valid_from,
                                       valid_to=valid_to, reason=reason, created_by=actor)
    _record("delegation.create", delegation, actor=actor, ip=ip, self_service=False)
    _tell_received(delegation)
    return delegation


def update(delegation: Delegation, *, to_user: User, role: Role | str | None, valid_from: date, valid_to: date,
           reason: str | None, actor: User, ip: str | None = None) -> Delegation:
    """An administrator changes a delegation that is not revoked (the person who is away stays)."""
    check_admin_rules(delegation.from_user, role, valid_from, valid_to)
    before = audit.snapshot(delegation, user_service.DELEGATION_FIELDS)
    user_service.update_delegation(delegation, to_user=to_user, role=role or None, valid_from=valid_from,
                                   valid_to=valid_to, reason=reason)
    _record("delegation.update", delegation, actor=actor, ip=ip, self_service=False, before=before)
    return delegation


def revoke(delegation: Delegation, *, actor: User, ip: str | None = None, self_service: bool = False,
           today: date | None = None) -> None:
    """End ``delegation`` now; the substitute is told unless it was over already."""
    before = audit.snapshot(delegation, user_service.DELEGATION_FIELDS)
    user_service.revoke_delegation(delegation)
    _record("delegation.revoke", delegation, actor=actor, ip=ip, self_service=self_service, before=before)
    if delegation.valid_to >= (today or date.today()):
        _tell_ended(delegation)


# -- everyone, for themselves ----------------------------------------------------------------------------------

def max_days() -> int:
    return int(current_app.config["YANXUN"]["SUBSTITUTE_MAX_DAYS"])


def _own_assignments(user: User, role: Role | None, valid_from: date, valid_to: date | None) -> list[RoleAssignment]:
    """``user``'s own assignments (never ones delegated to them) in force at some time between the dates, of
    ``role`` or of every role but administrator."""
    query = (sa.select(RoleAssignment).options(selectinload(RoleAssignment.org))
             .where(RoleAssignment.user_id == user.id, RoleAssignment.role != Role.ADMIN,
                    user_service.overlapping(RoleAssignment, valid_from, valid_to)))
    if role is not None:
        query = query.where(RoleAssignment.role == role)
    return list(db.session.scalars(query))


def delegable_roles(user: User, today: date | None = None) -> list[Role]:
    """The roles ``user`` may hand to a substitute: those they hold themselves today or later, reviewing ones
    first (:class:`Role` order, teacher last), administrator never (another administrator delegates it on the
    admin pages)."""
    held = {a.role for a in _own_assignments(user, None, today or date.today(), None)}
    return sorted((role for role in Role if role in held), key=lambda role: role is Role.TEACHER)


def _colleague_orgs(user: User, role: Role | None, valid_from: date, valid_to: date | None) -> set[int]:
    """Where ``user``'s possible substitutes work: their own organisation, and each organisation where they hold
    the delegated role (every role, for "all roles") during the period; for a subgroup, its school (teachers
    belong to the school, the subgroup is a membership)."""
    orgs = {user.org_id} if user.org_id else set()
    for assignment in _own_assignments(user, role, valid_from, valid_to):
        org = assignment.org
        orgs.add(org.parent_id if org.type is OrgType.SUBGROUP and org.parent_id else org.id)
    return orgs


def substitute_choices(user: User, role: Role | None = None, *, today: date | None = None) -> list[User]:
    """The colleagues ``user`` may choose as substitute from today on: active people, not themselves, whose
    organisation is one of :func:`_colleague_orgs`, by name."""
    orgs = _colleague_orgs(user, role, today or date.today(), None)
    if not orgs:
        return []
    return list(db.session.scalars(
        sa.select(User).where(User.active.is_(True), User.id != user.id, User.org_id.in_(orgs))
        .order_by(User.display_name, User.login)))


def _role(value: Role | str | None) -> Role | None:
    if value is None or value == "":
        return None
    if str(value) not in ROLE_CODES:
        raise ServiceError(_l("Choose one of the listed options."), field="role")
    return Role(value)


def check_own(user: User, to_user: User, role: Role | None, valid_from: date, valid_to: date, reason: str | None,
              *, today: date | None = None) -> None:
    """The rules when ``user`` names their own substitute, each refusal on its field:

    * the roles delegated are ``user``'s own (one they hold, or all of them) at some time during the period,
      never administrator: another administrator delegates that one on the admin pages;
    * the substitute is an active colleague, not ``user``: someone whose organisation is ``user``'s own or one
      where ``user`` holds the delegated role then (a subgroup counts as its school) — the people who know the
      work and whom the role's tasks may reach;
    * the period starts today or later, ends on or after its start, and is at most ``SUBSTITUTE_MAX_DAYS`` long;
    * no other active delegation of ``user`` (self-service or by an administrator) covers one of the same roles
      on one of the same days: one substitute at a time, as in DingTalk;
    * the reason is optional, at most :data:`REASON_MAX_LENGTH` characters.
    """
    day = today or date.today()
    if role is Role.ADMIN:
        raise ServiceError(_l("The system administrator role is delegated by another administrator, on the "
                              "administration pages."), field="role")
    if to_user.id == user.id:
        raise ServiceError(_l("You cannot be your own substitute; choose a colleague."), field="to_user")
    if not to_user.active:
        raise ServiceError(_l("The substitute's account is deactivated."), field="to_user")
    if valid_from < day:
        raise ServiceError(_l("The first day cannot be in the past; start today or later."), field="valid_from")
    if valid_to < valid_from:
        raise ServiceError(_l("The end date must not be before the start date."), field="valid_to")
    if (valid_to - valid_from).days + 1 > max_days():
        raise ServiceError(_l("A substitute can be named for at most %(n)d days at a time.", n=max_days()),
                           field="valid_to")
    if not _own_assignments(user, role, valid_from, valid_to):
        if role is None:
            raise ServiceError(_l("You hold no role on these days, so there is nothing to delegate."), field="role")
        raise ServiceError(_l("You do not hold this role on these days."), field="role")
    if role is None and holds_admin(user, valid_from, valid_to):
        raise ServiceError(_l("All your roles would include system administrator, which another administrator "
                              "delegates on the administration pages: choose one role."), field="role")
    if to_user.org_id not in _colleague_orgs(user, role, valid_from, valid_to):
        raise ServiceError(_l("%(name)s does not work in your organisation or where you hold this role; choose a "
                              "colleague from there.", name=to_user.display_name), field="to_user")
    clash = _clash(user, role, valid_from, valid_to)
    if clash is not None:
        raise ServiceError(_l("%(name)s already substitutes for you from %(start)s to %(end)s in this role; revoke "
                              "that first or choose other days.", name=clash.to_user.display_name,
                              start=format_date(clash.valid_from), end=format_date(clash.valid_to)),
                           field="valid_from")
    if reason and len(reason) > REASON_MAX_LENGTH:
        raise ServiceError(_l("The reason can have at most %(n)d characters.", n=REASON_MAX_LENGTH), field="reason")


def holds_admin(user: User, valid_from: date, valid_to: date | None) -> bool:
    """Does ``user`` hold the administrator role themselves at some time between the dates (no end: from then on)?"""
    return db.session.scalar(sa.select(RoleAssignment.id).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role == Role.ADMIN,
        user_service.overlapping(RoleAssignment, valid_from, valid_to)).limit(1)) is not None


def _clash(user: User, role: Role | None, valid_from: date, valid_to: date) -> Delegation | None:
    """An active delegation of ``user`` sharing a day and a role with the one asked for."""
    query = sa.select(Delegation).where(Delegation.from_user_id == user.id, Delegation.active.is_(True),
                                        Delegation.valid_from <= valid_to, Delegation.valid_to >= valid_from)
    if role is not None:
        query = query.where(sa.or_(Delegation.role.is_(None), Delegation.role == role))
    return db.session.scalar(query.order_by(Delegation.valid_from, Delegation.id).limit(1))


def create_own(user: User, to_user: User, *, role: Role | str | None, valid_from: date, valid_to: date,
               reason: str | None = None, ip: str | None = None, today: date | None = None) -> Delegation:
    """``user`` names ``to_user`` their substitute (:func:`check_own`); the substitute is told. ``user``'s row is
    locked first, so two requests at once cannot both pass the one-at-a-time rule."""
    chosen = _role(role)
    reason = (reason or "").strip() or None
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
    check_own(user, to_user, chosen, valid_from, valid_to, reason, today=today)
    delegation = user_service.delegate(user, to_user, role=chosen, valid_from=valid_from, valid_to=valid_to,
                                       reason=reason, created_by=user)
    _record("delegation.create", delegation, actor=user, ip=ip, self_service=True)
    _tell_received(delegation)
    return delegation


def revoke_own(user: User, delegation_id: int, *, ip: str | None = None, today: date | None = None) -> Delegation:
    """``user`` ends one of their substitutions (whoever set it up), at once; the row is locked so that two
    clicks revoke it once."""
    day = today or date.today()
    delegation = db.session.scalar(sa.select(Delegation).where(Delegation.id == delegation_id).with_for_update()
                                   .execution_options(populate_existing=True))
    if delegation is None or delegation.from_user_id != user.id:
        raise NotFound(_l("This substitute does not exist or is not yours."))
    if not delegation.active:
        raise Conflict(_l("This substitute has already been revoked."))
    if delegation.valid_to < day:
        raise Conflict(_l("This substitution is over already."))
    revoke(delegation, actor=user, ip=ip, self_service=True, today=day)
    return delegation


@dataclass
class Substitutes:
    """A person's delegations, both ways: in force or to come, and the latest ones that are over."""

    given: list[Delegation] = field(default_factory=list)
    received: list[Delegation] = field(default_factory=list)
    given_past: list[Delegation] = field(default_factory=list)
    received_past: list[Delegation] = field(default_factory=list)


def of_user(user: User, today: date | None = None) -> Substitutes:
    """Who substitutes for ``user`` and for whom ``user`` substitutes."""
    day = today or date.today()
    result = Substitutes()
    for column, ahead, past in ((Delegation.from_user_id, result.given, result.given_past),
                                (Delegation.to_user_id, result.received, result.received_past)):
        base = (sa.select(Delegation).options(selectinload(Delegation.from_user), selectinload(Delegation.to_user))
                .where(column == user.id))
        ahead.extend(db.session.scalars(base.where(Delegation.active.is_(True), Delegation.valid_to >= day)
                                        .order_by(Delegation.valid_from, Delegation.id)))
        past.extend(db.session.scalars(base.where(sa.or_(Delegation.active.is_(False), Delegation.valid_to < day))
                                       .order_by(Delegation.valid_to.desc(), Delegation.id.desc()).limit(PAST_SHOWN)))
    return result


# -- timelines -------------------------------------------------------------------------------------------------

def _task_pairs(task: HumanTask) -> list[tuple[str, int]] | None:
    """The (role code, organisation id) pairs ``task`` is offered to: its candidates while open; once it is over
    (its candidates are gone) the roles its diagram names, at its subject organisation or any above it (where
    the routing looked for them, whoever held them then). None when that cannot be known (the roles came from
    the process data)."""
    if task.status is TaskStatus.OPEN:
        return [(c.role.value, c.org_id) for c in task.candidates if c.role is not None and c.org_id is not None]
    codes = get_runtime().declared_roles(get_runtime().definition(task.instance.definition.spec_json), task.bpmn_id)
    if codes is None:
        return None
    return [(code, org_id) for code in codes if code in ROLE_CODES for org_id in task.subject_org.ancestor_ids]


def _held_on(day: date):
    """SQL: an assignment in force on ``day``, judged by its dates (an ended one keeps its last day)."""
    return sa.and_(sa.or_(RoleAssignment.active.is_(True), RoleAssignment.valid_to.is_not(None)),
                   sa.or_(RoleAssignment.valid_from.is_(None), RoleAssignment.valid_from <= day),
                   sa.or_(RoleAssignment.valid_to.is_(None), RoleAssignment.valid_to >= day))


def _in_force_on(delegation: Delegation, day: date) -> bool:
    """Was ``delegation`` in force on ``day`` (a later revocation does not undo what was done before it)?"""
    if not delegation.valid_from <= day <= delegation.valid_to:
        return False
    return delegation.active or (delegation.revoked_at is not None and delegation.revoked_at.astimezone().date() >= day)


def acting_for(user: User, task: HumanTask, day: date) -> User | None:
    """The person ``user`` stood in for when acting on ``task`` on ``day`` ("王磊 代 刘芳"): None when they acted
    in their own right (the task was assigned to them or named them, or they held one of its roles themselves)
    or when nobody had delegated one of its roles to them.

    Roles and delegations are judged as they were on ``day``, so a timeline stays right after a term of office
    ends or a delegation is revoked.
    """
    if task.assignee_id == user.id or any(c.user_id == user.id for c in task.candidates):
        return None
    pairs = _task_pairs(task)
    if not pairs:
        return None
    own = sa.select(RoleAssignment.id).where(RoleAssignment.user_id == user.id, _held_on(day),
                                             sa.tuple_(RoleAssignment.role, RoleAssignment.org_id).in_(pairs))
    if db.session.scalar(own.limit(1)) is not None:
        return None
    delegations = db.session.scalars(
        sa.select(Delegation).options(selectinload(Delegation.from_user))
        .where(Delegation.to_user_id == user.id, Delegation.valid_from <= day, Delegation.valid_to >= day)
        .order_by(Delegation.id))
    roles = {role for role, _org in pairs}
    for delegation in delegations:
        if not _in_force_on(delegation, day) or (delegation.role is not None and delegation.role.value not in roles):
            continue
        covered = [(r, o) for r, o in pairs if delegation.role is None or r == delegation.role.value]
        held = sa.select(RoleAssignment.id).where(
            RoleAssignment.user_id == delegation.from_user_id, _held_on(day),
            sa.tuple_(RoleAssignment.role, RoleAssignment.org_id).in_(covered))
        if db.session.scalar(held.limit(1)) is not None:
            return delegation.from_user
    return None
