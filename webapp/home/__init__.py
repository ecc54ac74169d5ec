from flask import Blueprint

bp = Blueprint("home", __name__)

from webapp.home import views  # noqa: E402, F401  (routes attach to bp)
