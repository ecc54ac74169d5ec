from flask import Blueprint

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

from webapp.ledger import overview, views  # noqa: E402, F401  (routes attach to bp)
