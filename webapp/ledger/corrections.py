"""更正: an officer over a teacher reverses an entry of their ledger, or corrects its hours, from the teacher's
page of the compliance overview."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from webapp.extensions import db
from webapp.ledger import bp
from webapp.models import CreditEntry
from webapp.security import current_roles, require_role
from webapp.services import corrections
from webapp.services.errors import ServiceError


@bp.route("/entries/<int:entry_id>/correct", methods=["POST"])
@require_role(*corrections.CORRECTORS)
def correct(entry_id: int):
    entry = db.session.get(CreditEntry, entry_id)
    if entry is None:
        abort(404)
    if not corrections.may_correct(current_user, entry.user, current_roles()):
        abort(403)
    back = url_for("ledger.overview_teacher", user_id=entry.user_id, on=request.form.get("on") or None)
    raw = (request.form.get("hours") or "").strip()
    try:
        hours = float(raw) if raw else None
    except ValueError:
        flash(_("Give the corrected hours as a number, or leave the field empty to reverse the entry."), "danger")
        return redirect(back)
    try:
        done = corrections.correct(entry, current_user, request.form.get("reason", ""), hours=hours,
                                   held=current_roles())
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(back)
    db.session.commit()
    if done.replacement is not None:
        message = _("The entry was reversed and posted again with %(hours)s hours.",
                    hours=f"{done.replacement.hours:g}")
    else:
        message = _("The entry was reversed.")
    if done.recounted:
        message += " " + ngettext("%(num)d entry that a cap had cut now counts more.",
                                  "%(num)d entries that a cap had cut now count more.", len(done.recounted))
    flash(message, "success")
    return redirect(back)
