from flask import Blueprint

bp = Blueprint("ledger", __name__, url_prefix="/ledger")
#: The public verification of certificates: no log-in.
verify_bp = Blueprint("verify", __name__, url_prefix="/verify")

from webapp.ledger import certificates, corrections, overview, verify, views  # noqa: E402, F401  (routes attach to the blueprints)
