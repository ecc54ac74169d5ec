from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from webapp.auth import substitutes, views  # noqa: E402, F401  (routes attach to bp)
