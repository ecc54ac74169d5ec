"""Per-user API tokens: create (from a browser session, shown once), list, revoke; and ``flask tokens``."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import jsonify, request
from flask_babel import gettext as _

from webapp.api import bp
from webapp.api import serializers as out
from webapp.api.auth import token_authenticated
from webapp.api.common import api_user, invalid, json_body
from webapp.extensions import db
from webapp.models import ApiToken
from webapp.services.api_tokens import NAME_MAX_LENGTH, issue, revoke
from webapp.services.errors import NotAllowed, NotFound
from webapp.services.users import find_by_login


@bp.post("/tokens")
def create_token():
    if token_authenticated():
        raise NotAllowed(_("Create API tokens while logged in with a browser session, not with another token."))
    name = json_body().get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid({"name": [_("Give the token a name, e.g. the script that will use it.")]})
    if len(name.strip()) > NAME_MAX_LENGTH:
        raise invalid({"name": [_("A name can have at most %(n)d characters.", n=NAME_MAX_LENGTH)]})
    token, plain = issue(api_user(), name.strip(), request.remote_addr)
    db.session.commit()
    return jsonify({**out.token(token), "token": plain}), 201


@bp.get("/tokens")
def list_tokens():
    tokens = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == api_user().id)
                                .order_by(ApiToken.id.desc()))
    return jsonify({"items": [out.token(token) for token in tokens]})


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int):
    user = api_user()
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(_("This API token does not exist."))
    revoke(token, user, request.remote_addr)
    db.session.commit()
    return jsonify(out.token(token))


@bp.cli.command("create")
@click.argument("login")
@click.option("--name", required=True, help="What the token is for, e.g. the script that uses it.")
def create_token_command(login: str, name: str) -> None:
    """Create an API token for the user LOGIN and print it (it is shown only this once)."""
    user = find_by_login(login)
    if user is None or not user.active:
        raise click.ClickException(f"No active user has the login {login!r}.")
    if not name.strip() or len(name.strip()) > NAME_MAX_LENGTH:
        raise click.ClickException(f"Give a name of 1 to {NAME_MAX_LENGTH} characters.")
    token, plain = issue(user, name.strip())
    db.session.commit()
    click.echo(f"API token {token.id} ({token.name}) for {user.login}; store it now, it is not shown again:", err=True)
    click.echo(plain)


@bp.cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_token_command(token_id: int) -> None:
    """Revoke the API token with id TOKEN_ID (see the audit trail or GET /api/v1/tokens for ids)."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException(f"There is no API token {token_id}.")
    revoke(token, None)
    db.session.commit()
    click.echo(f"API token {token_id} ({token.name}) revoked.")
