"""Delegations: a substitute acts for a person who is away, in one role or all of them, for a period."""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from forms.admin import ConfirmForm, DelegationForm
from webapp.admin import bp
from webapp.admin.common import page_size, role_choices, user_label
from webapp.extensions import db
from webapp.models import Delegation, Role, User
from webapp.security import require_role
from webapp.services import delegations as delegation_service
from webapp.services import users as user_service
from webapp.services.errors import ServiceError

WHEN = ("current", "future", "past", "all")


def _person(form: DelegationForm, name: str) -> User | None:
    login = getattr(form, name).data
    user = user_service.find_by_login(login)
    if user is None:
        form.add_error(name, _("Nobody has the login name %(login)s.", login=login))
    return user


@bp.route("/delegations")
@require_role(Role.ADMIN)
def delegations():
    when = request.args.get("when", "current")
    when = when if when in WHEN else "current"
    text = request.args.get("q", "").strip()
    query = user_service.delegation_query(when=when, text=text or None).options(
        selectinload(Delegation.from_user), selectinload(Delegation.to_user))
    page = db.paginate(query, per_page=page_size(), error_out=False)
    return render_template("admin/delegations.html", page=page, when=when, q=text)


@bp.route("/delegations/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def delegation_new():
    form = DelegationForm()
    form.role.choices = role_choices(_("All roles of the person"))
    if request.method == "GET":
        form.from_user.data = request.args.get("from_user", "")
    if form.validate_on_submit():
        from_user, to_user = _person(form, "from_user"), _person(form, "to_user")
        if from_user is not None and to_user is not None:
            try:
                delegation = delegation_service.create(
                    from_user, to_user, role=form.role.data or None, valid_from=form.valid_from.data,
                    valid_to=form.valid_to.data, reason=form.reason.data,
                    actor=current_user._get_current_object(), ip=request.remote_addr)
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                db.session.commit()
                flash(_("%(substitute)s substitutes for %(absent)s from %(start)s to %(end)s.",
                        substitute=to_user.display_name, absent=from_user.display_name,
                        start=format_date(delegation.valid_from), end=format_date(delegation.valid_to)), "success")
                return redirect(url_for("admin.delegations",
                                        when=delegation_service.status(delegation, date.today())))
    return render_template("admin/delegation_form.html", form=form, delegation=None)


@bp.route("/delegations/<int:delegation_id>/edit", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def delegation_edit(delegation_id: int):
    delegation = db.get_or_404(Delegation, delegation_id)
    back = url_for("admin.user_detail", user_id=delegation.from_user_id)
    if not delegation.active:
        flash(_("A revoked delegation cannot be changed; create a new one."), "info")
        return redirect(back)
    form = DelegationForm(obj=delegation)
    form.role.choices = role_choices(_("All roles of the person"))
    if request.method == "GET":
        form.to_user.data = delegation.to_user.login
        form.role.data = delegation.role.value if delegation.role else ""
    form.from_user.data = delegation.from_user.login  # whose delegation it is does not change
    if form.validate_on_submit():
        to_user = _person(form, "to_user")
        if to_user is not None:
            try:
                delegation_service.update(delegation, to_user=to_user, role=form.role.data or None,
                                          valid_from=form.valid_from.data, valid_to=form.valid_to.data,
                                          reason=form.reason.data, actor=current_user._get_current_object(),
                                          ip=request.remote_addr)
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                db.session.commit()
                flash(_("Delegation saved."), "success")
                return redirect(back)
    return render_template("admin/delegation_form.html", form=form, delegation=delegation,
                           holder=user_label(delegation.from_user))


@bp.route("/delegations/<int:delegation_id>/revoke", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def delegation_revoke(delegation_id: int):
    delegation = db.get_or_404(Delegation, delegation_id)
    back = url_for("admin.user_detail", user_id=delegation.from_user_id)
    if not delegation.active:
        flash(_("This delegation has already been revoked."), "info")
        return redirect(back)
    form = ConfirmForm()
    if form.validate_on_submit():
        delegation_service.revoke(delegation, actor=current_user._get_current_object(), ip=request.remote_addr)
        db.session.commit()
        flash(_("Delegation revoked."), "success")
        return redirect(back)
    return render_template(
        "admin/confirm.html", form=form,
        title=_("Revoke the delegation from %(absent)s to %(substitute)s?",
                absent=delegation.from_user.display_name, substitute=delegation.to_user.display_name),
        message=_("The substitute stops acting for the person at once. The delegation stays in the history."),
        button=_("Revoke"), cancel_url=back)
