"""Administration: organisations, users, role assignments, delegations, CSV import."""

from __future__ import annotations

from flask import render_template

from webapp.admin import bp
from webapp.models import Role
from webapp.security import require_role


@bp.route("/")
@require_role(Role.ADMIN)
def index():
    return render_template("admin/index.html")


@bp.route("/orgs")
@require_role(Role.ADMIN)
def orgs():
    return render_template("admin/index.html")


@bp.route("/users")
@require_role(Role.ADMIN)
def users():
    return render_template("admin/index.html")


@bp.route("/assignments")
@require_role(Role.ADMIN)
def assignments():
    return render_template("admin/index.html")


@bp.route("/delegations")
@require_role(Role.ADMIN)
def delegations():
    return render_template("admin/index.html")
