"""What a page of the Chinese interface must not show: English interface words, English sentences, internal codes
and Python reprs, looked for in the visible text and in the attributes that are shown or read aloud; and values
of a field in words other than its one set (a training level is 市级 everywhere, never 市 on one page).

Text inside ``<script>``, ``<style>`` and ``<template>`` is not read, nor what an element marked
``translate="no"`` holds (data shown verbatim on purpose, such as a login under the heading 用户名). Strings
that are data (people's and organisations' names, rule texts) are blanked out before looking, so a name that
happens to contain a code or an English word never counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import lxml.html

#: Attributes whose text a person sees (tooltips, placeholders) or hears (screen readers).
SHOWN_ATTRIBUTES = ("title", "aria-label", "aria-valuetext", "aria-description", "aria-roledescription",
                    "placeholder", "alt", "label")
#: Elements whose content is not text on the page.
UNREAD_ELEMENTS = frozenset({"script", "style", "template"})
#: Words of an English interface that have no business on a Chinese page (whole words, any case).
ENGLISH_WORDS = frozenset({
    "about", "account", "accounts", "action", "actions", "active", "activity", "add", "added", "address", "all",
    "and", "application", "applications", "applied", "apply", "approve", "approved", "archive", "are", "as",
    "assign", "assigned", "assignment", "assignments", "at", "audit", "back", "below", "browse", "by", "cancel",
    "cancelled", "category", "change", "changes", "choose", "clear", "close", "closed", "code", "comment",
    "comments", "completed", "confirm", "continue", "copy", "count", "counted", "create", "created", "credit",
    "credits", "current", "dashboard", "date", "dates", "day", "days", "deactivate", "decline", "default",
    "delegation", "delegations", "delete", "deleted", "deny", "description", "details", "disabled", "done",
    "download", "draft", "edit", "edited", "email", "empty", "enabled", "end", "ended", "enter", "error", "errors",
    "export", "false", "field", "fields", "file", "files", "filter", "filters", "finished", "first", "for", "from",
    "go", "help", "hide", "history", "home", "hour", "hours", "if", "import", "imports", "in", "inactive",
    "incident", "incidents", "is", "last", "less", "level", "list", "loading", "log", "login", "logout", "logs",
    "manage", "maximum", "menu", "minimum", "missing", "month", "more", "name", "names", "new", "next", "no", "none",
    "not", "note", "notes", "notification", "notifications", "now", "of", "off", "ok", "on", "open", "optional",
    "or", "org", "organisation", "organisations", "organization", "other", "page", "pages", "password", "past",
    "pending", "period", "person", "phone", "please", "preview", "previous", "print", "process", "profile", "read",
    "recent", "refresh", "reject", "rejected", "remaining", "remove", "required", "reset", "result", "results",
    "resume", "retry", "return", "returned", "review", "reviews", "role", "roles", "rule", "rules", "save", "saved",
    "school", "schools", "search", "see", "select", "send", "sent", "settings", "show", "showing", "sign", "skip",
    "some", "sort", "start", "started", "status", "step", "submit", "submitted", "success", "suspend", "task",
    "tasks", "teacher", "teachers", "the", "this", "to", "today", "total", "true", "type", "unknown", "unread", "up",
    "update", "upload", "user", "users", "version", "view", "waiting", "week", "when", "who", "with", "year",
    "years", "yes", "you", "your",
})
#: Latin letters that are not interface text: file types, units, product and standard names.
ALLOWED_LATIN = frozenset({
    "API", "BPMN", "CSV", "DMN", "DOCX", "JPG", "JPEG", "PDF", "PNG", "XLSX", "ZIP", "KB", "MB", "GB", "IP", "URL",
    "HTTP", "HTTPS", "SMTP", "UTF", "ID", "Camunda", "Modeler", "English", "YYYY", "MM", "DD", "AM", "PM",
})
#: Three or more Latin words in a row: an English phrase, whatever its words.
ENGLISH_PHRASE = re.compile(r"(?<![\w.@/-])[A-Za-z][a-z']+(?:[ ,]+[A-Za-z][a-z']*){2,}(?![\w@/-])")
#: What Python or a template leaves behind when a value is shown without a label.
REPR_PATTERNS = (
    re.compile(r"(?<![\w.])(?:None|True|False|nan|undefined)(?![\w.])"),
    re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>?"),
    re.compile(r"<[A-Z]\w+ [^<>]{1,60}>"),  # a model's __repr__, e.g. <Org XB 湘北市>
    re.compile(r"(?<![\w.])[A-Z][A-Za-z]+\.[A-Z][A-Z0-9_]+(?![\w.])"),  # an enum member, e.g. Role.TEACHER
    re.compile(r"[{\[]'|'[}\]]|\{\"|\"\}"),  # a dict or list
    re.compile(r"(?:datetime\.)?(?:date|datetime|Decimal)\([\d', -]+\)"),
    re.compile(r"%\(\w+\)[sdf]|\{\{|\}\}|\{%|%\}"),  # an unformatted message or template
)
_WORD = re.compile(r"(?<![\w@/.-])[A-Za-z][A-Za-z']*(?![\w@/-]|\.\w)")
_BLANK = "▪"


@dataclass(frozen=True)
class Finding:
    where: str  # "text" or "@attribute"
    kind: str  # "English", "code", "repr"
    match: str
    context: str

    def __str__(self) -> str:
        return f"{self.kind} {self.match!r} in {self.where}: “{self.context}”"


def labelled_values(html: str, label: str) -> Iterator[str]:
    """The texts after each ``<dt>`` or ``<th>`` that reads ``label`` (up to the next one): that field's values."""
    if not html.strip():
        return
    for heading in lxml.html.fromstring(html).iter("dt", "th"):
        if heading.text_content().strip() != label:
            continue
        for value in heading.itersiblings():
            if value.tag in {"dt", "th"}:
                break
            yield value.text_content().strip()


def shown_texts(html: str) -> Iterator[tuple[str, str]]:
    """("text", the page's visible text) and ("@name", value) for every shown attribute, in page order."""
    root = lxml.html.fromstring(html) if html.strip() else None
    if root is None:
        return
    text: list[str] = []
    attributes: list[tuple[str, str]] = []

    def walk(element) -> None:
        tag = element.tag if isinstance(element.tag, str) else None
        if tag is not None and tag not in UNREAD_ELEMENTS and element.get("translate") != "no":
            for name in SHOWN_ATTRIBUTES:
                value = element.get(name)
                if value and value.strip():
                    attributes.append((f"@{name}", value))
            if tag == "input" and element.get("type") in {"submit", "button", "reset"} and element.get("value"):
                attributes.append(("@value", element.get("value")))
            text.append(element.text or "")
            for child in element:
                walk(child)
            text.append(" " if tag not in {"span", "a", "strong", "em", "b", "i", "small", "time", "code"} else "")
        text.append(element.tail or "")

    walk(root)
    yield "text", re.sub(r"\s+", " ", "".join(text)).strip()
    yield from attributes


class Detector:
    """Finds what a Chinese page must not show, given the internal codes and the data strings to ignore."""

    def __init__(self, codes: Iterable[str], data: Iterable[str] = (),
                 vocabularies: dict[str, set[str]] | None = None) -> None:
        #: field label → the only words its values may be in ("—" for none is always fine).
        self.vocabularies = vocabularies or {}
        codes = sorted({c for c in codes if c}, key=len, reverse=True)
        self._codes = re.compile(r"(?<![\w.-])(?:" + "|".join(map(re.escape, codes)) + r")(?![\w-]|\.\w)") \
            if codes else None
        data = sorted({d.strip() for d in data if d and d.strip()}, key=len, reverse=True)
        self._data = re.compile("|".join(map(re.escape, data))) if data else None

    def findings(self, html: str) -> list[Finding]:
        found: list[Finding] = []
        for where, raw in shown_texts(html):
            text = self._data.sub(_BLANK, raw) if self._data else raw
            found.extend(self._scan(where, text))
        for label, words in self.vocabularies.items():
            found.extend(Finding(label, "wording", value, f"{label}: {value}")
                         for value in labelled_values(html, label) if value not in {*words, "—"})
        return found

    def _scan(self, where: str, text: str) -> Iterator[Finding]:
        def finding(kind: str, match: re.Match) -> Finding:
            start, end = max(match.start() - 30, 0), match.end() + 30
            return Finding(where, kind, match.group(0), text[start:end].strip())

        seen: set[tuple[int, int]] = set()
        for pattern in REPR_PATTERNS:
            for match in pattern.finditer(text):
                seen.add(match.span())
                yield finding("repr", match)
        if self._codes:
            for match in self._codes.finditer(text):
                if match.span() not in seen:
                    seen.add(match.span())
                    yield finding("code", match)
        covered = [span for span in seen]
        for match in ENGLISH_PHRASE.finditer(text):
            if not any(a <= match.start() < b for a, b in covered):
                covered.append(match.span())
                yield finding("English", match)
        for match in _WORD.finditer(text):
            word = match.group(0)
            if word.lower() in ENGLISH_WORDS and word not in ALLOWED_LATIN \
                    and not any(a <= match.start() < b for a, b in covered):
                yield finding("English", match)
