"""Security headers on every response.

Pages get a Content-Security-Policy that runs scripts from this site's own files only (no inline ``<script>``, no
``on…=`` attributes, no eval: htmx's eval is switched off in ``base.html``). Styles may be inline, because the
bpmn-js viewer and Bootstrap's components set ``style`` attributes; pictures may be ``data:`` URLs (Bootstrap's
icons) or ``blob:`` ones (the preview of chosen evidence files). Nothing may frame a page, pages are not sniffed
as another type, and other sites learn at most our origin from a link. Production answers also carry HSTS.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


def init_app(app: Flask) -> None:
    settings = app.config["YANXUN"]
    production = settings["ENV"] == "production"
    hsts = f"max-age={settings['HSTS_SECONDS']}" if production and settings["HSTS_SECONDS"] else None

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        if response.mimetype == "text/html":  # not on files shown inline: a PDF viewer is a plugin
            headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if hsts:
            headers.setdefault("Strict-Transport-Security", hsts)
        return response
