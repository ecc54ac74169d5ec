"""研修活动: the county's campaigns over schools (launch, board, extend, close), generic for every process that
has a campaign spec."""

from flask import Blueprint

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

from webapp.campaigns import views  # noqa: E402, F401  (routes attach to bp)
