"""The role-aware home page."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from webapp.audit_words import in_words
from webapp.home import bp
from webapp.security import current_roles
from webapp.services import overview


@bp.route("/")
@login_required
def index():
    built = overview.build(current_user, current_roles())
    return render_template("home/index.html", overview=built, recent=in_words(built.recent_events))
