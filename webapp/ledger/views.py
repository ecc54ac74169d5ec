"""我的学时 (a teacher's credit ledger and progress, as of any day) and the school's teachers below their
minimums, with a CSV download of that list."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.labels import ENTRY_SOURCE_LABELS
from webapp.ledger import bp
from webapp.models import CreditEntry, Org, OrgType, Role, RuleSet
from webapp.security import current_roles, require_role
from webapp.services import certificates, ledger
from webapp.services.rules import FIXED_PERIODS, Period, Rules
from webapp.services.spreadsheet import safe_cell

#: Roles that may see a school's list; an officer sees the schools at or below where the role is held.
SCHOOL_ROLES = (Role.SCHOOL_OFFICER, Role.PRINCIPAL, Role.COUNTY_OFFICER, Role.ADMIN)
#: Dates outside this range are refused (the period calendar needs a real year either side).
EARLIEST, LATEST = date(1950, 1, 1), date(2099, 12, 31)

PERIOD_KIND_LABELS = {"semester": _l("Semester"), "school_year": _l("School year"), "month": _l("Month"),
                      "week": _l("Week"), "first_year": _l("New-teacher year")}
STATUS_LABELS = {"met": _l("Met"), "not_met": _l("Not met"), "no_minimum": _l("No minimum")}
MEASURE_LABELS = {"hours": _l("hours"), "credits": _l("credits")}


def amount(value: float | None) -> str:
    """12.0 → ``12``, 3.6 → ``3.6``; None → an empty string."""
    if value is None:
        return ""
    return f"{round(float(value), 2):g}"


def period_kind_label(kind: str) -> str:
    return str(PERIOD_KIND_LABELS.get(kind, _l("Training cycle")))


def line_name(line: ledger.Line) -> str:
    return _("Total") if line.category is None else line.name


def _quantity(value: float | None, line: ledger.Line) -> str:
    return _("%(n)s %(unit)s", n=amount(value), unit=MEASURE_LABELS[line.measure])


def minimum_text(line: ledger.Line) -> str:
    """The minimum in words: "72 学时", "多于 10 学分", and for "more than 0" (every year must have some):
    "须有学分，多少不限", never "超过 0 学分"."""
    if not line.exclusive:
        return _quantity(line.minimum, line)
    if not line.minimum:
        return _("some %(unit)s, however few", unit=MEASURE_LABELS[line.measure])
    return _("more than %(quantity)s", quantity=_quantity(line.minimum, line))


def shortfall_text(line: ledger.Line) -> str:
    """What is still missing of a line below its minimum: "30 学时"; for an exclusive minimum already reached
    exactly, "本期还没有学分" (minimum 0) or "合计须多于 10 学分", never "若干"."""
    if line.remaining:
        return _quantity(line.remaining, line)
    if not line.minimum:
        return _("no %(unit)s in this period yet", unit=MEASURE_LABELS[line.measure])
    return _("more than %(quantity)s in all", quantity=_quantity(line.minimum, line))


@bp.context_processor
def _helpers() -> dict:
    return {"amount": amount, "period_kind_label": period_kind_label, "line_name": line_name,
            "minimum_text": minimum_text, "shortfall_text": shortfall_text, "status_labels": STATUS_LABELS,
            "measure_labels": MEASURE_LABELS, "source_labels": ENTRY_SOURCE_LABELS,
            "format_code": certificates.format_code}


def _as_of() -> tuple[date, str | None]:
    """The ``on`` argument (YYYY-MM-DD), else today; an invalid one gives today and a message."""
    raw = request.args.get("on", "").strip()
    today = date.today()
    if not raw:
        return today, None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return today, _("“%(value)s” is not a date (YYYY-MM-DD); showing today instead.", value=raw[:40])
    if not EARLIEST <= day <= LATEST:
        return today, _("Choose a date between %(start)s and %(end)s; showing today instead.",
                        start=EARLIEST.isoformat(), end=LATEST.isoformat())
    return day, None


# -- 我的学时 --------------------------------------------------------------------------------------------


class _Names:
    """Category and item names of the rule set versions entries were posted under (compiled once each)."""

    def __init__(self) -> None:
        self._rules: dict[int, Rules] = {}

    def _of(self, rule_set: RuleSet) -> Rules:
        if rule_set.id not in self._rules:
            self._rules[rule_set.id] = Rules(rule_set)
        return self._rules[rule_set.id]

    def category(self, entry: CreditEntry) -> str:
        return self._of(entry.rule_set).category_name(entry.category)

    def item(self, entry: CreditEntry) -> str:
        if not entry.item_code:
            return ""
        spec = self._of(entry.rule_set).items.get(entry.item_code)
        return spec["name"] if spec else entry.item_code


@bp.route("/")
@login_required
def mine():
    day, date_error = _as_of()
    standing = ledger.progress(current_user, day)
    show_all = request.args.get("all") == "1"
    since = None if show_all or not standing.periods else min(p.period.start for p in standing.periods)
    query = (sa.select(CreditEntry).options(joinedload(CreditEntry.rule_set), joinedload(CreditEntry.reverses))
             .where(CreditEntry.user_id == current_user.id, CreditEntry.earned_on <= day))
    if since is not None:
        query = query.where(CreditEntry.earned_on >= since)
    page = db.paginate(query.order_by(CreditEntry.earned_on.desc(), CreditEntry.id.desc()),
                       per_page=current_app.config["YANXUN"]["PAGE_SIZE"], error_out=False)
    return render_template("ledger/mine.html", standing=standing, day=day, today=date.today(),
                           date_error=date_error, page=page, reversed=ledger.reversed_ids(page.items),
                           names=_Names(), since=since, show_all=show_all,
                           offers=certificates.offers(current_user, standing),
                           issued=certificates.issued_to(current_user, limit=10))


# -- the school's teachers below their minimums -----------------------------------------------------------


def _scope_roots() -> list[Org] | None:
    """Where the user may look: the organisations at which they hold a school role; None for an admin."""
    held = current_roles()
    if any(h.role == Role.ADMIN for h in held):
        return None
    roots: dict[int, Org] = {}
    for h in held:
        if h.role in SCHOOL_ROLES:
            roots.setdefault(h.org.id, h.org)
    return list(roots.values())


def _in_scope(org: Org, roots: list[Org] | None) -> bool:
    return roots is None or any(org.path.startswith(root.path) for root in roots)


def _schools(roots: list[Org] | None) -> list[Org]:
    """The active schools the user may choose from, by code."""
    query = sa.select(Org).where(Org.type == OrgType.SCHOOL, Org.active.is_(True))
    if roots is not None:
        if not roots:
            return []
        query = query.where(sa.or_(*(Org.path.startswith(root.path, autoescape=True) for root in roots)))
    return list(db.session.scalars(query.order_by(Org.path, Org.code).limit(2000)))


def _chosen_school(roots: list[Org] | None, schools: list[Org]) -> Org | None:
    """``?school=<id>`` (403 outside the user's scope, 404 when no such school), else the first in scope."""
    raw = request.args.get("school", "").strip()
    if not raw:
        return schools[0] if schools else None
    if not raw.isdigit():
        abort(404)
    school = db.session.get(Org, int(raw))
    if school is None or school.type != OrgType.SCHOOL:
        abort(404)
    if not _in_scope(school, roots):
        abort(403)
    return school


@dataclass(frozen=True)
class Row:
    """One teacher below a minimum: what is missing, in the periods the filter keeps."""

    shortfall: ledger.TeacherShortfall
    missing: list[tuple[Period, ledger.Line]]

    @property
    def user(self):
        return self.shortfall.user

    @property
    def size(self) -> float:
        """How far behind: the sum of what remains on the missing lines (a line with an exclusive minimum
        of 0 and nothing counted remains 0 but still counts as missing)."""
        return sum(line.remaining or 0 for _, line in self.missing)


def _shortfalls(school: Org, day: date, kind: str | None) -> tuple[list[Row], list[str]]:
    """The rows, largest shortfall first, and every period kind seen (for the filter)."""
    rows, kinds = [], []
    for shortfall in ledger.below_minimum(school, day):
        for period in shortfall.progress.periods:
            if period.period.kind not in kinds:
                kinds.append(period.period.kind)
        missing = [(p, line) for p, line in shortfall.missing if kind is None or p.kind == kind]
        if missing:
            rows.append(Row(shortfall, missing))
    rows.sort(key=lambda r: (-r.size, -len(r.missing), r.user.display_name, r.user.id))
    order = {k: i for i, k in enumerate(FIXED_PERIODS)}
    kinds.sort(key=lambda k: (order.get(k, len(order)), k))
    return rows, kinds


def _school_context() -> dict:
    roots = _scope_roots()
    schools = _schools(roots)
    school = _chosen_school(roots, schools)
    day, date_error = _as_of()
    kind = request.args.get("period", "").strip() or None
    rows, kinds = _shortfalls(school, day, kind) if school is not None else ([], [])
    if kind is not None and kind not in kinds:
        kinds.append(kind)
    return {"schools": schools, "school": school, "day": day, "date_error": date_error, "kind": kind,
            "kinds": kinds, "rows": rows}


@bp.route("/school")
@require_role(*SCHOOL_ROLES)
def school():
    return render_template("ledger/school.html", today=date.today(), **_school_context())


@bp.route("/school.csv")
@require_role(*SCHOOL_ROLES)
def school_csv():
    context = _school_context()
    school = context["school"]
    if school is None:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("Login name"), _("Full name"), _("Organisation"), _("Training period"), _("Period key"),
                     _("Category"), _("Unit"), _("Counted"), _("Minimum"), _("Remaining")])
    for row in context["rows"]:
        for period, line in row.missing:
            # Numbers where the rule is a number, so that a spreadsheet can add them up; words where it is not.
            minimum = minimum_text(line) if line.exclusive else amount(line.minimum)
            remaining = amount(line.remaining) if line.remaining else shortfall_text(line)
            writer.writerow([safe_cell(row.user.login), safe_cell(row.user.display_name),
                             safe_cell(row.user.org.name if row.user.org else ""),
                             safe_cell(f"{period_kind_label(period.kind)} {period.name}"), period.key,
                             safe_cell(line_name(line)), MEASURE_LABELS.get(line.measure, line.measure),
                             amount(line.counted), minimum, remaining])
    filename = f"yanxun-below-minimum-{school.code}-{context['day'].isoformat()}.csv"
    # A byte-order mark, so that spreadsheet programs read the Chinese text as UTF-8.
    return Response(("\ufeff" + out.getvalue()).encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{ascii_filename(filename)}"'})


def ascii_filename(name: str) -> str:
    """A download's file name safe in a Content-Disposition header (letters, digits, - _ . only)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
