"""Jinja helpers shared by every template."""

from __future__ import annotations

from typing import Any

from flask import Flask, request, url_for


def url_with(**changes: Any) -> str:
    """The current page's URL with some query arguments changed (``None`` removes one)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def init_app(app: Flask) -> None:
    app.add_template_global(url_with)
