"""Jinja helpers shared by every template."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, request, url_for

from webapp.services import processes, timeline


def url_with(**changes: Any) -> str:
    """The current page's URL with some query arguments changed (``None`` removes one)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def process_links(kind: str, roles: Iterable[Any]) -> list[processes.NavLink]:
    """The processes' navigation (``nav``) or home-page (``home``) links for holders of ``roles``."""
    return processes.links(kind, roles)


def init_app(app: Flask) -> None:
    app.add_template_global(url_with)
    app.add_template_global(process_links)
    app.add_template_filter(timeline.action_words, "audit_label")
