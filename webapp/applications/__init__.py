from flask import Blueprint

bp = Blueprint("applications", __name__, url_prefix="/applications")

from webapp.applications import views  # noqa: E402, F401  (routes attach to bp)
