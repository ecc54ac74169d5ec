"""JSON errors: one shape for every failure, and the mapping of service and engine errors to HTTP statuses.

Every error body is ``{"error": {"code": <HTTP status>, "message": "..."}}`` plus, where it applies,
``fields`` (field → messages, for validation), ``field``, ``problems`` (a deploy report) or
``incident_id``. HTTP errors raised outside the views (unknown path, wrong method, upload too large)
come from :mod:`webapp.errors`, which answers ``/api/`` paths in the same shape.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError

from webapp.api import bp
from webapp.extensions import db
from webapp.services.definitions import DeployRejected
from webapp.services.errors import Conflict, FormRejected, NotAllowed, NotFound, ServiceError
from webapp.services.instances import ActionFailed, record_incident

_STATUS: tuple[tuple[type[ServiceError], int], ...] = (
    (NotFound, 404), (NotAllowed, 403), (Conflict, 409), (FormRejected, 422))


def error_response(status: int, message: object, **extra: Any) -> Response:
    response = jsonify({"error": {"code": status, "message": str(message), **extra}})
    response.status_code = status
    return response


def problem_json(problem: Any) -> dict[str, Any]:
    return {"code": problem.code, "message": problem.message, "file": problem.file, "line": problem.line,
            "element_id": problem.element_id, "element_name": problem.element_name, "severity": problem.severity}


def rejected_report(report: Any) -> Response:
    """422 with every problem of a deploy report (errors and warnings), for the whole upload at once."""
    count = len(report.errors)
    if count:
        message = _("The upload has %(n)d problem(s) to fix; nothing was deployed.", n=count)
    else:
        message = _("The upload contains no executable process; nothing was deployed.")
    return error_response(422, message, problems=[problem_json(p) for p in report.problems])


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    db.session.rollback()
    status = next((code for cls, code in _STATUS if isinstance(error, cls)), 400)
    extra: dict[str, Any] = {}
    if isinstance(error, FormRejected):
        extra["fields"] = error.errors
    elif error.field:
        extra.update(field=error.field, fields={error.field: [str(error)]})
    return error_response(status, error, **extra)


@bp.errorhandler(CSRFError)
def _csrf(error: CSRFError) -> Response:
    return error_response(400, _("Requests with the session cookie that change something must send the page's "
                                 "CSRF token in the X-CSRFToken header (or use an API token); nothing was saved."))


@bp.errorhandler(DeployRejected)
def _deploy_rejected(error: DeployRejected) -> Response:
    db.session.rollback()
    return rejected_report(error.report)


@bp.errorhandler(StaleDataError)
def _stale(error: StaleDataError) -> Response:
    db.session.rollback()
    return error_response(409, _("Someone else changed this at the same time. Reload it and try again."))


@bp.errorhandler(ActionFailed)
def _action_failed(failure: ActionFailed) -> Response:
    """Roll the action back, keep the real error as an incident, and say what it was."""
    db.session.rollback()
    incident = record_incident(failure)
    db.session.commit()
    error = failure.error
    current_app.logger.warning("workflow action %s failed on instance %s: %s", failure.action, failure.instance_id,
                               error)
    details = {"engine_code": error.code, "bpmn_id": error.bpmn_id, "task_name": error.task_name}
    if incident is None:  # nothing to attach it to: the instance was never created
        return error_response(422, _("The process could not be started: %(error)s", error=str(error)), **details)
    return error_response(500, _("The process could not continue; nothing was changed. The error was kept for an "
                                 "administrator (incident %(id)d): %(error)s", id=incident.id, error=str(error)),
                          incident_id=incident.id, **details)
