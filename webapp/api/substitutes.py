"""My substitutes (代理人) over the API: whom I name while away and for whom I stand in; name one, revoke one.

The rules are the page's (``webapp.services.delegations.check_own``); a refusal is a 400 naming its ``field``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import jsonify, request
from flask_babel import gettext as _

from webapp.api import bp
from webapp.api.common import api_user, invalid, json_body
from webapp.api.serializers import user_ref, when
from webapp.extensions import db
from webapp.models import Delegation, User
from webapp.services import delegations as delegation_service
from webapp.services.errors import ServiceError
from webapp.services.users import find_by_login


def _delegation(item: Delegation, today: date) -> dict[str, Any]:
    return {"id": item.id, "from_user": user_ref(item.from_user), "to_user": user_ref(item.to_user),
            "role": item.role.value if item.role else None, "valid_from": when(item.valid_from),
            "valid_to": when(item.valid_to), "reason": item.reason,
            "status": delegation_service.status(item, today),
            "self_service": delegation_service.is_self_service(item), "created_at": when(item.created_at),
            "revoked_at": when(item.revoked_at)}


def _day(body: dict[str, Any], name: str, errors: dict[str, list[str]]) -> date | None:
    try:
        return date.fromisoformat(body.get(name))
    except (TypeError, ValueError):
        errors[name] = [_("Give the day as YYYY-MM-DD, e.g. 2025-09-01.")]
        return None


def _substitute(target: Any, errors: dict[str, list[str]]) -> User | None:
    if isinstance(target, int) and not isinstance(target, bool):
        return db.session.get(User, target)
    if isinstance(target, str) and target.strip():
        return find_by_login(target)
    errors["to_user"] = [_("Say who substitutes for you: their user id or login.")]
    return None


@bp.get("/me/substitutes")
def list_substitutes():
    user, today = api_user(), date.today()
    mine = delegation_service.of_user(user, today)
    return jsonify({
        "given": [_delegation(d, today) for d in mine.given],
        "received": [_delegation(d, today) for d in mine.received],
        "given_past": [_delegation(d, today) for d in mine.given_past],
        "received_past": [_delegation(d, today) for d in mine.received_past],
        "roles": [role.value for role in delegation_service.delegable_roles(user, today)],
        "max_days": delegation_service.max_days(),
    })


@bp.post("/me/substitutes")
def create_substitute():
    user, body, errors = api_user(), json_body(), {}
    to_user = _substitute(body.get("to_user"), errors)
    valid_from, valid_to = _day(body, "valid_from", errors), _day(body, "valid_to", errors)
    role, reason = body.get("role"), body.get("reason")
    if role is not None and not isinstance(role, str):
        errors["role"] = [_("Give one role code, or null for all your roles.")]
    if reason is not None and not isinstance(reason, str):
        errors["reason"] = [_("Give the reason as text.")]
    if errors:
        raise invalid(errors)
    if to_user is None:
        raise ServiceError(_("There is no such user."), field="to_user")
    delegation = delegation_service.create_own(user, to_user, role=role, valid_from=valid_from, valid_to=valid_to,
                                               reason=reason, ip=request.remote_addr)
    db.session.commit()
    return jsonify(_delegation(delegation, date.today())), 201


@bp.post("/me/substitutes/<int:delegation_id>/revoke")
def revoke_substitute(delegation_id: int):
    delegation = delegation_service.revoke_own(api_user(), delegation_id, ip=request.remote_addr)
    db.session.commit()
    return jsonify(_delegation(delegation, date.today()))
