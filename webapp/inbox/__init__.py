from flask import Blueprint

bp = Blueprint("inbox", __name__, url_prefix="/inbox")

from webapp.inbox import actions, views  # noqa: E402, F401  (routes attach to bp)
