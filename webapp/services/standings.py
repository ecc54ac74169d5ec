"""Each teacher's standing against every requirement line, computed ahead (``credit_standing``) so that the
compliance overviews of a county or a city read aggregates instead of evaluating 70,000 ledgers.

A teacher's rows are rewritten from :func:`webapp.services.ledger.progress_of_many` by :func:`refresh`: when an
entry is posted or reversed (:func:`webapp.services.stale_standings.mark`, recomputed just before the transaction
commits) and for every teacher once a day (``jobs.refresh_standings``: period roll-over, hire anniversaries, role
and attribute changes).

**At risk**: a line whose minimum is not reached yet while the share of the minimum reached is below the share of
the period elapsed (on its last day every line still below its minimum is at risk). A line below its minimum but
on pace is *not met (yet)*. The two are disjoint, so met + not met + at risk = the teachers with that minimum.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, joinedload

from webapp.extensions import db
from webapp.models import CreditStanding, Org, OrgType, Role, RoleAssignment, SchoolStanding, StandingStatus, User
from webapp.models.base import utcnow
from webapp.services import ledger, stale_standings
from webapp.services.roles import valid_on

#: Teachers evaluated per ledger aggregate and written per bulk insert.
BATCH = 2000
#: Worst first: a teacher's summary row holds the worst status of their lines.
_SEVERITY = {StandingStatus.AT_RISK: 3, StandingStatus.NOT_MET: 2, StandingStatus.MET: 1,
             StandingStatus.NO_MINIMUM: 0}


@event.listens_for(Session, "before_commit")
def _refresh_stale(session: Session) -> None:
    """Recompute the teachers :func:`stale_standings.mark` marked in this transaction, inside it."""
    stale = stale_standings.take(session)
    if stale:
        refresh(stale, session=session)


def elapsed_share(start: date, end: date, day: date) -> float:
    """How much of the period from ``start`` to ``end`` (inclusive) has gone by at the end of ``day``, 0–1."""
    length = (end - start).days + 1
    return max(0.0, min(1.0, ((day - start).days + 1) / length))


def line_status(line: ledger.Line, elapsed: float) -> StandingStatus:
    """Met, at risk (below the minimum and behind the period's pace), not met (below it, on pace), no minimum."""
    if line.status == "no_minimum":
        return StandingStatus.NO_MINIMUM
    if line.status == "met":
        return StandingStatus.MET
    return StandingStatus.AT_RISK if line.share < elapsed - 1e-9 else StandingStatus.NOT_MET


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def teacher_ids(on: date, *, after_id: int = 0, limit: int | None = None) -> list[int]:
    """Active users holding the teacher role on ``on``, by id, after ``after_id``."""
    query = (sa.select(RoleAssignment.user_id).distinct()
             .join(User, User.id == RoleAssignment.user_id)
             .where(RoleAssignment.role == Role.TEACHER, valid_on(RoleAssignment, on), User.active.is_(True),
                    RoleAssignment.user_id > after_id)
             .order_by(RoleAssignment.user_id))
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def _schools_of(user_ids: list[int], on: date, session: Session) -> dict[int, Org]:
    """Each teacher's school: where their teacher role is held (the lowest id when several), or the school
    above it when it is held at a subgroup."""
    held: dict[int, Org] = {}
    rows = session.execute(
        sa.select(RoleAssignment.user_id, Org).join(Org, Org.id == RoleAssignment.org_id)
        .where(RoleAssignment.user_id.in_(user_ids), RoleAssignment.role == Role.TEACHER,
               valid_on(RoleAssignment, on))
        .order_by(RoleAssignment.user_id, Org.id))
    for user_id, org in rows:
        held.setdefault(user_id, org)
    above = {ancestor for org in held.values() if org.type != OrgType.SCHOOL for ancestor in org.ancestor_ids[1:]}
    schools = {o.id: o for o in session.scalars(
        sa.select(Org).where(Org.id.in_(above), Org.type == OrgType.SCHOOL))} if above else {}
    for user_id, org in held.items():
        if org.type != OrgType.SCHOOL:
            held[user_id] = next((schools[i] for i in org.ancestor_ids[1:] if i in schools), org)
    return held


def _rows(progress: ledger.Progress, school_id: int, day: date, now: datetime) -> list[dict]:
    base = {"user_id": progress.user.id, "school_id": school_id, "as_of": day, "computed_at": now}
    rows: list[dict] = []
    worst: StandingStatus | None = None
    for period_progress in progress.periods:
        period = period_progress.period
        elapsed = elapsed_share(period.start, period.end, day)
        for line in period_progress.lines:
            status = line_status(line, elapsed)
            if worst is None or _SEVERITY[status] > _SEVERITY[worst]:
                worst = status
            rows.append({**base, "period_kind": period.kind, "period_key": period.key, "period_name": period.name,
                         "period_start": period.start, "period_end": period.end, "category": line.category or "",
                         "line_name": line.name, "measure": line.measure,
                         "counted": line.counted_hours if line.measure == "hours" else line.counted_credits,
                         "counted_hours": line.counted_hours, "counted_credits": line.counted_credits,
                         "minimum": line.minimum, "exclusive": line.exclusive, "status": status})
    summary = StandingStatus.NO_RULES if progress.rule_set is None else (worst or StandingStatus.NO_MINIMUM)
    rows.append({**base, "period_kind": "", "period_key": "", "period_name": "", "period_start": None,
                 "period_end": None, "category": "", "line_name": "", "measure": "hours", "counted": 0,
                 "counted_hours": 0, "counted_credits": 0, "minimum": None, "exclusive": False, "status": summary})
    return rows


def refresh(user_ids: Iterable[int], on: date | None = None, *, session: Session | None = None) -> int:
    """Rewrite the standing of ``user_ids`` for ``on`` (today); a user who is no longer an active teacher loses
    theirs. A bounded number of statements per :data:`BATCH` teachers. Flushes, never commits; returns how many
    teachers have a standing now."""
    session = session or db.session
    day = on or date.today()
    now = utcnow()
    written = 0
    for chunk in _chunks(sorted(set(user_ids)), BATCH):
        schools = _schools_of(chunk, day, session)
        teachers = list(session.scalars(sa.select(User).options(joinedload(User.org))
                                        .where(User.id.in_(list(schools)), User.active.is_(True))))
        touched = {school.id for school in schools.values()} | set(session.scalars(
            sa.select(CreditStanding.school_id).distinct().where(CreditStanding.user_id.in_(chunk))))
        _lock_schools(touched, session)
        session.execute(sa.delete(CreditStanding).where(CreditStanding.user_id.in_(chunk))
                        .execution_options(synchronize_session=False))
        rows: list[dict] = []
        with_org = [t for t in teachers if t.org is not None]
        for user_id, standing in ledger.progress_of_many(with_org, day).items():
            rows.extend(_rows(standing, schools[user_id].id, day, now))
        for teacher in (t for t in teachers if t.org is None):  # the school stands in for a missing organisation
            school = schools[teacher.id]
            standing = ledger.progress_of_many([teacher], day, fallback_org=school)[teacher.id]
            rows.extend(_rows(standing, school.id, day, now))
        if rows:  # Core, not the ORM's bulk insert: that splits the rows by which values are None
            session.execute(CreditStanding.__table__.insert(), rows)
        add_up(touched, session)
        written += len(teachers)
    return written


def _lock_schools(school_ids: Iterable[int], session: Session) -> None:
    """Serialise the recomputation of a school's sums (``FOR NO KEY UPDATE`` of its row, in id order, so that two
    transactions never wait on each other in a circle); it does not block postings, whose foreign keys only
    take ``KEY SHARE``. A no-op on SQLite, which has one writer at a time."""
    ids = sorted(school_ids)
    if ids:
        session.execute(sa.select(Org.id).where(Org.id.in_(ids)).order_by(Org.id).with_for_update(key_share=True))


def _sum_of(status: StandingStatus) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((CreditStanding.status == status, 1), else_=0)), 0)


def add_up(school_ids: Iterable[int], session: Session | None = None) -> None:
    """Rewrite the sums of ``school_ids`` (``credit_standing_school``) from their teachers' standings: one
    ``INSERT … SELECT … GROUP BY school, period, line``. The caller holds the schools' locks (:func:`refresh`)."""
    session = session or db.session
    ids = sorted(school_ids)
    if not ids:
        return
    s = CreditStanding
    session.execute(sa.delete(SchoolStanding).where(SchoolStanding.school_id.in_(ids))
                    .execution_options(synchronize_session=False))
    grouped = (sa.select(
        s.school_id, s.period_kind, s.period_key, sa.func.min(s.period_name), sa.func.min(s.period_start),
        sa.func.max(s.period_end), s.category, sa.func.min(s.line_name), s.measure, sa.func.count(),
        _sum_of(StandingStatus.MET), _sum_of(StandingStatus.NOT_MET), _sum_of(StandingStatus.AT_RISK),
        _sum_of(StandingStatus.NO_MINIMUM), _sum_of(StandingStatus.NO_RULES),
        sa.func.coalesce(sa.func.sum(s.counted), 0), sa.func.coalesce(sa.func.sum(s.counted_hours), 0),
        sa.func.min(s.minimum), sa.func.max(s.minimum),
        sa.func.max(sa.case((s.exclusive, 1), else_=0)) == 1, sa.func.min(s.as_of), sa.func.max(s.as_of),
        sa.func.max(s.computed_at))
        .where(s.school_id.in_(ids))
        .group_by(s.school_id, s.period_kind, s.period_key, s.category, s.measure))
    columns = ["school_id", "period_kind", "period_key", "period_name", "period_start", "period_end", "category",
               "line_name", "measure", "teachers", "met", "not_met", "at_risk", "no_minimum", "no_rules", "counted",
               "counted_hours", "minimum_low", "minimum_high", "exclusive", "as_of_low", "as_of_high", "computed_at"]
    session.execute(sa.insert(SchoolStanding.__table__).from_select(columns, grouped))


def prune(computed_before: datetime) -> int:
    """Drop the standings not recomputed since ``computed_before`` (people who are no longer teachers), after a
    full pass of :func:`refresh`. Flushes, never commits."""
    old = CreditStanding.computed_at < computed_before
    schools = set(db.session.scalars(sa.select(CreditStanding.school_id).distinct().where(old)))
    if not schools:
        return 0
    _lock_schools(schools, db.session)
    result = db.session.execute(sa.delete(CreditStanding).where(old).execution_options(synchronize_session=False))
    add_up(schools)
    return result.rowcount or 0


def outdated(on: date | None = None) -> bool:
    """True when some standing was computed for an earlier day than ``on`` (today), or teachers have none."""
    day = on or date.today()
    oldest = db.session.scalar(sa.select(sa.func.min(CreditStanding.as_of)))
    if oldest is None:
        return bool(teacher_ids(day, limit=1))
    return oldest < day
