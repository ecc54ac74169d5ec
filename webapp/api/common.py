"""Request helpers shared by the API views: the caller, the JSON body, paging and query arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import request
from flask_babel import gettext as _
from flask_login import current_user

from webapp.extensions import db
from webapp.models import Role, User
from webapp.security import current_roles
from webapp.services.errors import FormRejected, ServiceError

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def api_user() -> User:
    """The authenticated caller (a real ``User``, not the proxy: services keep references to it)."""
    return current_user._get_current_object()


def holds_any(*roles: Role) -> bool:
    return any(held.role in roles for held in current_roles())


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ServiceError(_("Send a JSON object as the request body (Content-Type: application/json)."))
    return data


def invalid(fields: dict[str, list[str]]) -> FormRejected:
    return FormRejected(_("Some fields need your attention."), fields)


def _int_arg(name: str, default: int, errors: dict[str, list[str]]) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        errors[name] = [_("Give a whole number of 1 or more.")]
        return default
    return int(raw)


def bool_arg(name: str, errors: dict[str, list[str]]) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    errors[name] = [_("Give true or false.")]
    return False


def page_args(errors: dict[str, list[str]]) -> tuple[int, int]:
    page = _int_arg("page", 1, errors)
    per_page = min(_int_arg("per_page", DEFAULT_PER_PAGE, errors), MAX_PER_PAGE)
    return page, per_page


def paginated(query: sa.Select, page: int, per_page: int, serialise: Callable[[Any], dict[str, Any]], *,
              extra: Callable[[list[Any]], Callable[[Any], dict[str, Any]]] | None = None) -> dict:
    """One page of ``query``; ``extra(items)``, when given, returns what to add to each item's fields (read for the
    whole page at once)."""
    result = db.paginate(query, page=page, per_page=per_page, max_per_page=MAX_PER_PAGE, error_out=False)
    more = extra(result.items) if extra is not None else (lambda _item: {})
    return {"items": [{**serialise(item), **more(item)} for item in result.items], "total": result.total,
            "page": result.page,
            "per_page": result.per_page, "pages": result.pages}
