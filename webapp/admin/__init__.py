"""Administration (role ``admin``; county and bureau officers may read the rubrics): organisations, users, role
assignments, delegations, CSV import, rubrics, audit."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from webapp.admin import (  # noqa: E402, F401  (routes attach to bp)
    assignments,
    delegations,
    imports,
    incidents,
    instances,
    orgs,
    rubrics,
    users,
    views,
)
