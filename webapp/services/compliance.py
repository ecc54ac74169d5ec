"""Compliance overviews above the teacher: counts of met / not met / at-risk teachers per requirement line and
school, rolled up to the units below an organisation, and hours by category.

Every figure comes from one statement, however many schools and teachers the scope covers: for a region or a
school, the schools' sums (``credit_standing_school``: the standings grouped by school, period and line, kept up to
date by ``services.standings``); for a subgroup, whose members are picked one by one, the same ``GROUP BY school,
period, line`` over their standings. Teachers are loaded only a page at a time (:func:`teacher_page`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NamedTuple

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import CreditStanding, Membership, Org, OrgType, SchoolStanding, StandingStatus, User
from webapp.services.orgs import descendant_ids

#: Worst first, for sorting teachers.
SEVERITY = (StandingStatus.AT_RISK, StandingStatus.NOT_MET, StandingStatus.NO_RULES, StandingStatus.NO_MINIMUM,
            StandingStatus.MET)
#: The kinds of period in the order they are shown (cycles, whatever their code, after these).
PERIOD_ORDER = ("semester", "school_year")


@dataclass(frozen=True)
class Scope:
    """What an overview covers: everything at and below ``org`` (a region or a school), or, for a subgroup, its
    members (teachers belong to subgroups through :class:`Membership`)."""

    org: Org

    @property
    def by_membership(self) -> bool:
        return self.org.type == OrgType.SUBGROUP

    def condition(self) -> sa.ColumnElement[bool]:
        if self.by_membership:
            members = sa.select(Membership.user_id).where(Membership.org_id.in_(descendant_ids(self.org)))
            return CreditStanding.user_id.in_(members)
        return CreditStanding.school_id.in_(descendant_ids(self.org))


@dataclass(slots=True)
class Counts:
    """Teachers with a line (or, on a summary, teachers), by status; with the sums of what they counted."""

    teachers: int = 0
    met: int = 0
    not_met: int = 0
    at_risk: int = 0
    no_minimum: int = 0
    no_rules: int = 0
    counted: float = 0.0
    counted_hours: float = 0.0

    def add(self, other: Counts) -> None:
        self.teachers += other.teachers
        self.met += other.met
        self.not_met += other.not_met
        self.at_risk += other.at_risk
        self.no_minimum += other.no_minimum
        self.no_rules += other.no_rules
        self.counted += other.counted
        self.counted_hours += other.counted_hours

    @property
    def below(self) -> int:
        """Below the minimum: not met yet plus at risk."""
        return self.not_met + self.at_risk

    @property
    def measured(self) -> int:
        """Those with a minimum to meet."""
        return self.met + self.not_met + self.at_risk

    def share(self, status: str) -> float:
        return getattr(self, status) / self.measured if self.measured else 0.0


class LineKey(NamedTuple):
    """One requirement line: a period kind and key, a category (``""``: the total) and its measure."""

    period_kind: str
    period_key: str
    category: str
    measure: str

    @property
    def token(self) -> str:
        """For a URL: ``school_year:2026-2027::hours``."""
        return f"{self.period_kind}:{self.period_key}:{self.category}:{self.measure}"

    @classmethod
    def parse(cls, token: str) -> LineKey | None:
        parts = token.split(":")
        return cls(*parts) if len(parts) == 4 else None


@dataclass
class Line:
    key: LineKey
    period_name: str
    line_name: str
    period_start: date | None
    period_end: date | None
    #: The lowest and highest minimum among the teachers (audiences may raise it: a new teacher's year).
    minimum_low: float | None = None
    minimum_high: float | None = None
    exclusive: bool = False
    counts: Counts = field(default_factory=Counts)

    @property
    def has_minimum(self) -> bool:
        return self.minimum_low is not None


@dataclass
class SchoolRow:
    school_id: int
    name: str
    path: str
    summary: Counts = field(default_factory=Counts)
    lines: dict[LineKey, Counts] = field(default_factory=dict)


@dataclass
class Unit:
    """A unit just below the scope's organisation (a county under a city, a school or zone under a county)."""

    org: Org
    summary: Counts = field(default_factory=Counts)
    lines: dict[LineKey, Counts] = field(default_factory=dict)
    schools: int = 0


@dataclass
class Overview:
    scope: Scope
    summary: Counts = field(default_factory=Counts)
    lines: dict[LineKey, Line] = field(default_factory=dict)
    schools: list[SchoolRow] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    as_of: tuple[date, date] | None = None
    computed_at: tuple[datetime, datetime] | None = None

    @property
    def requirements(self) -> list[Line]:
        """The lines with a minimum, in period order then the total first."""
        return [line for line in self.ordered_lines() if line.has_minimum]

    def ordered_lines(self) -> list[Line]:
        return sorted(self.lines.values(), key=lambda line: line_order(line.key))

    def period_kinds(self) -> list[str]:
        kinds = {key.period_kind for key in self.lines}
        return sorted(kinds, key=period_order)

    def categories(self, period_kind: str) -> list[Line]:
        """The category lines (hours by category) of one period kind."""
        return [line for line in self.ordered_lines() if line.key.period_kind == period_kind and line.key.category]


def period_order(kind: str) -> tuple[int, str]:
    return (PERIOD_ORDER.index(kind) if kind in PERIOD_ORDER else len(PERIOD_ORDER), kind)


def line_order(key: LineKey) -> tuple:
    return (*period_order(key.period_kind), key.period_key, key.category != "", key.category, key.measure)


def _count(status: StandingStatus) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((CreditStanding.status == status, 1), else_=0))


def _aggregate(scope: Scope) -> sa.Select:
    s = CreditStanding
    return (sa.select(
        s.school_id, Org.name, Org.path, s.period_kind, s.period_key, s.category, s.measure,
        sa.func.count(), _count(StandingStatus.MET), _count(StandingStatus.NOT_MET), _count(StandingStatus.AT_RISK),
        _count(StandingStatus.NO_MINIMUM), _count(StandingStatus.NO_RULES), sa.func.sum(s.counted),
        sa.func.sum(s.counted_hours), sa.func.min(s.minimum), sa.func.max(s.minimum),
        sa.func.max(sa.case((s.exclusive, 1), else_=0)), sa.func.min(s.period_name), sa.func.min(s.line_name),
        sa.func.min(s.period_start), sa.func.max(s.period_end), sa.func.min(s.as_of), sa.func.max(s.as_of),
        sa.func.min(s.computed_at), sa.func.max(s.computed_at))
        .join(Org, Org.id == s.school_id)
        .where(scope.condition())
        .group_by(s.school_id, Org.name, Org.path, s.period_kind, s.period_key, s.category, s.measure))


def _float(column: sa.ColumnElement) -> sa.ColumnElement[float]:
    """A NUMERIC handed over as a float by the database driver (not a Decimal converted one row at a time)."""
    return sa.cast(column, sa.Float)


def _sums(scope: Scope, line: LineKey | None, every_line: bool) -> sa.Select:
    """The schools' sums in ``scope``, in the columns of :func:`_aggregate`: every line, or only the teachers'
    summaries and ``line``."""
    t = SchoolStanding
    query = (sa.select(
        t.school_id, Org.name, Org.path, t.period_kind, t.period_key, t.category, t.measure, t.teachers, t.met,
        t.not_met, t.at_risk, t.no_minimum, t.no_rules, _float(t.counted), _float(t.counted_hours),
        _float(t.minimum_low), _float(t.minimum_high), t.exclusive, t.period_name, t.line_name, t.period_start,
        t.period_end, t.as_of_low, t.as_of_high, t.computed_at, t.computed_at)
        .join(Org, Org.id == t.school_id)
        .where(t.school_id.in_(descendant_ids(scope.org))))
    if not every_line:
        wanted = [t.period_kind == ""]
        if line is not None:
            wanted.append(sa.and_(t.period_kind == line.period_kind, t.period_key == line.period_key,
                                  t.category == line.category, t.measure == line.measure))
        query = query.where(sa.or_(*wanted))
    return query


def _totals(scope: Scope) -> sa.Select:
    """The scope's sums per line (the schools' sums added up by the database), in the columns of :func:`_sums`
    from ``period_kind`` on."""
    t = SchoolStanding
    total = sa.func.sum
    return (sa.select(
        t.period_kind, t.period_key, t.category, t.measure, total(t.teachers), total(t.met), total(t.not_met),
        total(t.at_risk), total(t.no_minimum), total(t.no_rules), _float(total(t.counted)),
        _float(total(t.counted_hours)), _float(sa.func.min(t.minimum_low)), _float(sa.func.max(t.minimum_high)),
        sa.func.max(sa.case((t.exclusive, 1), else_=0)), sa.func.min(t.period_name), sa.func.min(t.line_name),
        sa.func.min(t.period_start), sa.func.max(t.period_end), sa.func.min(t.as_of_low), sa.func.max(t.as_of_high),
        sa.func.min(t.computed_at), sa.func.max(t.computed_at))
        .where(t.school_id.in_(descendant_ids(scope.org)))
        .group_by(t.period_kind, t.period_key, t.category, t.measure))


def _counts(n, met, not_met, at_risk, no_minimum, no_rules, counted, counted_hours) -> Counts:
    return Counts(int(n or 0), int(met or 0), int(not_met or 0), int(at_risk or 0), int(no_minimum or 0),
                  int(no_rules or 0), float(counted or 0), float(counted_hours or 0))


class _Spans:
    """The earliest and latest standing day and computation time seen."""

    def __init__(self) -> None:
        self.low_day, self.high_day = date.max, date.min
        self.low_at, self.high_at = datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)

    def see(self, first_day: date, last_day: date, first_at: datetime, last_at: datetime) -> None:
        self.low_day, self.high_day = min(self.low_day, first_day), max(self.high_day, last_day)
        self.low_at, self.high_at = min(self.low_at, first_at), max(self.high_at, last_at)

    def apply(self, result: Overview) -> None:
        if self.low_day <= self.high_day:
            result.as_of, result.computed_at = (self.low_day, self.high_day), (self.low_at, self.high_at)


def _add_line(result: Overview, key: LineKey, counts: Counts, low, high, exclusive, period_name: str,
              line_name: str, start: date | None, end: date | None) -> None:
    line = result.lines.get(key)
    if line is None:
        line = result.lines[key] = Line(key, period_name, line_name, start, end)
    if low is not None:
        line.minimum_low = low if line.minimum_low is None else min(line.minimum_low, low)
        line.minimum_high = high if line.minimum_high is None else max(line.minimum_high, high)
    line.exclusive = line.exclusive or bool(exclusive)
    line.counts.add(counts)


def overview(org: Org, line: LineKey | None = None, *, every_line: bool = False) -> Overview:
    """Everything the overview of ``org`` shows: the scope's figures per line, and per school the teachers'
    summary and ``line`` (or, with ``every_line``, each line: for the workbook). Two statements for a region or a
    school (the schools' sums, and their totals per line), one for a subgroup (its members' lines grouped)."""
    scope = Scope(org)
    result = Overview(scope)
    spans = _Spans()
    connection = db.session.connection()  # Core rows: a city's ~12,000 without the ORM's per-row bookkeeping
    if not scope.by_membership:
        for row in connection.execute(_totals(scope)).all():
            (kind, key, category, measure, n, met, not_met, at_risk, no_minimum, no_rules, counted, counted_hours,
             low, high, exclusive, period_name, line_name, start, end, first_day, last_day, first_at, last_at) = row
            counts = _counts(n, met, not_met, at_risk, no_minimum, no_rules, counted, counted_hours)
            spans.see(first_day, last_day, first_at, last_at)
            if kind == "":
                result.summary.add(counts)
            else:
                _add_line(result, LineKey(kind, key, category, measure), counts, low, high, exclusive, period_name,
                          line_name, start, end)
        rows = connection.execute(_sums(scope, line, every_line)).all()
    else:
        rows = connection.execute(_aggregate(scope)).all()
    schools: dict[int, SchoolRow] = {}
    for row in rows:
        (school_id, name, path, kind, key, category, measure, n, met, not_met, at_risk, no_minimum, no_rules,
         counted, counted_hours, low, high, exclusive, period_name, line_name, start, end, first_day, last_day,
         first_at, last_at) = row
        counts = _counts(n, met, not_met, at_risk, no_minimum, no_rules, counted, counted_hours)
        school = schools.get(school_id)
        if school is None:
            school = schools[school_id] = SchoolRow(school_id, name, path)
        if kind == "":
            school.summary.add(counts)
        else:
            school.lines[LineKey(kind, key, category, measure)] = counts
        if scope.by_membership:  # no totals statement: add up here
            spans.see(first_day, last_day, first_at, last_at)
            if kind == "":
                result.summary.add(counts)
            else:
                _add_line(result, LineKey(kind, key, category, measure), counts, low, high, exclusive, period_name,
                          line_name, start, end)
    spans.apply(result)
    result.schools = sorted(schools.values(), key=lambda s: (s.path, s.name))
    if not scope.by_membership and org.type != OrgType.SCHOOL:
        result.units = _units(org, result.schools)
    return result


def _units(org: Org, schools: Iterable[SchoolRow]) -> list[Unit]:
    """The schools' figures rolled up to the organisations just below ``org`` (one query for those)."""
    children = {child.id: Unit(child) for child in
                db.session.scalars(sa.select(Org).where(Org.parent_id == org.id).order_by(Org.code))}
    for school in schools:
        ids = [int(part) for part in school.path.strip("/").split("/")]
        unit = children.get(ids[org.depth + 1]) if len(ids) > org.depth + 1 else None
        if unit is None:
            continue
        unit.schools += 1
        unit.summary.add(school.summary)
        for key, counts in school.lines.items():
            unit.lines.setdefault(key, Counts()).add(counts)
    return [unit for unit in children.values() if unit.schools]


# -- teachers, a page at a time ----------------------------------------------------------------------------


@dataclass
class TeacherRow:
    user: User
    school_id: int
    status: StandingStatus
    lines: list[CreditStanding] = field(default_factory=list)

    @property
    def shortfalls(self) -> list[CreditStanding]:
        return [line for line in self.lines if line.status in (StandingStatus.AT_RISK, StandingStatus.NOT_MET)]


def _severity_order() -> sa.ColumnElement[int]:
    return sa.case({status.value: rank for rank, status in enumerate(SEVERITY)}, value=CreditStanding.status,
                   else_=len(SEVERITY))


def teacher_page(scope: Scope, *, status: str | None = None, line: LineKey | None = None, page: int = 1,
                 per_page: int = 50) -> tuple[list[TeacherRow], int]:
    """One page of the teachers in ``scope`` with their lines, worst first then by name; and how many there are.
    ``status`` keeps the teachers whose summary (or, with ``line``, whose standing on that line) has it.
    Three statements whatever the page size."""
    s = CreditStanding
    query = sa.select(s.user_id, s.school_id, s.status).where(scope.condition())
    if line is None:
        query = query.where(s.period_kind == "")
    else:
        query = query.where(s.period_kind == line.period_kind, s.period_key == line.period_key,
                            s.category == line.category, s.measure == line.measure)
    if status:
        query = query.where(s.status == status)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(
        query.add_columns(User).join(User, User.id == s.user_id)
        .order_by(_severity_order(), User.display_name, User.id)
        .limit(per_page).offset((page - 1) * per_page)).all()
    teachers = [TeacherRow(user, school_id, StandingStatus(state)) for _, school_id, state, user in rows]
    by_id = {t.user.id: t for t in teachers}
    if by_id:
        for standing in db.session.scalars(
                sa.select(s).where(s.user_id.in_(list(by_id)), s.period_kind != "")):
            by_id[standing.user_id].lines.append(standing)
        for teacher in teachers:
            teacher.lines.sort(key=lambda r: line_order(LineKey(r.period_kind, r.period_key, r.category, r.measure)))
    return teachers, total


def school_of(user_id: int) -> int | None:
    """The school a teacher's standing counts for, if they have one."""
    return db.session.scalar(sa.select(CreditStanding.school_id).where(CreditStanding.user_id == user_id,
                                                                       CreditStanding.period_kind == "").limit(1))


def teacher_rows(scope: Scope, *, chunk: int = 2000) -> Iterator[tuple[str, str, str, list[tuple]]]:
    """Every teacher in ``scope`` with their line rows, streamed in ``chunk``s for a spreadsheet (never all at
    once): (school name, teacher name, summary status, [(line key, counted, status)...])."""
    s = CreditStanding
    query = (sa.select(Org.path, Org.name, User.id, User.display_name, s.period_kind, s.period_key, s.category,
                       s.measure, s.counted, s.status)
             .join(User, User.id == s.user_id).join(Org, Org.id == s.school_id)
             .where(scope.condition())
             .order_by(Org.path, Org.name, User.display_name, User.id, s.period_kind))
    current: list | None = None
    for row in db.session.execute(query.execution_options(yield_per=chunk)):
        _, school, user_id, name, kind, key, category, measure, counted, state = row
        if current is None or current[0] != user_id:
            if current is not None:
                yield tuple(current[1:])
            current = [user_id, school, name, "", []]
        if kind == "":
            current[3] = state
        else:
            current[4].append((LineKey(kind, key, category, measure), float(counted or 0), state))
    if current is not None:
        yield tuple(current[1:])
