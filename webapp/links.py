"""Links of YanXun: which ones to follow after a form (only paths on this site, never another host), and the
absolute links that leave the site in emails (always on ``PUBLIC_BASE_URL``, never on a request's address)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def is_local_link(link: str | None) -> bool:
    """A path inside YanXun (``/inbox/tasks/1``), not another site (``//evil``, ``https://...``, ``/\\evil``)."""
    if not link or not link.startswith("/") or link.startswith(("//", "/\\")):
        return False
    if any(ch in link for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in link):
        return False
    parts = urlsplit(link)
    return not parts.scheme and not parts.netloc


def local_or(link: str | None, fallback: str) -> str:
    """``link`` when it is a path on this site, else ``fallback``."""
    return link if link and is_local_link(link) else fallback


def public_url(path: str | None) -> str | None:
    """``path`` (a local path) on ``PUBLIC_BASE_URL``, for emails; None without either.

    Never the address a request came to: its ``Host`` (or ``X-Forwarded-Host``) is whatever the client sent,
    and an email linking there would send the recipient to the sender's site. The configuration requires
    ``PUBLIC_BASE_URL`` as soon as email is on.
    """
    base = current_app.config["YANXUN"].get("PUBLIC_BASE_URL")
    if not path or not base or not is_local_link(path):
        return None
    return base.rstrip("/") + path
