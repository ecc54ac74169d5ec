"""CSV import of organisations and users: upload pages, templates, the per-row report, rejected rows."""

from __future__ import annotations

from functools import partial

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from forms.admin import ImportForm
from webapp import background
from webapp.admin import bp
from webapp.admin.common import ListPagination
from webapp.extensions import db
from webapp.labels import (
    BACKBONE_LABELS,
    EMPLOYMENT_LABELS,
    ORG_TYPE_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    TIER_LABELS,
)
from webapp.models import AuditEvent, ImportJob, ImportJobStatus, Role
from webapp.models.base import utcnow
from webapp.security import require_role
from webapp.services import imports as import_service
from webapp.services.errors import ServiceError

#: Rows of an import report per page.
REPORT_ROWS_PER_PAGE = 100
CODE_LISTS = {"type": ORG_TYPE_LABELS, "stage": STAGE_LABELS, "backbone_level": BACKBONE_LABELS,
              "training_tier": TIER_LABELS, "employment_type": EMPLOYMENT_LABELS, "roles": ROLE_LABELS}


def _kind(name: str) -> import_service.ImportKind:
    kind = import_service.KINDS.get(name)
    if kind is None:
        abort(404)
    return kind


def _report(event_id: int) -> AuditEvent:
    event = db.get_or_404(AuditEvent, event_id)
    if event.object_type != "import" or not event.after:
        abort(404)
    return event


def _csv_response(text: str, filename: str) -> Response:
    return Response(text.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/import")
@require_role(Role.ADMIN)
def imports():
    return render_template("admin/imports.html", recent=import_service.recent_imports(),
                           running=import_service.unfinished_jobs())


@bp.route("/import/<kind_name>", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def import_upload(kind_name: str):
    kind = _kind(kind_name)
    settings = current_app.config["YANXUN"]
    form = ImportForm()
    if form.validate_on_submit():
        upload: FileStorage = form.file.data
        data = upload.stream.read(settings["CSV_IMPORT_MAX_BYTES"] + 1)
        try:
            job = import_service.queue(kind.name, data, filename=upload.filename or "upload.csv", actor=current_user,
                                       max_bytes=settings["CSV_IMPORT_MAX_BYTES"], locale=str(get_locale()),
                                       password_min_length=settings["PASSWORD_MIN_LENGTH"], ip=request.remote_addr)
        except ServiceError as error:
            db.session.rollback()
            form.add_error("file", error.message)
        else:
            db.session.commit()
            response = redirect(url_for("admin.import_job", job_id=job.id))
            # Once the response is out: to a worker with Redis, else right here in this process.
            response.call_on_close(partial(background.enqueue, current_app._get_current_object(),
                                           background.RUN_IMPORT, job_id=job.id))
            return response
    return render_template("admin/import_upload.html", form=form, kind=kind, code_lists=CODE_LISTS,
                           max_bytes=settings["CSV_IMPORT_MAX_BYTES"])


@bp.route("/import/<kind_name>/template.csv")
@require_role(Role.ADMIN)
def import_template(kind_name: str):
    kind = _kind(kind_name)
    return _csv_response(import_service.template_csv(kind.name), f"yanxun-{kind.name}-template.csv")


@bp.route("/import/jobs/<int:job_id>")
@require_role(Role.ADMIN)
def import_job(job_id: int):
    """An import on its way: progress while it runs (the page polls itself), the report once it is done."""
    job = db.get_or_404(ImportJob, job_id)
    polling = request.headers.get("HX-Request") == "true"
    if job.status is ImportJobStatus.DONE and job.event is not None:
        report = job.event.after
        flash(_("Import finished: %(created)d created, %(rejected)d rejected.", created=report["created"],
                rejected=report["rejected"]), "warning" if report["rejected"] else "success")
        target = url_for("admin.import_result", event_id=job.event_id)
        if polling:
            return Response(status=204, headers={"HX-Redirect": target})
        return redirect(target)
    stalled = job.status is ImportJobStatus.RUNNING and job.updated_at < utcnow() - import_service.STALE_AFTER
    return render_template("admin/_import_progress.html" if polling else "admin/import_job.html", job=job,
                           stalled=stalled)


@bp.route("/import/results/<int:event_id>")
@require_role(Role.ADMIN)
def import_result(event_id: int):
    """The report: rejected rows first (all of them, when there are any), 100 rows a page."""
    event = _report(event_id)
    report = event.after
    show = request.args.get("show") or ("rejected" if report["rejected"] else "all")
    if show not in ("rejected", "all"):
        show = "all"
    rows = [row for row in report["rows"] if show == "all" or row["status"] == "rejected"]
    page = ListPagination(page=request.args.get("page", 1, type=int), per_page=REPORT_ROWS_PER_PAGE,
                          max_per_page=REPORT_ROWS_PER_PAGE, error_out=False, items=rows)
    return render_template("admin/import_result.html", event=event, report=report, page=page, show=show)


@bp.route("/import/results/<int:event_id>/rejected.csv")
@require_role(Role.ADMIN)
def import_rejected(event_id: int):
    event = _report(event_id)
    filename = f"yanxun-{event.after['kind']}-rejected-{event.id}.csv"
    return _csv_response(import_service.rejected_csv(event.after), filename)
