"""Which links YanXun follows after a form: only paths on this site, never another host."""

from __future__ import annotations

from urllib.parse import urlsplit


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
