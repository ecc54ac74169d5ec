"""JSON API v1 under ``/api/v1``: definitions, instances, tasks, API tokens and my substitutes, with an OpenAPI
document.

Callers authenticate with ``Authorization: Bearer <token>`` (a per-user API token) or the log-in session
cookie; cookie requests that change something must send the CSRF token in ``X-CSRFToken``. See
``docs/api.md``.
"""

from flask import Blueprint

from webapp.extensions import csrf

#: ``cli_group`` puts the blueprint's commands under ``flask tokens ...``.
bp = Blueprint("api", __name__, url_prefix="/api/v1", cli_group="tokens")
csrf.exempt(bp)  # checked in auth.authenticate for cookie requests only: token requests carry no CSRF token

from webapp.api import (  # noqa: E402, F401  (attach to bp)
    auth,
    campaigns,
    definitions,
    errors,
    instances,
    openapi,
    substitutes,
    task_actions,
    tasks,
    tokens,
)
