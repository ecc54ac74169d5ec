"""达标概览: compliance of the schools below a county, city or bureau officer (drill-down region → unit → school →
teacher), the teachers of a school or subgroup with their standing, one teacher's ledger read-only, and the
overview as an Excel workbook. Everything above the teacher is read from the standings' aggregates
(``services.compliance``), never by evaluating the teachers' ledgers one by one.
"""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa
from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.ledger import bp
from webapp.ledger.views import (
    MEASURE_LABELS,
    _as_of,
    _Names,
    amount,
    ascii_filename,
    period_kind_label,
)
from webapp.models import CreditEntry, CreditStanding, Membership, Org, OrgType, Role, StandingStatus, User
from webapp.security import current_roles, require_role
from webapp.services import compliance, corrections, ledger
from webapp.services.orgs import ancestors_of, descendant_ids
from webapp.services.spreadsheet import AMOUNT, INTEGER, PERCENT, Column, Xlsx

#: Who sees the overview of a region (a role held at an organisation covers everything below it).
REGION_ROLES = (Role.COUNTY_OFFICER, Role.BUREAU_OFFICER, Role.ADMIN)
#: Who sees the teachers of a school or subgroup, and a teacher's ledger, within their scope.
TEACHER_ROLES = (*REGION_ROLES, Role.SCHOOL_OFFICER, Role.PRINCIPAL, Role.SUBGROUP_LEADER)
SCHOOLS_PER_PAGE = 25
TEACHERS_PER_PAGE = 50
#: The chart shows at most this many units (those with the most teachers below a minimum).
CHART_UNITS = 20

STANDING_LABELS = {
    StandingStatus.MET: _l("Met"), StandingStatus.NOT_MET: _l("Not met yet"), StandingStatus.AT_RISK: _l("At risk"),
    StandingStatus.NO_MINIMUM: _l("No minimum"), StandingStatus.NO_RULES: _l("No rule set"),
}
STANDING_COLOURS = {
    StandingStatus.MET: "success", StandingStatus.NOT_MET: "warning", StandingStatus.AT_RISK: "danger",
    StandingStatus.NO_MINIMUM: "secondary", StandingStatus.NO_RULES: "secondary",
}
AT_RISK_DEFINITION = _l(
    "At risk: the minimum is not reached yet and the share of it reached is below the share of the period that "
    "has gone by (for example less than half of the minimum at the middle of the school year). Not met yet: below "
    "the minimum but on pace. On a period's last day every line below its minimum is at risk.")


class ListPage(Pagination):
    """Pagination of a list already in memory (the schools of an aggregate)."""

    def _query_items(self) -> list:
        return self._query_args["items"][self._query_offset:self._query_offset + self.per_page]

    def _query_count(self) -> int:
        return len(self._query_args["items"])


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


# -- who may look where ----------------------------------------------------------------------------------------


def _roots(roles: tuple[Role, ...]) -> list[Org]:
    """The organisations at which the user holds one of ``roles`` (an administrator: every top-level one),
    without those inside another."""
    held = current_roles()
    if any(h.role == Role.ADMIN for h in held) and Role.ADMIN in roles:
        found = list(db.session.scalars(sa.select(Org).where(Org.parent_id.is_(None)).order_by(Org.code)))
    else:
        found = list({h.org.id: h.org for h in held if h.role in roles}.values())
    found.sort(key=lambda o: (o.depth, o.code))
    return [o for o in found if not any(o.id != r.id and o.path.startswith(r.path) for r in found)]


def _covers(roots: list[Org], org: Org) -> bool:
    return any(org.path.startswith(root.path) for root in roots)


def _org_arg(roots: list[Org]) -> Org:
    """``?org=<id>`` (404 unknown, 403 outside the roots), else the first root (404 without any)."""
    raw = request.args.get("org", "").strip()
    if not raw:
        if not roots:
            abort(403)
        return roots[0]
    if not raw.isdigit():
        abort(404)
    org = db.session.get(Org, int(raw))
    if org is None:
        abort(404)
    if not _covers(roots, org):
        abort(403)
    return org


def _trail(org: Org, roots: list[Org]) -> list[Org]:
    """The organisations from the user's root down to ``org``'s parent, for the breadcrumb."""
    ancestors = ancestors_of([org])[org.id]
    return [a for a in ancestors if _covers(roots, a)]


# -- labels ------------------------------------------------------------------------------------------------------


def requirement_label(line: compliance.Line) -> str:
    """"School year 2026–2027 · Total", the period's kind and name then the line."""
    name = line.line_name if line.key.category else _("Total")
    return f"{period_kind_label(line.key.period_kind)} · {line.period_name} · {name}"


def minimum_label(line: compliance.Line) -> str:
    """"≥ 72 hours", "≥ 72–120 hours" (audiences raise it for some), "> 0 credits"."""
    if line.minimum_low is None:
        return "—"
    unit = MEASURE_LABELS.get(line.key.measure, "")
    if line.exclusive and not line.minimum_low and not line.minimum_high:  # "every year must have some"
        return _("some %(unit)s, however few", unit=unit)
    low, high = amount(line.minimum_low), amount(line.minimum_high)
    value = low if low == high else f"{low}–{high}"
    return f"{'>' if line.exclusive else '≥'} {value} {unit}"


def standing_line_text(row: CreditStanding) -> str:
    """"School year · Total 30 / ≥ 72 hours" for one teacher's line."""
    name = row.line_name if row.category else _("Total")
    unit = MEASURE_LABELS.get(row.measure, "")
    if row.exclusive and not row.minimum:
        return f"{period_kind_label(row.period_kind)} · {name} {amount(row.counted)} / " + str(
            _("some %(unit)s, however few", unit=unit))
    sign = ">" if row.exclusive else "≥"
    return f"{period_kind_label(row.period_kind)} · {name} {amount(row.counted)} / {sign} {amount(row.minimum)} {unit}"


@bp.context_processor
def _overview_helpers() -> dict:
    return {"standing_labels": STANDING_LABELS, "standing_colours": STANDING_COLOURS,
            "requirement_label": requirement_label, "minimum_label": minimum_label,
            "standing_line_text": standing_line_text, "at_risk_definition": AT_RISK_DEFINITION,
            "percent": lambda share: format_percent(share, "#,##0%")}


def _line_key() -> compliance.LineKey | None:
    return compliance.LineKey.parse(request.args.get("line", ""))


def _line_arg(view: compliance.Overview, key: compliance.LineKey | None) -> compliance.Line | None:
    return view.lines.get(key) if key is not None else None


def _counts(item, line: compliance.Line | None) -> compliance.Counts:
    """A school's or unit's counts: of teachers (all requirements) or on ``line``."""
    if line is None:
        return item.summary
    return item.lines.get(line.key) or compliance.Counts()


def _chart_data(view: compliance.Overview, line: compliance.Line | None, kind: str | None) -> dict:
    if any(u.org.type != OrgType.SCHOOL for u in view.units):  # areas (and the schools right below the scope)
        units = [(u.org.name, _counts(u, line)) for u in view.units]
    else:
        units = [(s.name, _counts(s, line)) for s in view.schools]
    units = [u for u in units if u[1].measured]
    units.sort(key=lambda u: (-u[1].below, -u[1].at_risk, u[0]))
    units = units[:CHART_UNITS][::-1]  # the chart draws from the bottom up
    categories = view.categories(kind) if kind else []
    teachers = view.summary.teachers or 1
    return {
        "standing": {"names": [name for name, _ in units],
                     "series": [{"name": str(STANDING_LABELS[status]), "status": status.value,
                                 "values": [getattr(c, status.value) for _, c in units]}
                                for status in (StandingStatus.MET, StandingStatus.NOT_MET, StandingStatus.AT_RISK)]},
        "hours": {"names": [c.line_name for c in categories],
                  "values": [round(c.counts.counted_hours / teachers, 1) for c in categories],
                  "label": _("Hours per teacher")},
    }


# -- the overview of a region ----------------------------------------------------------------------------------


@bp.route("/overview")
@require_role(*REGION_ROLES, Role.SCHOOL_OFFICER, Role.PRINCIPAL, Role.SUBGROUP_LEADER)
def overview():
    roots = _roots(REGION_ROLES)
    if not roots and not request.args.get("org"):  # a school officer, principal or subgroup leader: their teachers
        return redirect(url_for("ledger.overview_teachers", org=_org_arg(_roots(TEACHER_ROLES)).id))
    org = _org_arg(roots)
    if org.type in (OrgType.SCHOOL, OrgType.SUBGROUP):
        return redirect(url_for("ledger.overview_teachers", org=org.id))
    key = _line_key()
    view = compliance.overview(org, key)
    line = _line_arg(view, key)
    kinds = view.period_kinds()
    kind = request.args.get("period") if request.args.get("period") in kinds else (
        "school_year" if "school_year" in kinds else (kinds[0] if kinds else None))
    schools = list(view.schools)
    sort = request.args.get("sort", "risk")
    if sort == "name":
        schools.sort(key=lambda s: (s.path, s.name))
    else:
        schools.sort(key=lambda s: (-_counts(s, line).share("at_risk"), -_counts(s, line).share("not_met"), s.name))
    page = ListPage(page=_page_number(), per_page=SCHOOLS_PER_PAGE, max_per_page=None, error_out=False,
                    items=schools)
    region_units = view.units if any(u.org.type != OrgType.SCHOOL for u in view.units) else []
    return render_template(
        "ledger/overview.html", org=org, roots=roots, trail=_trail(org, roots), view=view, line=line, kind=kind,
        kinds=kinds, page=page, sort=sort, units=region_units, counts_of=_counts,
        totals=view.summary if line is None else line.counts,
        chart=json.dumps(_chart_data(view, line, kind), ensure_ascii=False),
        computed_at=view.computed_at and format_datetime(view.computed_at[1], "medium"))


# -- the teachers of a school or subgroup ------------------------------------------------------------------------


@bp.route("/overview/teachers")
@require_role(*TEACHER_ROLES)
def overview_teachers():
    roots = _roots(TEACHER_ROLES)
    org = _org_arg(roots)
    if org.type not in (OrgType.SCHOOL, OrgType.SUBGROUP):
        return redirect(url_for("ledger.overview", org=org.id))
    scope = compliance.Scope(org)
    key = _line_key()
    view = compliance.overview(org, key)
    line = _line_arg(view, key)
    status = request.args.get("status") or None
    if status not in {s.value for s in StandingStatus}:
        status = None
    teachers, total = compliance.teacher_page(scope, status=status, line=line.key if line else None,
                                              page=_page_number(), per_page=TEACHERS_PER_PAGE)
    page = ListPage(page=_page_number(), per_page=TEACHERS_PER_PAGE, max_per_page=None, error_out=False,
                    items=[None] * total)
    region_roots = _roots(REGION_ROLES)
    parent = org.parent if org.parent is not None and _covers(region_roots, org.parent) else None
    return render_template(
        "ledger/overview_teachers.html", org=org, trail=_trail(org, roots), view=view, line=line, status=status,
        teachers=teachers, page=page, totals=view.summary if line is None else line.counts, parent=parent,
        school_roles=any(h.role in (Role.SCHOOL_OFFICER, Role.PRINCIPAL, Role.COUNTY_OFFICER, Role.ADMIN)
                         for h in current_roles()),
        computed_at=view.computed_at and format_datetime(view.computed_at[1], "medium"))


# -- one teacher, read-only --------------------------------------------------------------------------------------


def _may_see_teacher(teacher: User) -> bool:
    roots = _roots(TEACHER_ROLES)
    subgroups = [r for r in roots if r.type == OrgType.SUBGROUP]
    others = [r for r in roots if r.type != OrgType.SUBGROUP]
    school_id = compliance.school_of(teacher.id)
    places = [o for o in (db.session.get(Org, school_id) if school_id else None, teacher.org) if o is not None]
    if any(_covers(others, place) for place in places):
        return True
    if subgroups:
        below = sa.union(*(descendant_ids(s) for s in subgroups))
        return db.session.scalar(sa.select(Membership.user_id).where(
            Membership.user_id == teacher.id, Membership.org_id.in_(below)).limit(1)) is not None
    return False


@bp.route("/overview/teachers/<int:user_id>")
@require_role(*TEACHER_ROLES)
def overview_teacher(user_id: int):
    teacher = db.session.get(User, user_id)
    if teacher is None:
        abort(404)
    if not _may_see_teacher(teacher):
        abort(403)
    day, date_error = _as_of()
    school_id = compliance.school_of(teacher.id)
    school = db.session.get(Org, school_id) if school_id else teacher.org
    standing = ledger.progress_of_many([teacher], day, fallback_org=school)[teacher.id]
    since = min((p.period.start for p in standing.periods), default=None)
    query = (sa.select(CreditEntry).options(joinedload(CreditEntry.rule_set), joinedload(CreditEntry.reverses))
             .where(CreditEntry.user_id == teacher.id, CreditEntry.earned_on <= day))
    if since is not None:
        query = query.where(CreditEntry.earned_on >= since)
    page = db.paginate(query.order_by(CreditEntry.earned_on.desc(), CreditEntry.id.desc()),
                       per_page=current_app.config["YANXUN"]["PAGE_SIZE"], error_out=False)
    ids = [e.id for e in page.items]
    reversed_ids = set(db.session.scalars(sa.select(CreditEntry.reverses_id).where(
        CreditEntry.reverses_id.in_(ids)))) if ids else set()
    roots = _roots(TEACHER_ROLES)
    back = school if school is not None and _covers(roots, school) else next(
        (r for r in roots if r.type == OrgType.SUBGROUP), None)
    correctable = corrections.may_correct(current_user, teacher, current_roles())
    return render_template("ledger/overview_teacher.html", teacher=teacher, back=back, standing=standing,
                           correctable=correctable,
                           day=day, today=date.today(), date_error=date_error, page=page, reversed=reversed_ids,
                           names=_Names(), since=since, show_all=False)


# -- Excel ---------------------------------------------------------------------------------------------------------


def _status_text(status: str) -> str:
    return str(STANDING_LABELS.get(StandingStatus(status), status)) if status else ""


@bp.route("/overview.xlsx")
@require_role(*TEACHER_ROLES)
def overview_xlsx():
    roots = _roots(TEACHER_ROLES)
    org = _org_arg(roots)
    if org.type not in (OrgType.SCHOOL, OrgType.SUBGROUP) and not _covers(_roots(REGION_ROLES), org):
        abort(403)
    view = compliance.overview(org, every_line=True)
    book = Xlsx()
    counts = [Column(_("Teachers"), 10, INTEGER), Column(_("Met"), 10, INTEGER), Column(_("Not met yet"), 12, INTEGER),
              Column(_("At risk"), 10, INTEGER), Column(_("Share at risk"), 12, PERCENT)]

    def numbers(c: compliance.Counts, teachers: int | None = None) -> list:
        return [c.teachers if teachers is None else teachers, c.met, c.not_met, c.at_risk, c.share("at_risk")]

    schools = book.sheet(_("List of schools"),
                         [Column(_("School"), 36), Column(_("No rule set"), 12, INTEGER), *counts])
    for school in view.schools:
        schools.row([school.name, school.summary.no_rules, *numbers(school.summary)])
    requirements = book.sheet(_("Requirements"), [
        Column(_("School"), 36), Column(_("Training period"), 14), Column(_("Period"), 24),
        Column(_("Requirement"), 20), Column(_("Minimum"), 16), *counts, Column(_("Counted in all"), 14, AMOUNT),
        Column(_("Unit"), 8)])
    hours = book.sheet(_("Hours by category"), [
        Column(_("School"), 36), Column(_("Training period"), 14), Column(_("Period"), 24), Column(_("Category"), 20),
        Column(_("Teachers"), 10, INTEGER), Column(_("Hours in all"), 14, AMOUNT),
        Column(_("Hours per teacher"), 14, AMOUNT)])
    lines = view.ordered_lines()
    for school in view.schools:
        for line in lines:
            c = school.lines.get(line.key)
            if c is None:
                continue
            kind = period_kind_label(line.key.period_kind)
            name = line.line_name if line.key.category else _("Total")
            if line.has_minimum:
                requirements.row([school.name, kind, line.period_name, name, minimum_label(line),
                                  *numbers(c, c.measured), c.counted, MEASURE_LABELS.get(line.key.measure, "")])
            if line.key.category:
                hours.row([school.name, kind, line.period_name, name, c.teachers, c.counted_hours,
                           c.counted_hours / c.teachers if c.teachers else 0])
    wanted = view.requirements
    teachers = book.sheet(_("List of teachers"), [
        Column(_("School"), 36), Column(_("Teacher"), 14), Column(_("Standing"), 12),
        *(column for line in wanted for column in (
            Column(f"{requirement_label(line)}（{MEASURE_LABELS.get(line.key.measure, '')}）", 22, AMOUNT),
            Column(_("Standing"), 10)))])
    index = {line.key: i for i, line in enumerate(wanted)}
    for school, name, state, standing_lines in compliance.teacher_rows(compliance.Scope(org)):
        cells: list = [None, ""] * len(wanted)
        for key, counted, line_state in standing_lines:
            if key in index:
                cells[2 * index[key]], cells[2 * index[key] + 1] = counted, _status_text(line_state)
        teachers.row([school, name, _status_text(state), *cells])
    filename = ascii_filename(f"yanxun-compliance-{org.code}-{date.today().isoformat()}.xlsx")
    return Response(book.save(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

