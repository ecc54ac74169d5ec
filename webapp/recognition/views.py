"""年度学时认定 (yearly recognition): a county officer closes an ended school year of their county; the report
per school is kept as it was, and corrections recorded afterwards are listed as such."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import db
from webapp.ledger.views import MEASURE_LABELS, amount, ascii_filename, period_kind_label
from webapp.models import Org, OrgType, RecognitionBatch, Role
from webapp.recognition import bp
from webapp.security import current_roles, require_role
from webapp.services import recognition
from webapp.services.errors import ServiceError
from webapp.services.spreadsheet import AMOUNT, INTEGER, Column, Xlsx

#: Who sees the batches: those who may close them, and the bureau.
VIEWERS = (Role.COUNTY_OFFICER, Role.BUREAU_OFFICER, Role.ADMIN)


def _visible_orgs() -> list[Org]:
    """Organisations whose batches the user sees: those they may close, and for bureau officers every county
    at or below where they hold the role."""
    held = current_roles()
    orgs = {o.id: o for o in recognition.closable_orgs(current_user, held)}
    for h in held:
        if h.role == Role.BUREAU_OFFICER:
            orgs.setdefault(h.org.id, h.org)
            for county in recognition.counties_below(h.org):
                orgs.setdefault(county.id, county)
    return sorted(orgs.values(), key=lambda o: o.path)


@bp.route("/")
@require_role(*VIEWERS)
def index():
    held = current_roles()
    closable = recognition.closable_orgs(current_user, held)
    chosen = None
    raw = request.args.get("org", "").strip()
    if raw.isdigit():
        chosen = next((o for o in closable if o.id == int(raw)), None)
    chosen = chosen or (closable[0] if closable else None)
    years = recognition.closable_years(chosen) if chosen else []
    visible = _visible_orgs()
    # the last ended school year not yet closed, per county in view (a bureau sees who is behind)
    pending = [(county, open_years[0]) for county in visible if county.type == OrgType.COUNTY
               for open_years in [recognition.closable_years(county)] if open_years]
    return render_template("recognition/index.html", batches=recognition.batches(visible),
                           closable=closable, chosen=chosen, years=years, pending=pending)


@bp.route("/close", methods=["POST"])
@require_role(*recognition.CLOSERS)
def close():
    raw = request.form.get("org", "")
    org = db.session.get(Org, int(raw)) if raw.isdigit() else None
    if org is None:
        abort(404)
    if request.form.get("confirm") != "1":
        flash(_("Tick the box to confirm that the school year is to be closed."), "warning")
        return redirect(url_for("recognition.index", org=org.id))
    try:
        batch = recognition.close_year(org, request.form.get("school_year", ""), current_user, current_roles())
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(url_for("recognition.index", org=org.id))
    db.session.commit()
    flash(_("The school year %(year)s of %(org)s is closed: %(teachers)d teachers in %(schools)d schools.",
            year=batch.school_year.replace("-", "–"), org=org.name, teachers=batch.teachers,
            schools=batch.schools), "success")
    return redirect(url_for("recognition.batch", batch_id=batch.id))


def _visible_batch(batch_id: int) -> RecognitionBatch:
    found = db.session.get(RecognitionBatch, batch_id)
    if found is None:
        abort(404)
    if found.org_id not in {o.id for o in _visible_orgs()}:
        abort(403)
    return found


@bp.route("/<int:batch_id>.xlsx")
@require_role(*VIEWERS)
def batch_xlsx(batch_id: int):
    """The report per school as a workbook: one row per school, met / not met per requirement, hours by category."""
    found = _visible_batch(batch_id)
    report = found.report
    book = Xlsx()
    columns = [Column(_("School"), 36), Column(_("Teachers"), 10, INTEGER),
               Column(_("Met every requirement"), 14, INTEGER)]
    for r in report["requirements"]:
        name = f"{period_kind_label(r['period_kind'])} · {r['line']}"
        columns += [Column(_("%(requirement)s: met", requirement=name), 16, INTEGER),
                    Column(_("%(requirement)s: not met", requirement=name), 16, INTEGER)]
    columns += [Column(_("%(category)s (hours)", category=c["name"]), 14, AMOUNT) for c in report["categories"]]
    sheet = book.sheet(_("School year %(year)s", year=found.school_year.replace("-", "–")), columns)

    def row(name: str, values: dict) -> list:
        cells: list = [name, values["teachers"], values["met_all"]]
        for r in report["requirements"]:
            cells += values["requirements"].get(r["key"], [0, 0])
        cells += [values["hours"].get(c["code"], [0, 0])[0] for c in report["categories"]]
        return cells

    for school in report["schools"]:
        sheet.row(row(school["name"], school))
    sheet.row(row(_("Total"), report["totals"]))
    filename = ascii_filename(f"yanxun-recognition-{found.org.code}-{found.school_year}.xlsx")
    return Response(book.save(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/<int:batch_id>")
@require_role(*VIEWERS)
def batch(batch_id: int):
    found = _visible_batch(batch_id)
    return render_template("recognition/batch.html", batch=found, report=found.report,
                           late=recognition.late_entries(found), amount=amount, measure_labels=MEASURE_LABELS,
                           period_kind_label=period_kind_label)
