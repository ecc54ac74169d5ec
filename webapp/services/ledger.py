"""The credit ledger: posting recognised hours, reversals, and progress against the rule set in force.

Entries are append-only (the model and a database trigger refuse updates and deletes). Caps are applied
when an entry is posted: what exceeds a cap is kept on the entry as not counted, with the reason. A
reversal negates an entry and frees the room it took under the caps; every live entry of the teacher that
a cap had cut and that now has room is then re-posted (its reversal plus a new entry that ``replaces`` it),
oldest first, so a correction never loses real credits. Progress sums the counted amounts of the entries
earned in each period containing the day asked about (up to that day; optionally only those recorded by a
given moment, which makes any past answer reproducible) and compares them with the requirements of the
rule-set version that applied that day, for the teacher's audiences (new teacher, class teacher, trainer...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload

from webapp.extensions import db
from webapp.models import CreditEntry, EntrySource, Org, Role, RoleAssignment, RuleSet, User
from webapp.models.base import utcnow
from webapp.services import audit, stale_standings
from webapp.services.errors import Conflict, ServiceError
from webapp.services.orgs import descendant_ids
from webapp.services.roles import valid_on
from webapp.services.rules import LEVELS, Period, Rules, rule_set_for, rule_sets_for

#: What an audit event records of an entry.
ENTRY_FIELDS = ("user_id", "rule_set_id", "category", "item_code", "level", "hours", "credits", "counted_hours",
                "counted_credits", "earned_on", "source", "source_ref", "evidence_hash", "reverses_id")


def _round(value: float) -> float:
    return round(float(value) + 0.0, 2)


def _lock_teacher(user: User) -> None:
    """Serialise postings for one teacher (caps read then write); a no-op on SQLite."""
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())


def _roles_of(user_ids: Iterable[int] | sa.Select, day: date) -> dict[int, set[str]]:
    rows = db.session.execute(sa.select(RoleAssignment.user_id, RoleAssignment.role)
                              .where(RoleAssignment.user_id.in_(user_ids), valid_on(RoleAssignment, day)))
    held: dict[int, set[str]] = {}
    for user_id, role in rows:
        held.setdefault(user_id, set()).add(Role(role).value)
    return held


def _sums(user_ids: Iterable[int] | sa.Select, windows: list[tuple[date, date]], *, upto: date | None = None,
          by_item: bool = False, known_at: datetime | None = None,
          exclude_ids: Iterable[int] = ()) -> dict[tuple, list[tuple[float, float]]]:
    """Counted (hours, credits) per window, keyed by (user_id, category[, item_code]): one query."""
    if not windows:
        return {}
    keys = [CreditEntry.user_id, CreditEntry.category, *([CreditEntry.item_code] if by_item else [])]
    columns = []
    for start, end in windows:
        inside = CreditEntry.earned_on.between(start, end)
        columns.append(sa.func.sum(sa.case((inside, CreditEntry.counted_hours), else_=0)))
        columns.append(sa.func.sum(sa.case((inside, CreditEntry.counted_credits), else_=0)))
    low, high = min(s for s, _ in windows), max(e for _, e in windows)
    if upto is not None:
        high = min(high, upto)
    query = (sa.select(*keys, *columns)
             .where(CreditEntry.user_id.in_(user_ids), CreditEntry.earned_on.between(low, high))
             .group_by(*keys))
    if known_at is not None:
        query = query.where(CreditEntry.recognised_at <= known_at)
    if exclude := list(exclude_ids):
        query = query.where(CreditEntry.id.not_in(exclude))
    result: dict[tuple, list[tuple[float, float]]] = {}
    for row in db.session.execute(query):
        key, values = tuple(row[:len(keys)]), [float(v or 0) for v in row[len(keys):]]
        result[key] = [(values[2 * i], values[2 * i + 1]) for i in range(len(windows))]
    return result


# -- posting ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cap:
    period: Period
    label: str
    maximum: float
    measure: str
    categories: frozenset[str] | None = None  # None: every category
    item: str | None = None


def _caps(rules: Rules, user: User, category: str, item: str | None, day: date, audiences: list[str]) -> list[_Cap]:
    """The maxima that cut hours of ``category``/``item`` earned on ``day`` (``over_max: flag`` ones only flag)."""
    caps: list[_Cap] = []
    lineage = rules.lineage(category)
    for kind, block in rules.requirements(audiences).items():
        period = rules.period(kind, day, user)
        if period is None:
            continue
        total = block.get("total") or {}
        if total.get("max") is not None and total.get("over_max", "cap") == "cap":
            caps.append(_Cap(period, "合计", float(total["max"]), rules.bound_measure(total)))
        for code, bound in (block.get("categories") or {}).items():
            if code in lineage and bound.get("max") is not None and bound.get("over_max", "cap") == "cap":
                caps.append(_Cap(period, rules.category_name(code), float(bound["max"]), rules.bound_measure(bound),
                                 frozenset(rules.subtree(code))))
    if item:
        for kind, bound in (rules.items[item].get("caps") or {}).items():
            period = rules.period(kind, day, user)
            if period is not None and bound.get("over_max", "cap") == "cap":
                caps.append(_Cap(period, rules.items[item]["name"], float(bound["max"]), rules.bound_measure(bound),
                                 item=item))
    return caps


@dataclass(frozen=True)
class Counted:
    """What of an entry's hours and credits counts under the caps, and why the rest does not."""

    hours: float
    credits: float
    reason: str | None = None


def _apply_caps(rules: Rules, user: User, category: str, item: str | None, day: date, hours: float,
                credits: float, audiences: list[str], *, exclude_ids: Iterable[int] = ()) -> Counted:
    caps = _caps(rules, user, category, item, day, audiences)
    if not caps or (hours == 0 and credits == 0):
        return Counted(hours, credits)
    windows = sorted({(cap.period.start, cap.period.end) for cap in caps})
    sums = _sums([user.id], windows, by_item=True, exclude_ids=exclude_ids)
    fraction, reasons = 1.0, []
    for cap in caps:
        index = windows.index((cap.period.start, cap.period.end))
        already = 0.0
        for (_, entry_category, entry_item), values in sums.items():
            in_scope = (cap.item == entry_item if cap.item is not None
                        else cap.categories is None or entry_category in cap.categories)
            if in_scope:
                already += values[index][0 if cap.measure == "hours" else 1]
        value = hours if cap.measure == "hours" else credits
        room = max(0.0, cap.maximum - already)
        if value > room + 1e-9:
            fraction = min(fraction, room / value)
            unit = "学时" if cap.measure == "hours" else "学分"
            reasons.append(f"{cap.label}在{cap.period.name}最多计 {cap.maximum:g} {unit}，"
                           f"已计 {_round(already):g} {unit}，超出部分不计入")
    if not reasons:
        return Counted(hours, credits)
    return Counted(_round(hours * fraction), _round(credits * fraction), "；".join(reasons))


def _audiences(rules: Rules, teacher: User, day: date) -> list[str]:
    roles = _roles_of([teacher.id], day).get(teacher.id, ()) if rules.needs_roles() else ()
    return rules.audiences_for(teacher, day, roles)


def _check_evidence(rules: Rules, user: User, category: str, evidence_hash: str) -> None:
    """The same evidence backs at most one live entry per category, for one teacher, and two categories
    only where ``shared_evidence`` allows it."""
    reversal = aliased(CreditEntry)
    uses = db.session.scalars(
        sa.select(CreditEntry).where(
            CreditEntry.evidence_hash == evidence_hash, CreditEntry.reverses_id.is_(None),
            ~sa.exists().where(reversal.reverses_id == CreditEntry.id))).all()
    for use in uses:
        if use.user_id != user.id:
            raise Conflict(_l("This evidence already backs another teacher's credit entry."), field="evidence")
        if use.category == category or not rules.may_share(use.category, category):
            raise Conflict(_l("This evidence already backs the entry of %(date)s (%(category)s).",
                              date=use.earned_on.isoformat(), category=rules.category_name(use.category)),
                           field="evidence")


def post_entry(teacher: User, *, earned_on: date, category: str | None = None, item: str | None = None,
               hours: float | None = None, level: str | None = None,
               source: EntrySource | str = EntrySource.MANUAL, source_ref: str | None = None,
               evidence_hash: str | None = None, recognised_by: User | None = None,
               recognised_org: Org | None = None, recognised_at: datetime | None = None, title: str | None = None,
               note: str | None = None, rule_set: RuleSet | None = None) -> CreditEntry:
    """Post recognised hours to ``teacher``'s ledger under the rule set in force for their organisation on
    ``earned_on`` (or ``rule_set``). The item, when given, fixes the category and may supply the hours;
    hours are converted to credits, and what exceeds a cap is recorded as not counted. Flushes, never commits.
    """
    source = EntrySource(source)
    if source is EntrySource.REVERSAL:
        raise ServiceError(_l("Reversals are posted with reverse_entry()."))
    _lock_teacher(teacher)
    rule_set = rule_set or rule_set_for(teacher.org, earned_on, posting=True)
    if rule_set is None:
        raise ServiceError(_l("No credit rule set is in force for %(org)s on %(date)s.",
                              org=teacher.org.name if teacher.org else "-", date=earned_on.isoformat()))
    if not rule_set.accepts(earned_on):
        raise ServiceError(_l("The rule set %(title)s recognises hours earned from %(start)s to %(end)s.",
                              title=rule_set.title, start=rule_set.entries_from.isoformat(),
                              end=rule_set.effective_to.isoformat() if rule_set.effective_to else "…"),
                           field="earned_on")
    rules = Rules(rule_set)
    if item is not None:
        spec = rules.items.get(item)
        if spec is None:
            raise ServiceError(_l("The rule set %(code)s has no item %(item)s.", code=rule_set.code, item=item),
                               field="item")
        if category is not None and category != spec["category"]:
            raise ServiceError(_l("The item %(item)s belongs to the category %(category)s.", item=item,
                                  category=spec["category"]), field="category")
        category = spec["category"]
    if category is None or category not in rules.categories:
        raise ServiceError(_l("The rule set %(code)s has no category %(category)s.", code=rule_set.code,
                              category=category or "-"), field="category")
    if level is not None and level not in LEVELS:
        raise ServiceError(_l("Unknown training level %(level)s.", level=level), field="level")
    if not rules.in_window(category, earned_on):
        owner, start, end = rules.window(category) or (category, "", "")
        raise ServiceError(_l("%(category)s is recognised only for hours earned from %(start)s to %(end)s.",
                              category=rules.category_name(owner), start=start, end=end), field="earned_on")
    if hours is None and item is not None:
        hours = rules.default_hours(item, level)
    if hours is None:
        raise ServiceError(_l("Give the number of hours."), field="hours")
    if hours < 0:
        raise ServiceError(_l("Hours cannot be negative; reverse the entry instead."), field="hours")
    hours = _round(hours)
    credits = rules.credits_for(hours, category, item, level)
    if evidence_hash:
        _check_evidence(rules, teacher, category, evidence_hash)
    counted = _apply_caps(rules, teacher, category, item, earned_on, hours, credits,
                          _audiences(rules, teacher, earned_on))
    entry = CreditEntry(
        user_id=teacher.id, org_id=teacher.org_id, rule_set_id=rule_set.id, category=category, item_code=item,
        level=level, title=title, hours=hours, credits=credits, counted_hours=counted.hours,
        counted_credits=counted.credits, not_counted_reason=counted.reason, earned_on=earned_on,
        school_year=rules.school_year(earned_on).key, semester=rules.semester(earned_on).key, source=source,
        source_ref=source_ref, evidence_hash=evidence_hash or None,
        recognised_by_id=recognised_by.id if recognised_by else None,
        recognised_org_id=recognised_org.id if recognised_org else None,
        recognised_at=recognised_at or utcnow(), note=note)
    db.session.add(entry)
    db.session.flush()
    audit.record("credit.post", actor=recognised_by, obj=entry, after=audit.snapshot(entry, ENTRY_FIELDS))
    stale_standings.mark(teacher.id)
    return entry


def _live_capped(user_id: int) -> list[CreditEntry]:
    """The user's live (not reversed, not reversals) entries that a cap cut, oldest first."""
    reversal = aliased(CreditEntry)
    return list(db.session.scalars(
        sa.select(CreditEntry).options(joinedload(CreditEntry.rule_set))
        .where(CreditEntry.user_id == user_id, CreditEntry.reverses_id.is_(None),
               sa.or_(CreditEntry.counted_hours < CreditEntry.hours, CreditEntry.counted_credits < CreditEntry.credits),
               ~sa.exists().where(reversal.reverses_id == CreditEntry.id))
        .order_by(CreditEntry.id)))


def _negate(entry: CreditEntry, by: User | None, note: str, org: Org | None) -> CreditEntry:
    reversal = CreditEntry(
        user_id=entry.user_id, org_id=entry.org_id, rule_set_id=entry.rule_set_id, category=entry.category,
        item_code=entry.item_code, level=entry.level, title=entry.title, hours=-entry.hours, credits=-entry.credits,
        counted_hours=-entry.counted_hours, counted_credits=-entry.counted_credits, earned_on=entry.earned_on,
        school_year=entry.school_year, semester=entry.semester, source=EntrySource.REVERSAL,
        source_ref=entry.source_ref, evidence_hash=entry.evidence_hash, recognised_by_id=by.id if by else None,
        recognised_org_id=(org.id if org else by.org_id if by else None), recognised_at=utcnow(),
        note=note, reverses_id=entry.id)
    try:
        with db.session.begin_nested():
            db.session.add(reversal)
    except IntegrityError as error:  # reversed concurrently
        raise Conflict(_l("This entry has already been reversed.")) from error
    audit.record("credit.reverse", actor=by, obj=reversal, after=audit.snapshot(reversal, ENTRY_FIELDS))
    stale_standings.mark(entry.user_id)
    return reversal


def recount(user: User, by: User | None, *, cause: CreditEntry | None = None,
            org: Org | None = None) -> list[CreditEntry]:
    """Re-post, oldest first, each live entry of ``user`` that a cap cut and that now has room under every cap
    (after a reversal freed it): the entry is reversed and posted again with what now counts, the new entry
    pointing at it through ``replaces_id``. Returns the new entries. Flushes, never commits."""
    reposted: list[CreditEntry] = []
    for entry in _live_capped(user.id):
        rules = Rules(entry.rule_set)
        counted = _apply_caps(rules, user, entry.category, entry.item_code, entry.earned_on, float(entry.hours),
                              float(entry.credits), _audiences(rules, user, entry.earned_on), exclude_ids=[entry.id])
        if counted.hours <= entry.counted_hours + 1e-9 and counted.credits <= entry.counted_credits + 1e-9:
            continue
        because = f"（第 {cause.reverses_id} 条冲销后）" if cause is not None and cause.reverses_id else ""
        _negate(entry, by, f"上限内有了空余{because}，按新的计入额重新记账", org)
        replacement = CreditEntry(
            user_id=entry.user_id, org_id=entry.org_id, rule_set_id=entry.rule_set_id, category=entry.category,
            item_code=entry.item_code, level=entry.level, title=entry.title, hours=entry.hours,
            credits=entry.credits, counted_hours=counted.hours, counted_credits=counted.credits,
            not_counted_reason=counted.reason, earned_on=entry.earned_on, school_year=entry.school_year,
            semester=entry.semester, source=entry.source, source_ref=entry.source_ref,
            evidence_hash=entry.evidence_hash, recognised_by_id=entry.recognised_by_id,
            recognised_org_id=entry.recognised_org_id, recognised_at=utcnow(), note=entry.note,
            replaces_id=entry.id)
        db.session.add(replacement)
        db.session.flush()
        audit.record("credit.recount", actor=by, obj=replacement,
                     before=audit.snapshot(entry, ENTRY_FIELDS), after=audit.snapshot(replacement, ENTRY_FIELDS))
        reposted.append(replacement)
    return reposted


def reverse_entry(entry: CreditEntry, by: User | None, reason: str, *, org: Org | None = None,
                  then_recount: bool = True) -> CreditEntry:
    """Post the reversal of ``entry`` (every amount negated), then re-count the teacher's capped entries that
    the freed room lets count more (:func:`recount`). An entry is reversed at most once, and a reversal is
    never reversed: post a new entry instead. ``then_recount=False`` leaves the re-count to the caller (who
    posts the corrected entry first, so that it keeps its place). Flushes, never commits."""
    if not reason or not reason.strip():
        raise ServiceError(_l("Give the reason for the reversal."), field="reason")
    if entry.is_reversal:
        raise Conflict(_l("A reversal cannot be reversed; post a new entry instead."))
    _lock_teacher(entry.user)
    if db.session.scalar(sa.select(CreditEntry.id).where(CreditEntry.reverses_id == entry.id)) is not None:
        raise Conflict(_l("This entry has already been reversed."))
    reversal = _negate(entry, by, reason.strip(), org)
    if then_recount:
        recount(entry.user, by, cause=reversal, org=org)
    return reversal


# -- reading -------------------------------------------------------------------------------------------


def entries_of(user: User, *, start: date | None = None, end: date | None = None) -> list[CreditEntry]:
    """The user's entries earned between ``start`` and ``end`` (inclusive), oldest first, reversals included."""
    query = sa.select(CreditEntry).where(CreditEntry.user_id == user.id)
    if start is not None:
        query = query.where(CreditEntry.earned_on >= start)
    if end is not None:
        query = query.where(CreditEntry.earned_on <= end)
    return list(db.session.scalars(query.order_by(CreditEntry.earned_on, CreditEntry.id)))


def reversed_ids(entries: Iterable[CreditEntry]) -> set[int]:
    """Which of ``entries`` have been reversed."""
    ids = [e.id for e in entries]
    if not ids:
        return set()
    return set(db.session.scalars(sa.select(CreditEntry.reverses_id).where(CreditEntry.reverses_id.in_(ids))))


@dataclass(frozen=True)
class Line:
    """Progress of one category (or the total, ``category`` None) in one period."""

    category: str | None
    name: str
    #: What ``minimum``/``maximum`` are measured in: ``hours`` or ``credits``.
    measure: str
    counted_hours: float
    counted_credits: float
    minimum: float | None = None
    #: True when the minimum is exclusive (``min_exclusive``: more than ``minimum`` is needed).
    exclusive: bool = False
    maximum: float | None = None
    #: True when hours above ``maximum`` count and are flagged (``over_max: flag``) instead of being cut.
    flags_maximum: bool = False

    @property
    def counted(self) -> float:
        return self.counted_hours if self.measure == "hours" else self.counted_credits

    @property
    def has_minimum(self) -> bool:
        return self.minimum is not None

    @property
    def met(self) -> bool:
        if self.minimum is None:
            return True
        return self.counted > self.minimum + 1e-9 if self.exclusive else self.counted >= self.minimum - 1e-9

    @property
    def over_maximum(self) -> bool:
        """More counts than a flagged maximum allows: out of range, to be looked at."""
        return self.flags_maximum and self.maximum is not None and self.counted > self.maximum + 1e-9

    @property
    def status(self) -> str:
        """``met``, ``not_met``, or ``no_minimum``."""
        if self.minimum is None:
            return "no_minimum"
        return "met" if self.met else "not_met"

    @property
    def remaining(self) -> float | None:
        """What is still needed (0 when met; for an exclusive minimum, the gap to it)."""
        if self.minimum is None:
            return None
        return 0.0 if self.met else _round(max(self.minimum - self.counted, 0.0))

    @property
    def share(self) -> float:
        """How full the progress bar is, 0–1 (against the minimum, else the maximum)."""
        target = self.minimum if self.minimum else self.maximum
        if not target:
            return 1.0 if self.met and self.counted > 0 else 0.0
        return max(0.0, min(1.0, self.counted / target))


@dataclass(frozen=True)
class PeriodProgress:
    period: Period
    total: Line
    categories: list[Line]

    @property
    def lines(self) -> list[Line]:
        return [self.total, *self.categories]

    @property
    def shortfalls(self) -> list[Line]:
        return [line for line in self.lines if line.status == "not_met"]

    @property
    def met(self) -> bool:
        return not self.shortfalls


@dataclass(frozen=True)
class Progress:
    user: User
    on: date
    #: None when no rule set is in force for the user's organisation on that day.
    rule_set: RuleSet | None
    #: Codes and names of the audiences whose requirements apply (new_teacher, class_teacher...).
    audiences: list[tuple[str, str]] = field(default_factory=list)
    periods: list[PeriodProgress] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return all(p.met for p in self.periods)

    def period(self, kind: str) -> PeriodProgress | None:
        return next((p for p in self.periods if p.period.kind == kind), None)


def _line(rules: Rules, code: str | None, bound: dict | None, hours: float, credits: float) -> Line:
    bound = bound or {}
    minimum, exclusive = bound.get("min"), False
    if minimum is None and bound.get("min_exclusive") is not None:
        minimum, exclusive = bound["min_exclusive"], True
    measure = rules.bound_measure(bound) if bound else rules.display_measure()
    return Line(category=code, name=rules.category_name(code) if code else "合计", measure=measure,
                counted_hours=_round(hours), counted_credits=_round(credits),
                minimum=None if minimum is None else float(minimum), exclusive=exclusive,
                maximum=None if bound.get("max") is None else float(bound["max"]),
                flags_maximum=bound.get("over_max") == "flag")


#: Counted (hours, credits) per period window, per category, of one teacher.
Sums = dict[tuple[date, date], dict[str, tuple[float, float]]]


def _evaluate(rules: Rules, user: User, day: date, roles: Iterable[str], sums: Sums) -> Progress:
    audiences = rules.audiences_for(user, day, roles)
    requirements = rules.requirements(audiences)
    periods = []
    for period in rules.periods_on(day, user):
        if period.kind == "first_year" and "first_year" not in requirements:
            continue
        in_window = sums.get((period.start, period.end), {})
        block = requirements.get(period.kind) or {}
        bounds = block.get("categories") or {}
        shown = [c for c in rules.categories if c in bounds or (c in rules.top_level())]

        def counted(codes: Iterable[str], values: dict[str, tuple[float, float]] = in_window) -> tuple[float, float]:
            found = [values[c] for c in codes if c in values]
            return sum(v[0] for v in found), sum(v[1] for v in found)

        lines = [_line(rules, code, bounds.get(code), *counted(rules.subtree(code))) for code in shown]
        total = _line(rules, None, block.get("total"), *counted(in_window))
        periods.append(PeriodProgress(period, total, lines))
    names = [(code, rules.body["audiences"][code]["name"]) for code in audiences]
    return Progress(user, day, rules.rule_set, names, periods)


def _gather(teachers: list[User], rules_of: dict[int, Rules], day: date, known_at: datetime | None) -> dict[int, Sums]:
    """Counted sums of every teacher over the windows of the periods containing ``day``: one aggregate for the
    windows teachers share, one for the first years of new teachers (each anchored on its own hire date)."""
    shared = sorted({(p.start, p.end) for rules in {id(r): r for r in rules_of.values()}.values()
                     for p in rules.periods_on(day) if p.kind != "first_year"})
    result: dict[int, Sums] = {t.id: {} for t in teachers}
    if shared:
        for (user_id, category), values in _sums([t.id for t in teachers], shared, upto=day,
                                                 known_at=known_at).items():
            for window, value in zip(shared, values, strict=True):
                result[user_id].setdefault(window, {})[category] = value
    firsts = {}
    for teacher in teachers:
        rules = rules_of.get(teacher.id)
        period = rules.period("first_year", day, teacher) if rules is not None and \
            "first_year" in rules.bounded_kinds() else None
        if period is not None:
            firsts[teacher.id] = period
    if firsts:
        query = (sa.select(CreditEntry.user_id, CreditEntry.category, CreditEntry.earned_on,
                           CreditEntry.counted_hours, CreditEntry.counted_credits)
                 .where(CreditEntry.user_id.in_(list(firsts)),
                        CreditEntry.earned_on.between(min(p.start for p in firsts.values()), day)))
        if known_at is not None:
            query = query.where(CreditEntry.recognised_at <= known_at)
        for user_id, category, earned_on, hours, credits in db.session.execute(query):
            period = firsts[user_id]
            if earned_on in period:
                bucket = result[user_id].setdefault((period.start, period.end), {})
                old = bucket.get(category, (0.0, 0.0))
                bucket[category] = (old[0] + float(hours), old[1] + float(credits))
    return result


def progress(user: User, on: date | None = None, *, known_at: datetime | None = None) -> Progress:
    """Where ``user`` stands on ``on`` (today): for the semester, the school year and each cycle containing
    that day (and the months, weeks and first year where the rules bound them), the counted hours and credits
    per category against the minimums and maxima of the rule-set version that applied that day, the user's
    audiences applied. Entries earned after ``on`` are left out; with ``known_at``, so are entries recorded
    after that moment, which answers "what did the ledger say then" the same way at any later time.
    """
    return progress_of_many([user], on, known_at=known_at)[user.id]


def progress_of_many(teachers: Iterable[User], on: date | None = None, *, fallback_org: Org | None = None,
                     known_at: datetime | None = None) -> dict[int, Progress]:
    """:func:`progress` for many teachers in a bounded number of queries (rule sets, roles when an audience
    needs them, the aggregates of the ledger), whatever their number. ``fallback_org`` stands for the
    organisation of a teacher who has none. Teachers without a rule set in force get an empty Progress."""
    day = on or date.today()
    teachers = list(teachers)
    if not teachers:
        return {}
    orgs = {o.id: o for o in (t.org or fallback_org for t in teachers) if o is not None}
    rule_sets = rule_sets_for(orgs.values(), day)
    compiled: dict[int, Rules] = {}
    rules_of: dict[int, Rules] = {}
    for teacher in teachers:
        org = teacher.org or fallback_org
        rule_set = rule_sets.get(org.id) if org is not None else None
        if rule_set is not None:
            rules_of[teacher.id] = compiled.setdefault(rule_set.id, Rules(rule_set))
    ids = [t.id for t in teachers]
    roles = _roles_of(ids, day) if any(r.needs_roles() for r in compiled.values()) else {}
    sums = _gather([t for t in teachers if t.id in rules_of], rules_of, day, known_at) if rules_of else {}
    result: dict[int, Progress] = {}
    for teacher in teachers:
        rules = rules_of.get(teacher.id)
        if rules is None:
            result[teacher.id] = Progress(teacher, day, None)
        else:
            result[teacher.id] = _evaluate(rules, teacher, day, roles.get(teacher.id, set()), sums[teacher.id])
    return result


@dataclass(frozen=True)
class TeacherShortfall:
    user: User
    progress: Progress

    @property
    def missing(self) -> list[tuple[Period, Line]]:
        """Every (period, line) whose minimum is not met."""
        return [(p.period, line) for p in self.progress.periods for line in p.shortfalls]


def teachers_of(school: Org, on: date | None = None) -> list[User]:
    """The active teachers of ``school``: holders of the role ``teacher`` at it or below it (its subgroups) on
    ``on`` (today), by name."""
    day = on or date.today()
    teacher_ids = (sa.select(RoleAssignment.user_id)
                   .where(RoleAssignment.role == Role.TEACHER, RoleAssignment.org_id.in_(descendant_ids(school)),
                          valid_on(RoleAssignment, day)))
    return list(db.session.scalars(
        sa.select(User).options(joinedload(User.org))
        .where(User.id.in_(teacher_ids), User.active.is_(True)).order_by(User.display_name, User.id)))


def below_minimum(school: Org, on: date | None = None) -> list[TeacherShortfall]:
    """The teachers of ``school`` (role ``teacher`` held at it or below it on ``on``) who miss at least one
    minimum of the periods containing that day, with their progress."""
    day = on or date.today()
    teachers = teachers_of(school, day)
    standings = progress_of_many(teachers, day, fallback_org=school)
    return [TeacherShortfall(t, standings[t.id]) for t in teachers
            if standings[t.id].rule_set is not None and not standings[t.id].met]
