"""Incidents: actions on process instances that failed, with the real error; retry what can run again."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from forms.admin import ConfirmForm
from webapp.admin import bp
from webapp.admin.common import page_size
from webapp.extensions import db
from webapp.models import Incident, ProcessInstance, Role
from webapp.security import require_role
from webapp.services import instances
from webapp.services import service_jobs as service_job_service
from webapp.services.errors import ServiceError

STATES = ("open", "resolved")


@bp.route("/incidents")
@require_role(Role.ADMIN)
def incidents():
    state = request.args.get("state", "open")
    if state not in STATES:
        state = "open"
    query = service_job_service.open_incidents() if state == "open" else service_job_service.resolved_incidents()
    query = query.options(selectinload(Incident.instance).selectinload(ProcessInstance.subject_org),
                          selectinload(Incident.resolved_by))
    page = db.paginate(query, per_page=page_size(), error_out=False)
    jobs = service_job_service.jobs_for(page.items)
    return render_template("admin/incidents.html", page=page, state=state, jobs=jobs, form=ConfirmForm(),
                           retryable={i.id: service_job_service.can_retry(i, jobs.get(i.id)) for i in page.items},
                           open_count=db.session.scalar(sa.select(sa.func.count()).select_from(
                               service_job_service.open_incidents().subquery())))


def _back() -> str:
    return url_for("admin.incidents", state="open")


@bp.route("/incidents/<int:incident_id>/retry", methods=["POST"])
@require_role(Role.ADMIN)
def incident_retry(incident_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        job = service_job_service.retry_incident(incident_id, current_user._get_current_object())
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "warning")
        return redirect(_back())
    except instances.ActionFailed as failure:
        db.session.rollback()
        incident = instances.record_incident(failure)
        db.session.commit()
        flash(_("The retry failed as well (incident %(id)s): %(error)s", id=incident.id if incident else "-",
                error=failure.error), "danger")
        return redirect(_back())
    if job is not None:
        flash(_("The service task is queued again; a worker runs it shortly."), "success")
    else:
        flash(_("The instance runs again; its due timers fire on the next tick."), "success")
    return redirect(_back())


@bp.route("/incidents/<int:incident_id>/resolve", methods=["POST"])
@require_role(Role.ADMIN)
def incident_resolve(incident_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service_job_service.resolve_incident(incident_id, current_user._get_current_object())
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "warning")
        return redirect(_back())
    flash(_("Incident marked as resolved."), "success")
    return redirect(_back())
