"""Error pages (HTML, or JSON for API clients) that say in the user's language what went wrong."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.extensions import db
from webapp.services import instances


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood. Please go back and try again.")),
        403: (_("Not allowed"), _("You do not have permission to see this page or do this action.")),
        404: (_("Not found"), _("The page you asked for does not exist or has been removed.")),
        405: (_("Not allowed"), _("This address does not accept that kind of request.")),
        409: (_("Conflict"), _("Someone else changed this at the same time. Reload the page and try again.")),
        413: (_("File too large"), _("The uploaded file is larger than allowed.")),
        429: (_("Too many attempts"), _("Too many attempts. Please wait a few minutes and try again.")),
        500: (_("Something went wrong"), _("An unexpected error occurred. Nothing was saved; please try again.")),
        503: (_("Busy"), _("YanXun is busy with other work right now. Nothing was saved; please try again in a "
                           "moment.")),
    }


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json")


def render_error(code: int, detail: str | None = None):
    title, message = _messages().get(code, (str(code), ""))
    if _wants_json():
        return jsonify({"error": {"code": code, "title": title, "message": detail or message}}), code
    return render_template("errors/error.html", code=code, title=title, message=detail or message), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return render_error(400, _("This form has expired or was not sent from YanXun. Reload the page and "
                                   "submit it again; nothing was saved."))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        return render_error(error.code or 500, error.description if error.code not in _messages() else None)

    @app.errorhandler(instances.ActionFailed)
    def _step_failed(failure: instances.ActionFailed):
        """A process step failed (a script's error, a spent budget): nothing of it is kept; the instance gets
        an incident for the administrators, and one that ran out of its budget stops until they act."""
        db.session.rollback()
        app.logger.warning("step %s of instance %s failed: %s", failure.action, failure.instance_id, failure.error)
        instances.record_incident(failure)
        db.session.commit()
        return render_error(500, _("This step of the process could not be carried out, so nothing was saved. "
                                   "The administrators have been told what went wrong in the process."))

    @app.errorhandler(sa.exc.OperationalError)
    def _database(error: sa.exc.OperationalError):
        db.session.rollback()
        if "database is locked" in str(error.orig):  # SQLite: another writer held the lock past the busy timeout
            app.logger.warning("database busy on %s %s", request.method, request.path)
            return render_error(503)
        app.logger.exception("database error on %s %s", request.method, request.path)
        return render_error(500)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)
