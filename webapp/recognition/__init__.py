from flask import Blueprint

bp = Blueprint("recognition", __name__, url_prefix="/recognition")

from webapp.recognition import views  # noqa: E402, F401  (routes attach to bp)
