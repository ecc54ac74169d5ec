"""My substitutes (我的代理人): whom I name while I am away, and for whom I stand in. Every user, every role."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required

from forms.substitutes import SubstituteForm
from webapp.auth import bp
from webapp.extensions import db
from webapp.labels import ROLE_LABELS
from webapp.models import Role, User
from webapp.services import delegations as delegation_service
from webapp.services.errors import Conflict, NotFound, ServiceError


def _colleague_label(user: User) -> str:
    """A colleague by name and where they work (two colleagues may share a name; a login is not words)."""
    return f"{user.display_name} · {user.org.name}" if user.org is not None else user.display_name


def _fill_choices(form: SubstituteForm, roles: list[Role], colleagues: list[User], today: date) -> None:
    form.to_user.choices = [("", _("Choose a colleague")), *((user.id, _colleague_label(user)) for user in colleagues)]
    form.role.choices = [("", _("All my roles")), *((role.value, str(ROLE_LABELS[role])) for role in roles)]
    for name in ("valid_from", "valid_to"):
        getattr(form, name).render_kw = {"min": today.isoformat()}


@bp.route("/substitutes", methods=["GET", "POST"])
@login_required
def substitutes():
    user = current_user._get_current_object()
    today = date.today()
    roles = delegation_service.delegable_roles(user, today)
    colleagues = delegation_service.substitute_choices(user, today=today)
    form = SubstituteForm()
    _fill_choices(form, roles, colleagues, today)
    if request.method == "GET":
        form.valid_from.data = today
    if form.validate_on_submit():
        to_user = db.session.get(User, form.to_user.data) if form.to_user.data else None
        if to_user is None:
            form.add_error("to_user", _("Choose your substitute."))
        else:
            try:
                delegation = delegation_service.create_own(
                    user, to_user, role=form.role.data, valid_from=form.valid_from.data,
                    valid_to=form.valid_to.data, reason=form.reason.data, ip=request.remote_addr)
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                db.session.commit()
                flash(_("%(name)s substitutes for you from %(start)s to %(end)s and has been told.",
                        name=to_user.display_name, start=format_date(delegation.valid_from),
                        end=format_date(delegation.valid_to)), "success")
                return redirect(url_for("auth.substitutes"))
    return render_template("auth/substitutes.html", form=form, mine=delegation_service.of_user(user, today),
                           roles=roles, colleagues=colleagues, today=today,
                           admin=delegation_service.holds_admin(user, today, None),
                           reviews=any(role is not Role.TEACHER for role in roles),
                           status=delegation_service.status, self_service=delegation_service.is_self_service)


@bp.route("/substitutes/<int:delegation_id>/revoke", methods=["POST"])
@login_required
def revoke_substitute(delegation_id: int):
    try:
        delegation = delegation_service.revoke_own(current_user._get_current_object(), delegation_id,
                                                   ip=request.remote_addr)
    except NotFound:
        abort(404)
    except Conflict as error:
        db.session.rollback()
        flash(str(error), "info")
        return redirect(url_for("auth.substitutes"))
    db.session.commit()
    flash(_("%(name)s no longer substitutes for you.", name=delegation.to_user.display_name), "success")
    return redirect(url_for("auth.substitutes"))
