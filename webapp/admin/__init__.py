"""Administration (role ``admin`` only): organisations, users, role assignments, delegations, CSV import, audit."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from webapp.admin import assignments, delegations, imports, incidents, instances, orgs, users, views  # noqa: E402, F401  (routes attach to bp)
