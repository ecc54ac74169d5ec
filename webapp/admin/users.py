"""Users: list and search, create and edit (with teacher attributes), password reset, deactivate."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from forms.admin import ConfirmForm, NewUserForm, PasswordResetForm, UserForm
from webapp.admin import bp, common
from webapp.extensions import db
from webapp.models import ROLE_CODES, Delegation, Org, OrgType, Role, RoleAssignment, User
from webapp.security import current_session, require_role
from webapp.services import audit
from webapp.services import orgs as org_service
from webapp.services import users as user_service
from webapp.services.errors import ServiceError

ACTIVE_FILTERS = {"1": True, "0": False}


def _snapshot(user: User) -> dict:
    subgroup = user_service.primary_subgroup(user)
    return {**audit.snapshot(user, user_service.PROFILE_FIELDS),
            "primary_subgroup_id": subgroup.id if subgroup else None}


def _subgroup_choices(org: Org | None, keep: Org | None = None) -> list[tuple[object, str]]:
    """The subgroups below ``org``, each named with its school when ``org`` is not that school (two schools may
    each have a 一年级组)."""

    def label(subgroup: Org) -> str:
        if subgroup.parent is None or (org is not None and subgroup.parent_id == org.id):
            return subgroup.name
        return f"{subgroup.name} · {subgroup.parent.name}"

    choices: list[tuple[object, str]] = [("", _("— none —"))]
    if org is not None:
        subgroups = db.session.scalars(
            sa.select(Org).where(Org.type == OrgType.SUBGROUP, Org.active.is_(True),
                                 Org.path.startswith(org.path, autoescape=True)).order_by(Org.path, Org.code))
        choices += [(s.id, label(s)) for s in subgroups]
    if keep is not None and all(value != keep.id for value, _label in choices):
        choices.append((keep.id, label(keep)))
    return choices


def _prepare(form: UserForm, user: User | None = None) -> None:
    form.org.choices = common.org_choices(blank=_("— none —"), exclude_types=[OrgType.SUBGROUP],
                                          keep=user.org if user else None, selected=form.org.data)
    form.stage.choices = common.stage_choices()
    form.backbone_level.choices = common.backbone_choices()
    form.training_tier.choices = common.tier_choices()
    form.employment_type.choices = common.employment_choices()
    org = db.session.get(Org, form.org.data) if form.org.data else None
    form.subgroup.choices = _subgroup_choices(org, keep=user_service.primary_subgroup(user) if user else None)
    form.org.render_kw = {"hx-get": url_for("admin.subgroup_options"), "hx-target": f"#{form.subgroup.id}",
                          "hx-trigger": "change"}


def _profile(form: UserForm, user: User | None) -> tuple[dict, Org | None]:
    """The profile values of the form, and the primary subgroup; adds errors for a wrong org or subgroup."""
    org = db.session.get(Org, form.org.data) if form.org.data else None
    if org is not None and not org.active and (user is None or org.id != user.org_id):
        form.add_error("org", _("This organisation is deactivated; choose an active one."))
    subgroup = db.session.get(Org, form.subgroup.data) if form.subgroup.data else None
    if subgroup is not None and (org is None or not org_service.is_within(subgroup, org)):
        form.add_error("subgroup", _("The subgroup must belong to the user's organisation."))
    profile = {"display_name": form.display_name.data, "phone": form.phone.data or None,
               "email": form.email.data or None, "org": org, "subject": form.subject.data or None,
               "stage": form.stage.data or None, "title": form.title.data or None, "hire_date": form.hire_date.data,
               "is_class_teacher": form.is_class_teacher.data, "backbone_level": form.backbone_level.data or None,
               "training_tier": form.training_tier.data or None, "employment_type": form.employment_type.data or None}
    return profile, subgroup


def _set_subgroup(user: User, subgroup: Org | None) -> None:
    if subgroup is None:
        user_service.clear_primary_subgroup(user)
    elif subgroup != user_service.primary_subgroup(user):
        user_service.set_primary_subgroup(user, subgroup)


@bp.route("/users")
@require_role(Role.ADMIN)
def users():
    text = request.args.get("q", "").strip()
    org = common.org_from_arg()
    role = request.args.get("role", "")
    role = role if role in ROLE_CODES else ""
    active = request.args.get("active", "")
    query = user_service.search_users(text=text or None, org=org, role=role or None,
                                      active=ACTIVE_FILTERS.get(active)).options(selectinload(User.org))
    page = db.paginate(query, per_page=common.page_size(), error_out=False)
    org_options = common.org_choices(blank=_("All organisations"), exclude_types=[OrgType.SUBGROUP], keep=org)
    return render_template("admin/users.html", page=page, q=text, org=org, role=role, active=active,
                           org_options=org_options, role_options=common.role_choices(_("Any role")))


@bp.route("/users/subgroup-options")
@require_role(Role.ADMIN)
def subgroup_options():
    """The options of the primary-subgroup select for the organisation chosen (HTMX swaps them in)."""
    org = common.org_from_arg()
    return render_template("admin/_options.html", choices=_subgroup_choices(org))


@bp.route("/users/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def user_new():
    form = NewUserForm()
    if request.method == "GET" and request.args.get("org", type=int):
        form.org.data = request.args.get("org", type=int)
    _prepare(form)
    if form.validate_on_submit():
        profile, subgroup = _profile(form, None)
        try:
            user_service.check_password_strength(form.password.data,
                                                 current_app.config["YANXUN"]["PASSWORD_MIN_LENGTH"])
        except ServiceError as error:
            form.add_error(error.field, error.message)
        if not form.errors:
            try:
                user = user_service.create_user(login=form.login.data, password=form.password.data, **profile)
                _set_subgroup(user, subgroup)
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                common.record("user.create", user, after=_snapshot(user))
                db.session.commit()
                flash(_("User %(name)s created. Give them their login name and initial password.",
                        name=user.display_name), "success")
                return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>")
@require_role(Role.ADMIN)
def user_detail(user_id: int):
    user = db.get_or_404(User, user_id)
    assignments = db.session.scalars(
        sa.select(RoleAssignment).options(selectinload(RoleAssignment.org))
        .where(RoleAssignment.user_id == user.id)
        .order_by(RoleAssignment.active.desc(), RoleAssignment.role, RoleAssignment.id)).all()
    delegations = db.session.scalars(
        sa.select(Delegation).options(selectinload(Delegation.from_user), selectinload(Delegation.to_user))
        .where(sa.or_(Delegation.from_user_id == user.id, Delegation.to_user_id == user.id))
        .order_by(Delegation.valid_from.desc(), Delegation.id.desc())).all()
    return render_template("admin/user_detail.html", user=user, assignments=assignments, delegations=delegations,
                           confirm=ConfirmForm())


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def user_edit(user_id: int):
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=user)
    if request.method == "GET":
        subgroup = user_service.primary_subgroup(user)
        form.org.data, form.subgroup.data = user.org_id, subgroup.id if subgroup else None
    _prepare(form, user)
    if form.validate_on_submit():
        profile, subgroup = _profile(form, user)
        if not form.errors:
            before = _snapshot(user)
            try:
                user_service.update_user(user, login=form.login.data, actor=current_user._get_current_object(),
                                         **profile)
                _set_subgroup(user, subgroup)
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                common.record("user.update", user, before=before, after=_snapshot(user))
                db.session.commit()
                flash(_("User %(name)s saved.", name=user.display_name), "success")
                return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/user_form.html", form=form, user=user)


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def user_password(user_id: int):
    user = db.get_or_404(User, user_id)
    form = PasswordResetForm()
    if form.validate_on_submit():
        try:
            user_service.check_password_strength(form.password.data,
                                                 current_app.config["YANXUN"]["PASSWORD_MIN_LENGTH"])
        except ServiceError as error:
            form.add_error(error.field, error.message)
        else:
            ended = user_service.set_password(user, form.password.data, actor=current_user._get_current_object(),
                                              ip=request.remote_addr,
                                              keep_session=current_session() if user.id == current_user.id else None)
            common.record("user.password_reset", user, after=ended)
            db.session.commit()
            flash(_("The password of %(name)s has been reset, their sessions have been logged out and their API "
                    "tokens revoked. Give them the new password.", name=user.display_name), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/user_password.html", form=form, user=user)


@bp.route("/users/<int:user_id>/deactivate", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def user_deactivate(user_id: int):
    user = db.get_or_404(User, user_id)
    if user.id == current_user.id:
        flash(_("You cannot deactivate your own account."), "danger")
        return redirect(url_for("admin.user_detail", user_id=user.id))
    form = ConfirmForm()
    if form.validate_on_submit():
        before = _snapshot(user)
        try:
            user_service.set_user_active(user, False, actor=current_user._get_current_object())
        except ServiceError as error:
            db.session.rollback()
            flash(str(error), "danger")
            return redirect(url_for("admin.user_detail", user_id=user.id))
        common.record("user.deactivate", user, before=before, after=_snapshot(user))
        db.session.commit()
        flash(_("User %(name)s deactivated.", name=user.display_name), "success")
        return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template(
        "admin/confirm.html", form=form, title=_("Deactivate %(name)s?", name=user.display_name),
        message=_("The person can no longer log in and is no longer found as a role holder or substitute. Their "
                  "history, roles and delegations are kept; you can reactivate the account later."),
        button=_("Deactivate"), cancel_url=url_for("admin.user_detail", user_id=user.id))


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
@require_role(Role.ADMIN)
def user_activate(user_id: int):
    user = db.get_or_404(User, user_id)
    if ConfirmForm().validate_on_submit():
        before = _snapshot(user)
        user_service.set_user_active(user, True)
        common.record("user.activate", user, before=before, after=_snapshot(user))
        db.session.commit()
        flash(_("User %(name)s reactivated.", name=user.display_name), "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))
