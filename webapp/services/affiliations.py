"""Who works, or lately worked, at an organisation: the ties that keep an expert from judging a school.

An evaluation or accreditation panel must not have an expert score a school they work at or worked at in the
last years (issue: "an expert who works at, or in the last 3 years worked at, the school cannot score it").
The directory knows it from two places: the organisation a user belongs to now, and every role assignment at
the school or inside it (its subgroups) whose dates reach into the window — ended, future-dated and deactivated
assignments included, since a conflict is better over-reported than missed. The expert's own declaration is
the process's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Org, Role, RoleAssignment, User

#: How far back a past tie still counts, in years.
YEARS_BACK = 3


@dataclass(frozen=True)
class Tie:
    """One reason ``user`` is tied to the organisation: where, in which role (None: belongs there), and when."""

    org: Org
    role: Role | None
    valid_from: date | None
    valid_to: date | None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def ties(user: User, org: Org, *, on: date | None = None, years: int = YEARS_BACK) -> list[Tie]:
    """Every tie of ``user`` to ``org`` (or an organisation inside it) on ``on`` or in the ``years`` before it,
    oldest first; empty when there is none."""
    day = on or date.today()
    since = _years_before(day, years)
    inside = sa.select(Org.id).where(Org.path.startswith(org.path, autoescape=True))
    found: list[Tie] = []
    if user.org_id is not None and user.org is not None and user.org.path.startswith(org.path):
        found.append(Tie(user.org, None, None, None))
    assignments = db.session.scalars(
        sa.select(RoleAssignment).where(
            RoleAssignment.user_id == user.id, RoleAssignment.org_id.in_(inside),
            sa.or_(RoleAssignment.valid_from.is_(None), RoleAssignment.valid_from <= day),
            sa.or_(RoleAssignment.valid_to.is_(None), RoleAssignment.valid_to >= since))
        .order_by(RoleAssignment.valid_from.nulls_first(), RoleAssignment.id))
    found.extend(Tie(a.org, a.role, a.valid_from, a.valid_to) for a in assignments)
    return found
