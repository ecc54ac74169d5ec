"""Role assignments: who holds which role at which organisation, from when to when."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from forms.admin import AssignmentForm, ConfirmForm
from webapp.admin import bp
from webapp.admin.common import org_choices, org_from_arg, page_size, record, role_choices, user_label
from webapp.extensions import db
from webapp.labels import ROLE_LABELS
from webapp.models import ROLE_CODES, Org, Role, RoleAssignment, User
from webapp.security import require_role
from webapp.services import audit
from webapp.services import users as user_service
from webapp.services.errors import ServiceError


def _snapshot(assignment: RoleAssignment) -> dict:
    return audit.snapshot(assignment, user_service.ASSIGNMENT_FIELDS)


def _prepare(form: AssignmentForm, assignment: RoleAssignment | None = None) -> None:
    form.role.choices = role_choices(_("— choose —"))
    form.org.choices = org_choices(blank=_("— choose —"), keep=assignment.org if assignment else None,
                                   selected=form.org.data)


def _user(form: AssignmentForm) -> User | None:
    user = user_service.find_by_login(form.user.data)
    if user is None:
        form.add_error("user", _("Nobody has the login name %(login)s.", login=form.user.data))
    elif not user.active:
        form.add_error("user", _("The account of %(name)s is deactivated; reactivate it first.",
                                 name=user.display_name))
    return user


@bp.route("/assignments")
@require_role(Role.ADMIN)
def assignments():
    text = request.args.get("q", "").strip()
    org = org_from_arg()
    role = request.args.get("role", "")
    role = role if role in ROLE_CODES else ""
    include_ended = request.args.get("ended") == "1"
    query = user_service.assignment_query(role=role or None, org=org, text=text or None,
                                          include_ended=include_ended)
    query = query.options(selectinload(RoleAssignment.user), selectinload(RoleAssignment.org))
    page = db.paginate(query, per_page=page_size(), error_out=False)
    return render_template("admin/assignments.html", page=page, q=text, org=org, role=role,
                           include_ended=include_ended, org_options=org_choices(blank=_("All organisations"), keep=org),
                           role_options=role_choices(_("Any role")))


@bp.route("/assignments/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def assignment_new():
    form = AssignmentForm()
    if request.method == "GET":
        form.user.data = request.args.get("user", "")
        form.org.data = request.args.get("org", type=int)
        form.role.data = request.args.get("role", "")
    _prepare(form)
    if form.validate_on_submit():
        user = _user(form)
        org = db.session.get(Org, form.org.data)
        if user is not None and org is not None and not form.errors:
            try:
                user_service.check_assignment(user, form.role.data, org, valid_from=form.valid_from.data,
                                              valid_to=form.valid_to.data)
                assignment = user_service.assign_role(user, form.role.data, org, valid_from=form.valid_from.data,
                                                      valid_to=form.valid_to.data)
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                record("role.assign", assignment, after=_snapshot(assignment))
                db.session.commit()
                flash(_("%(name)s is now %(role)s at %(org)s.", name=user.display_name,
                        role=ROLE_LABELS[assignment.role], org=org.name), "success")
                return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/assignment_form.html", form=form, assignment=None)


@bp.route("/assignments/<int:assignment_id>/edit", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def assignment_edit(assignment_id: int):
    assignment = db.get_or_404(RoleAssignment, assignment_id)
    form = AssignmentForm(obj=assignment)
    if request.method == "GET":
        form.role.data, form.org.data = assignment.role.value, assignment.org_id
    form.user.data = assignment.user.login  # the holder is fixed; end the assignment to give the role to another
    _prepare(form, assignment)
    if form.validate_on_submit():
        org = db.session.get(Org, form.org.data)
        if org is not None:
            before = _snapshot(assignment)
            try:
                user_service.check_assignment(assignment.user, form.role.data, org, valid_from=form.valid_from.data,
                                              valid_to=form.valid_to.data, exclude=assignment)
                user_service.update_assignment(assignment, role=form.role.data, org=org,
                                               valid_from=form.valid_from.data, valid_to=form.valid_to.data,
                                               actor=current_user._get_current_object())
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                record("role.update", assignment, before=before, after=_snapshot(assignment))
                db.session.commit()
                flash(_("Role assignment of %(name)s saved.", name=assignment.user.display_name), "success")
                return redirect(url_for("admin.user_detail", user_id=assignment.user_id))
    return render_template("admin/assignment_form.html", form=form, assignment=assignment,
                           holder=user_label(assignment.user))


@bp.route("/assignments/<int:assignment_id>/end", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def assignment_end(assignment_id: int):
    assignment = db.get_or_404(RoleAssignment, assignment_id)
    back = url_for("admin.user_detail", user_id=assignment.user_id)
    if not assignment.active:
        flash(_("This role assignment has already ended."), "info")
        return redirect(back)
    form = ConfirmForm()
    if form.validate_on_submit():
        before = _snapshot(assignment)
        try:
            user_service.end_assignment(assignment, actor=current_user._get_current_object())
        except ServiceError as error:
            db.session.rollback()
            flash(str(error), "danger")
            return redirect(back)
        record("role.end", assignment, before=before, after=_snapshot(assignment))
        db.session.commit()
        flash(_("Role assignment of %(name)s ended.", name=assignment.user.display_name), "success")
        return redirect(back)
    return render_template(
        "admin/confirm.html", form=form,
        title=_("End the role %(role)s of %(name)s at %(org)s?", role=ROLE_LABELS[assignment.role],
                name=assignment.user.display_name, org=assignment.org.name),
        message=_("The assignment ends now and stays in the history; the person no longer acts in this role "
                  "here."),
        button=_("End assignment"), cancel_url=back)
