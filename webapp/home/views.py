"""The role-aware home page."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from webapp.home import bp
from webapp.security import current_roles
from webapp.services import overview


@bp.route("/")
@login_required
def index():
    return render_template("home/index.html", overview=overview.build(current_user, current_roles()))
