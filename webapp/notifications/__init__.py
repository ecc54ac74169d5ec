from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/notifications", cli_group="notifications")

from webapp.notifications import views  # noqa: E402, F401  (routes attach to bp)
