"""CSV import of organisations and users: upload pages, templates, the per-row report, rejected rows."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from forms.admin import ImportForm
from webapp.admin import bp
from webapp.extensions import db
from webapp.labels import BACKBONE_LABELS, ORG_TYPE_LABELS, ROLE_LABELS, STAGE_LABELS
from webapp.models import AuditEvent, Role
from webapp.security import require_role
from webapp.services import imports as import_service
from webapp.services.errors import ServiceError

CODE_LISTS = {"type": ORG_TYPE_LABELS, "stage": STAGE_LABELS, "backbone_level": BACKBONE_LABELS,
              "roles": ROLE_LABELS}


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
    return render_template("admin/imports.html", recent=import_service.recent_imports())


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
            report = import_service.run(kind.name, data, filename=upload.filename or "upload.csv", actor=current_user,
                                        max_bytes=settings["CSV_IMPORT_MAX_BYTES"],
                                        password_min_length=settings["PASSWORD_MIN_LENGTH"], ip=request.remote_addr)
        except ServiceError as error:
            db.session.rollback()
            form.add_error("file", error.message)
        else:
            db.session.commit()
            category = "warning" if report.rejected else "success"
            flash(_("Import finished: %(created)d created, %(rejected)d rejected.", created=report.created,
                    rejected=report.rejected), category)
            return redirect(url_for("admin.import_result", event_id=report.event.id))
    return render_template("admin/import_upload.html", form=form, kind=kind, code_lists=CODE_LISTS,
                           max_bytes=settings["CSV_IMPORT_MAX_BYTES"])


@bp.route("/import/<kind_name>/template.csv")
@require_role(Role.ADMIN)
def import_template(kind_name: str):
    kind = _kind(kind_name)
    return _csv_response(import_service.template_csv(kind.name), f"yanxun-{kind.name}-template.csv")


@bp.route("/import/results/<int:event_id>")
@require_role(Role.ADMIN)
def import_result(event_id: int):
    event = _report(event_id)
    return render_template("admin/import_result.html", event=event, report=event.after)


@bp.route("/import/results/<int:event_id>/rejected.csv")
@require_role(Role.ADMIN)
def import_rejected(event_id: int):
    event = _report(event_id)
    filename = f"yanxun-{event.after['kind']}-rejected-{event.id}.csv"
    return _csv_response(import_service.rejected_csv(event.after), filename)
