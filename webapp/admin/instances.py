"""An administrator suspends, resumes or cancels a process instance, or decides on a protected process version."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from forms.admin import NoteForm, ReasonForm
from webapp.admin import bp
from webapp.extensions import db
from webapp.models import ProcessDefinition, Role
from webapp.security import require_role
from webapp.services import definitions, instance_admin
from webapp.services.errors import FormRejected, ServiceError

_DONE = {
    "suspend": lambda: _("The process is paused."),
    "resume": lambda: _("The process runs again."),
    "cancel": lambda: _("The process is cancelled."),
}


@bp.route("/instances/<int:instance_id>/<any(suspend, resume, cancel):action>", methods=["POST"])
@require_role(Role.ADMIN)
def instance_action(instance_id: int, action: str):
    form = ReasonForm()
    back = redirect(url_for("inbox.instance", instance_id=instance_id))
    if not form.validate_on_submit():
        flash(_("Give the reason (at most 500 characters)."), "warning")
        return back
    try:
        instance_admin.ACTIONS[action](instance_id, current_user._get_current_object(), form.reason.data)
        db.session.commit()
    except FormRejected as rejected:
        db.session.rollback()
        flash(" ".join(message for messages in rejected.errors.values() for message in messages), "warning")
        return back
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "warning")
        return back
    flash(_DONE[action](), "success")
    return back


@bp.route("/definitions/pending")
@require_role(Role.ADMIN)
def pending_definitions():
    return render_template("admin/pending_definitions.html", items=definitions.pending(), form=NoteForm())


@bp.route("/definitions/<int:definition_id>/<any(approve, refuse):decision>", methods=["POST"])
@require_role(Role.ADMIN)
def definition_decision(definition_id: int, decision: str):
    definition = db.session.get(ProcessDefinition, definition_id)
    if definition is None:
        abort(404)
    form = NoteForm()
    back = redirect(url_for("admin.pending_definitions"))
    if not form.validate_on_submit():
        flash(_("The note may have at most 500 characters."), "warning")
        return back
    try:
        definitions.review(definition, current_user._get_current_object(), approve=decision == "approve",
                           note=form.note.data or "")
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "warning")
        return back
    if decision == "approve":
        flash(_("Version %(version)d of %(name)s is live.", version=definition.version, name=definition.name),
              "success")
    else:
        flash(_("Version %(version)d of %(name)s was refused.", version=definition.version, name=definition.name),
              "success")
    return back
