"""The yearly recognition batch: a county officer closes a school year of their county (Dali [003] 八、1.(2)①
"对教师的线上线下研修学时学分每年一认定"). Closing takes every teacher's standing on the last day of the year from
the ledger as recorded at that moment, and keeps a summary per school. The ledger itself stays append-only and
open: entries of a closed year recorded afterwards are corrections, listed with the batch and marked in the
teacher's ledger, and the report keeps what was closed.

The report (``RecognitionBatch.report``) is plain JSON::

    {"requirements": [{"key", "period_kind", "period_name", "line", "measure", "minimum", "exclusive"}],
     "categories": [{"code", "name"}],
     "schools": [{"org_id", "code", "name", "teachers", "met_all",
                  "requirements": {key: [met, not_met]}, "hours": {code: [hours, credits]}}],
     "totals": {"teachers", "met_all", "requirements": {key: [met, not_met]}, "hours": {code: [hours, credits]}}}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import CreditEntry, Org, OrgType, RecognitionBatch, Role, RoleAssignment, User
from webapp.models.base import utcnow
from webapp.services import audit, ledger
from webapp.services.errors import Conflict, NotAllowed, ServiceError
from webapp.services.orgs import descendant_ids
from webapp.services.roles import roles_of, valid_on
from webapp.services.rules import Period, Rules, rule_sets_for, school_year_of

#: Who may close a year: county training-centre officers for their county, and administrators.
CLOSERS = (Role.COUNTY_OFFICER, Role.ADMIN)
#: Teachers evaluated per round of queries.
CHUNK = 1000


def closable_orgs(user: User, held: Iterable | None = None) -> list[Org]:
    """The counties ``user`` may close a year for: where they hold ``county_officer`` (or act for someone who
    does), and the counties below a city where they hold it; every county for an administrator. A year is
    closed county by county (a county of 12,000 teachers closes in about 3.5 s, docs/benchmarks.md)."""
    held = list(held) if held is not None else roles_of(user)
    if any(h.role == Role.ADMIN for h in held):
        return list(db.session.scalars(sa.select(Org).where(Org.type == OrgType.COUNTY, Org.active.is_(True))
                                       .order_by(Org.path)))
    found: dict[int, Org] = {}
    for h in held:
        if h.role != Role.COUNTY_OFFICER:
            continue
        if h.org.type == OrgType.COUNTY:
            found[h.org.id] = h.org
        elif h.org.type == OrgType.CITY:
            for county in counties_below(h.org):
                found[county.id] = county
    return sorted(found.values(), key=lambda o: o.path)


def counties_below(org: Org) -> list[Org]:
    return list(db.session.scalars(sa.select(Org).where(Org.type == OrgType.COUNTY, Org.active.is_(True),
                                                        Org.path.startswith(org.path, autoescape=True))))


def _year_on(org: Org, day: date) -> tuple[Period, bool]:
    """The school year containing ``day`` in the calendar of the rule set governing ``org`` then (September to
    August when none does), and whether a rule set governs it on ``day``: one lookup."""
    rule_set = rule_sets_for([org], day).get(org.id)
    return (Rules(rule_set).school_year(day) if rule_set is not None else school_year_of(day)), rule_set is not None


def school_year_for(org: Org, day: date) -> Period:
    return _year_on(org, day)[0]


def closable_years(org: Org, today: date | None = None, back: int = 6) -> list[Period]:
    """School years of the last ``back`` that have ended, that a credit rule set governed for ``org`` (on their
    last day) and that are not closed yet, newest first."""
    today = today or date.today()
    closed = set(db.session.scalars(sa.select(RecognitionBatch.school_year).where(RecognitionBatch.org_id == org.id)))
    years: list[Period] = []
    day = school_year_for(org, today).start - timedelta(days=1)
    for _ in range(back):
        year, governed = _year_on(org, day)  # ``day`` is the last day of the year before
        if year.end != day:  # calendars of two rule sets that disagree: ask about the year's own last day
            governed = rule_sets_for([org], year.end).get(org.id) is not None
        if year.key not in closed and governed:
            years.append(year)
        day = year.start - timedelta(days=1)
    return years


def batches(orgs: Iterable[Org]) -> list[RecognitionBatch]:
    ids = [o.id for o in orgs]
    if not ids:
        return []
    return list(db.session.scalars(sa.select(RecognitionBatch).options(joinedload(RecognitionBatch.org),
                                                                       joinedload(RecognitionBatch.closed_by))
                                   .where(RecognitionBatch.org_id.in_(ids))
                                   .order_by(RecognitionBatch.year_start.desc(), RecognitionBatch.org_id)))


def _teachers(org: Org, day: date) -> list[User]:
    teacher_ids = (sa.select(RoleAssignment.user_id)
                   .where(RoleAssignment.role == Role.TEACHER, RoleAssignment.org_id.in_(descendant_ids(org)),
                          valid_on(RoleAssignment, day)))
    return list(db.session.scalars(sa.select(User).options(joinedload(User.org))
                                   .where(User.id.in_(teacher_ids)).order_by(User.id)))


def _school_of(user: User) -> Org | None:
    """The school a teacher counts under: the school at or above their organisation (parents are loaded once
    per organisation, not per teacher)."""
    current = user.org
    while current is not None and current.type != OrgType.SCHOOL:
        current = current.parent
    return current


def _requirement_key(period: Period, line: ledger.Line) -> str:
    return f"{period.kind}|{line.category or ''}"


def build_report(org: Org, year: Period, known_at: datetime) -> tuple[dict, int]:
    """The summary per school of ``org``'s teachers on the last day of ``year``, from the ledger as recorded at
    ``known_at``: the requirements of the periods ended by then (the school year, its last semester, a cycle or a
    new teacher's year ending with it); periods still running are judged when they end.
    Returns (report, teacher count). A bounded number of queries per ``CHUNK`` teachers."""
    teachers = _teachers(org, year.end)
    requirements: dict[str, dict] = {}
    categories: dict[str, str] = {}
    schools: dict[int, dict] = {}
    totals = {"teachers": 0, "met_all": 0, "requirements": {}, "hours": {}}
    top_levels: dict[int, set[str]] = {}
    for index in range(0, len(teachers), CHUNK):
        chunk = teachers[index:index + CHUNK]
        standings = ledger.progress_of_many(chunk, year.end, known_at=known_at)
        for teacher in chunk:
            standing = standings[teacher.id]
            if standing.rule_set is None:
                continue
            school = _school_of(teacher)
            if school is None:
                continue
            row = schools.setdefault(school.id, {"org_id": school.id, "code": school.code, "name": school.name,
                                                 "teachers": 0, "met_all": 0, "requirements": {}, "hours": {}})
            row["teachers"] += 1
            totals["teachers"] += 1
            all_met = True
            for period in standing.periods:
                if period.period.end > year.end:  # a cycle or new-teacher year still running: not judged yet
                    continue
                for line in period.lines:
                    if line.minimum is None:
                        continue
                    key = _requirement_key(period.period, line)
                    requirements.setdefault(key, {
                        "key": key, "period_kind": period.period.kind, "period_name": period.period.name,
                        "line": line.name, "measure": line.measure, "minimum": line.minimum,
                        "exclusive": line.exclusive})
                    for target in (row, totals):
                        counts = target["requirements"].setdefault(key, [0, 0])
                        counts[0 if line.met else 1] += 1
                    all_met = all_met and line.met
                if period.period.kind == "school_year":
                    if standing.rule_set.id not in top_levels:
                        top_levels[standing.rule_set.id] = set(Rules(standing.rule_set).top_level())
                    for line in period.categories:
                        if line.category is None or line.category not in top_levels[standing.rule_set.id]:
                            continue
                        categories.setdefault(line.category, line.name)
                        for target in (row, totals):
                            sums = target["hours"].setdefault(line.category, [0.0, 0.0])
                            sums[0] = round(sums[0] + line.counted_hours, 2)
                            sums[1] = round(sums[1] + line.counted_credits, 2)
            if all_met:
                row["met_all"] += 1
                totals["met_all"] += 1
    report = {"requirements": list(requirements.values()),
              "categories": [{"code": code, "name": name} for code, name in categories.items()],
              "schools": sorted(schools.values(), key=lambda r: (r["code"] or "", r["name"])),
              "totals": totals}
    return report, totals["teachers"]


def close_year(org: Org, school_year: str, by: User, held: Iterable | None = None, *,
               today: date | None = None) -> RecognitionBatch:
    """Close ``school_year`` (a key such as ``2020-2021``) for ``org``: the year must have ended and not be
    closed yet; ``by`` must be allowed to close it. Flushes, never commits."""
    if org.id not in {o.id for o in closable_orgs(by, held)}:
        raise NotAllowed(_l("You may not close a school year for %(org)s.", org=org.name))
    year = next((y for y in closable_years(org, today, back=12) if y.key == school_year), None)
    if year is None:
        if db.session.scalar(sa.select(RecognitionBatch.id).where(RecognitionBatch.org_id == org.id,
                                                                   RecognitionBatch.school_year == school_year)):
            raise Conflict(_l("The school year %(year)s of %(org)s is already closed.", year=school_year,
                              org=org.name))
        raise ServiceError(_l("Only a school year that has ended can be closed."), field="school_year")
    closed_at = utcnow()
    report, teachers = build_report(org, year, closed_at)
    batch = RecognitionBatch(org_id=org.id, school_year=year.key, year_start=year.start, year_end=year.end,
                             closed_at=closed_at, closed_by_id=by.id, teachers=teachers,
                             schools=len(report["schools"]), report=report)
    try:
        with db.session.begin_nested():
            db.session.add(batch)
    except IntegrityError as error:  # closed concurrently (double click)
        raise Conflict(_l("The school year %(year)s of %(org)s is already closed.", year=school_year,
                          org=org.name)) from error
    audit.record("recognition.close", actor=by, obj=batch,
                 after={"org_id": org.id, "school_year": year.key, "teachers": teachers,
                        "schools": len(report["schools"])})
    return batch


# -- corrections after closing -------------------------------------------------------------------------------


def late_entries(batch: RecognitionBatch, limit: int = 500) -> list[CreditEntry]:
    """Entries of the closed year (by the day earned) of teachers posted at schools of the batch's organisation,
    recorded after it was closed: reversals, re-counts and late postings."""
    return list(db.session.scalars(
        sa.select(CreditEntry).options(joinedload(CreditEntry.user), joinedload(CreditEntry.org))
        .where(CreditEntry.org_id.in_(descendant_ids(batch.org)),
               CreditEntry.earned_on.between(batch.year_start, batch.year_end),
               CreditEntry.recognised_at > batch.closed_at)
        .order_by(CreditEntry.recognised_at, CreditEntry.id).limit(limit)))


def closed_years_over(org: Org | None) -> dict[str, datetime]:
    """School-year key → when it was closed, for the batches of ``org`` and the organisations above it (the
    earliest closing when several did)."""
    if org is None:
        return {}
    rows = db.session.execute(sa.select(RecognitionBatch.school_year, sa.func.min(RecognitionBatch.closed_at))
                              .where(RecognitionBatch.org_id.in_(org.ancestor_ids))
                              .group_by(RecognitionBatch.school_year))
    return dict(rows.tuples().all())


def is_late(entry: CreditEntry, closed: dict[str, datetime]) -> bool:
    """Recorded after its school year was closed."""
    at = closed.get(entry.school_year)
    return at is not None and entry.recognised_at > at
