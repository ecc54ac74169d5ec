"""Every answer carries the security headers; pages run scripts from our own files only."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from webapp.models import Role

TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "templates"


def policy(response) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    header = response.headers["Content-Security-Policy"]
    return {name: value.strip() for name, _, value in
            (part.strip().partition(" ") for part in header.split(";") if part.strip())}


def assert_secure_page(response) -> None:
    csp = policy(response)
    assert csp["script-src"] == "'self'", "no 'unsafe-inline', no 'unsafe-eval', no other host"
    assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["form-action"] == "'self'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_forbid_inline_scripts_and_framing(client, make_user, region):
    assert_secure_page(client.get("/auth/login"))
    assert_secure_page(client.get("/no-such-page"))
    make_user("teacher1", roles=((Role.TEACHER, region["school"]),))
    client.login("teacher1")
    for path in ("/", "/inbox/", "/applications/new", "/auth/security"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_secure_page(response)
    assert "Strict-Transport-Security" not in client.get("/").headers, "not outside production"


def test_other_answers_are_not_sniffed_or_framed_either(client):
    for response in (client.get("/api/v1/openapi.json"), client.get("/static/js/app.js"), client.get("/healthz")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Content-Security-Policy" not in response.headers, "only pages: a PDF shown inline is a plugin"
        response.close()


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")),
                         ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_templates_have_no_inline_scripts_or_event_handlers(template):
    """The policy would block them: behaviour lives in webapp/static/js, wired by data attributes."""
    if template.parent.name == "emails":
        return  # emails are not pages (and carry no scripts)
    source = template.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", source), "an on…= attribute"
    assert "javascript:" not in source
    assert "hx-on" not in source and "js:" not in source, "htmx would need eval"


def test_production_adds_hsts(database_url):
    from webapp import create_app

    url, engine_options = database_url
    production = create_app({"ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48), "DATABASE_URL": url,
                             "SQLALCHEMY_ENGINE_OPTIONS": engine_options, "REDIS_URL": None, "TESTING": True})
    response = production.test_client().get("/auth/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert_secure_page(response)
