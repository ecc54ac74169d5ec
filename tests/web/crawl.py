"""Every page a person can reach by following GET links from a start page, with a Flask test client.

Links are the ``href`` of ``<a>`` and the ``hx-get`` of htmx elements (fragments swapped into a page), on the
same site. Left out: logging out, static files, downloads (an ``<a download>``, ``download=1``, a file
suffix, an answer that is not HTML) and the language switch. URLs that differ only in the digits of their
path and parameter values (``/admin/users/7?page=2`` and ``/admin/users/9?page=3``) are one kind of page, of
which a few samples are opened.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import lxml.html

SKIPPED_PATHS = re.compile(r"^/(?:auth/logout|auth/language|static/|healthz|api/)")
FILE_SUFFIX = re.compile(r"\.(?:csv|xlsx|pdf|png|jpe?g|docx|zip|bpmn|dmn|xml|json|txt)$", re.IGNORECASE)
SAMPLES_PER_KIND = 2


@dataclass(frozen=True)
class Page:
    url: str  # where a redirect ended, if it did
    status: int
    html: str
    fragment: bool  # fetched by htmx, not a whole page


def _normal(url: str) -> str | None:
    """The same-site path and query of ``url`` (parameters sorted), or None when it is not to be followed."""
    parts = urlsplit(url)
    if parts.scheme not in {"", "http", "https"} or parts.netloc not in {"", "localhost"}:
        return None
    if not parts.path.startswith("/") or SKIPPED_PATHS.match(parts.path) or FILE_SUFFIX.search(parts.path):
        return None
    params = sorted(parse_qsl(parts.query, keep_blank_values=True))
    if ("download", "1") in params:
        return None
    return parts.path + (f"?{urlencode(params)}" if params else "")


def kind_of(url: str) -> str:
    """The kind of page: digit runs in the path and the parameter values replaced by ``#``."""
    return re.sub(r"\d+", "#", url)


def links(html: str, base: str) -> Iterator[tuple[str, bool]]:
    """(url, is an htmx fragment) for each link on the page."""
    if not html.strip():
        return
    root = lxml.html.fromstring(html)
    for element in root.iter("a"):
        href = element.get("href")
        if href and not href.startswith("#") and element.get("download") is None:
            yield urljoin(base, href), False
    for element in root.xpath("//*[@hx-get]"):
        yield urljoin(base, element.get("hx-get")), True


def crawl(client, start: str = "/", limit: int = 400) -> Iterator[Page]:
    """The pages reachable from ``start``, breadth first, at most ``limit`` of them and a few of each kind."""
    queue: deque[tuple[str, bool]] = deque([(start, False)])
    seen: set[str] = {start}
    kinds: Counter[str] = Counter()
    opened_at: set[str] = set()
    opened = 0
    while queue and opened < limit:
        url, fragment = queue.popleft()
        if kinds[kind_of(url)] >= SAMPLES_PER_KIND:
            continue
        kinds[kind_of(url)] += 1
        opened += 1
        response = client.get(url, headers={"HX-Request": "true"} if fragment else {}, follow_redirects=True)
        html = response.get_data(as_text=True) if response.content_type.startswith("text/html") else None
        response.close()  # a file sent from disk stays open until closed
        if html is None:
            continue
        final = response.request.full_path.rstrip("?")
        if final in opened_at and final != url:
            continue  # a redirect to a page already read
        opened_at.add(final)
        yield Page(final, response.status_code, html, fragment)
        for link, is_fragment in links(html, final):
            normal = _normal(link)
            if normal is not None and normal not in seen:
                seen.add(normal)
                queue.append((normal, is_fragment))
