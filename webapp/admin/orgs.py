"""Organisations: the tree, search, create, edit and move, deactivate and reactivate."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from forms.admin import ConfirmForm, OrgForm
from webapp.admin import bp
from webapp.admin.common import (
    org_choices,
    org_from_arg,
    org_search_choices,
    page_size,
    record,
    stage_choices,
    type_choices,
)
from webapp.extensions import db
from webapp.models import ALLOWED_PARENTS, Org, OrgType, Role, RoleAssignment, User
from webapp.security import require_role
from webapp.services import audit
from webapp.services import orgs as org_service
from webapp.services.errors import ServiceError

#: Types nothing may sit under, so they are never offered as a parent.
LEAF_TYPES = {t for t in OrgType if not any(t in parents for parents in ALLOWED_PARENTS.values())}


def _snapshot(org: Org) -> dict:
    return audit.snapshot(org, org_service.SNAPSHOT_FIELDS)


def _prepare(form: OrgForm, org: Org | None = None) -> None:
    form.type.choices = type_choices()
    form.stage.choices = stage_choices()
    form.parent.choices = org_choices(blank=_("— none (top level) —"), exclude_types=LEAF_TYPES,
                                      exclude_below=org, keep=org.parent if org else None, selected=form.parent.data)


def _parent(form: OrgForm) -> Org | None:
    """The chosen parent (None for the top level); adds an error to the form when it is deactivated."""
    parent = db.session.get(Org, form.parent.data) if form.parent.data else None
    if parent is not None and not parent.active:
        form.add_error("parent", _("The parent organisation is deactivated; choose an active one."))
    return parent


def _values(form: OrgForm) -> dict:
    return {"code": form.code.data, "name": form.name.data, "type": form.type.data, "stage": form.stage.data or None,
            "kind": form.kind.data or None, "valid_from": form.valid_from.data, "valid_to": form.valid_to.data}


@bp.route("/orgs")
@require_role(Role.ADMIN)
def orgs():
    text = request.args.get("q", "").strip()
    if text:
        page = db.paginate(org_service.search(text), per_page=page_size(), error_out=False)
        return render_template("admin/orgs.html", q=text, page=page,
                               ancestors=org_service.ancestors_of(page.items))
    if org_service.count() > ORG_TREE_LIMIT:  # a city: the top levels now, each branch when it is opened
        roots = org_service.children_of(None)
        level_one = {root.id: org_service.children_of(root) for root in roots}
        counts = org_service.child_counts([*roots, *(org for orgs in level_one.values() for org in orgs)])
        return render_template("admin/orgs.html", q="", lazy=True, roots=roots, level_one=level_one, counts=counts)
    return render_template("admin/orgs.html", q="", roots=org_service.tree(), expand=request.args.get("expand") == "1")


@bp.route("/orgs/<int:org_id>/branch")
@require_role(Role.ADMIN)
def org_branch(org_id: int):
    """The direct children of an organisation, as tree items (a branch of the lazy tree, opened)."""
    children = org_service.children_of(db.get_or_404(Org, org_id))
    return render_template("admin/_org_branch.html", children=children, counts=org_service.child_counts(children))


#: Up to this many organisations the tree page shows them all; beyond, branches load when opened.
ORG_TREE_LIMIT = 500


@bp.route("/orgs/options")
@require_role(Role.ADMIN)
def org_options():
    """Matches for an organisation select too long to list in full (the search box above it swaps them in)."""
    types = {t.value for t in OrgType}
    excluded = [OrgType(code) for code in request.args.get("exclude", "").split(",") if code in types]
    choices = org_search_choices(request.args.get("org_q", "").strip()[:100], blank=request.args.get("blank"),
                                 exclude_types=excluded, exclude_below=org_from_arg("below"))
    return render_template("admin/_options.html", choices=choices)


@bp.route("/orgs/new", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def org_new():
    form = OrgForm()
    _prepare(form)
    if request.method == "GET" and request.args.get("parent", type=int):
        form.parent.data = request.args.get("parent", type=int)
    if form.validate_on_submit():
        parent = _parent(form)
        if not form.errors:
            try:
                org = org_service.create_org(parent=parent, **_values(form))
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                record("org.create", org, after=_snapshot(org))
                db.session.commit()
                flash(_("Organisation %(name)s created.", name=org.name), "success")
                return redirect(url_for("admin.org_detail", org_id=org.id))
    return render_template("admin/org_form.html", form=form, org=None)


@bp.route("/orgs/<int:org_id>")
@require_role(Role.ADMIN)
def org_detail(org_id: int):
    org = db.get_or_404(Org, org_id)
    holders = db.session.scalars(
        sa.select(RoleAssignment).options(selectinload(RoleAssignment.user))
        .where(RoleAssignment.org_id == org.id, RoleAssignment.active.is_(True))
        .order_by(RoleAssignment.role, RoleAssignment.id)).all()
    people = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.org_id.in_(org_service.descendant_ids(org)))) or 0
    can_have_children = any(org.type in parents for parents in ALLOWED_PARENTS.values())
    return render_template("admin/org_detail.html", org=org, ancestors=org_service.ancestors_of([org])[org.id],
                           holders=holders, people=people, can_have_children=can_have_children,
                           confirm=ConfirmForm())


@bp.route("/orgs/<int:org_id>/edit", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def org_edit(org_id: int):
    org = db.get_or_404(Org, org_id)
    form = OrgForm(obj=org)
    if request.method == "GET":
        form.parent.data, form.type.data = org.parent_id, org.type.value
        form.stage.data = org.stage.value if org.stage else ""
    _prepare(form, org)
    if form.validate_on_submit():
        parent = _parent(form) if form.parent.data != org.parent_id else org.parent
        if not form.errors:
            before = _snapshot(org)
            try:
                org_service.update_org(org, parent=parent, **_values(form))
            except ServiceError as error:
                db.session.rollback()
                form.add_error(error.field, error.message)
            else:
                record("org.update", org, before=before, after=_snapshot(org))
                db.session.commit()
                flash(_("Organisation %(name)s saved.", name=org.name), "success")
                return redirect(url_for("admin.org_detail", org_id=org.id))
    return render_template("admin/org_form.html", form=form, org=org)


@bp.route("/orgs/<int:org_id>/deactivate", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def org_deactivate(org_id: int):
    org = db.get_or_404(Org, org_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        before = _snapshot(org)
        try:
            org_service.set_org_active(org, False)
        except ServiceError as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            record("org.deactivate", org, before=before, after=_snapshot(org))
            db.session.commit()
            flash(_("Organisation %(name)s deactivated.", name=org.name), "success")
        return redirect(url_for("admin.org_detail", org_id=org.id))
    return render_template(
        "admin/confirm.html", form=form, title=_("Deactivate %(name)s?", name=org.name),
        message=_("A deactivated organisation keeps its history, but nobody holds a role there any more and no "
                  "new users or sub-organisations can be put under it. You can reactivate it later."),
        button=_("Deactivate"), cancel_url=url_for("admin.org_detail", org_id=org.id))


@bp.route("/orgs/<int:org_id>/activate", methods=["POST"])
@require_role(Role.ADMIN)
def org_activate(org_id: int):
    org = db.get_or_404(Org, org_id)
    if ConfirmForm().validate_on_submit():
        if org.parent is not None and not org.parent.active:
            flash(_("Reactivate the parent organisation %(name)s first.", name=org.parent.name), "danger")
        else:
            before = _snapshot(org)
            org_service.set_org_active(org, True)
            record("org.activate", org, before=before, after=_snapshot(org))
            db.session.commit()
            flash(_("Organisation %(name)s reactivated.", name=org.name), "success")
    return redirect(url_for("admin.org_detail", org_id=org.id))
