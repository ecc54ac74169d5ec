"""Command-line tools."""

import sqlalchemy as sa

from webapp.models import Org, Role, User
from webapp.services import roles


def test_create_admin_with_new_top_organisation(app, db):
    result = app.test_cli_runner().invoke(args=[
        "create-admin", "--login", "chief", "--name", "管理员", "--org-code", "NEWCITY", "--org-name", "新城市",
        "--password", "Str0ng-pass"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.login == "chief"))
    assert roles.has_role(user, Role.ADMIN)
    assert db.session.scalar(sa.select(Org).where(Org.code == "NEWCITY")).parent_id is None


def test_create_admin_rejects_weak_password_and_unknown_org(app, db):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["create-admin", "--login", "chief", "--name", "x", "--org-code", "NEWCITY",
                               "--org-name", "新城市", "--password", "short"])
    assert weak.exit_code != 0
    unknown = runner.invoke(args=["create-admin", "--login", "chief", "--name", "x", "--org-code", "NOPE",
                                  "--password", "Str0ng-pass"])
    assert unknown.exit_code != 0
    assert "--org-name" in unknown.output
    assert db.session.scalar(sa.select(User).where(User.login == "chief")) is None


def test_trusted_proxy_gives_the_real_client_address(database_url):
    from webapp import create_app

    url, options = database_url
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "p" * 40, "TRUSTED_PROXIES": 1,
                      "SQLALCHEMY_ENGINE_OPTIONS": options})

    @app.route("/whoami")
    def whoami():
        from flask import request

        return request.remote_addr or ""

    client = app.test_client()
    assert client.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"}).get_data(as_text=True) == "203.0.113.9"
