"""Pieces every administration view uses: choices for selects, audit records, status of dated records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination

from webapp.extensions import db
from webapp.labels import (
    BACKBONE_LABELS,
    EMPLOYMENT_LABELS,
    ORG_TYPE_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    TIER_LABELS,
)
from webapp.models import AuditEvent, Org, OrgType, RoleAssignment, User
from webapp.services import audit
from webapp.services import orgs as org_service

#: Indentation of an organisation in a select, one ideographic space per level (not collapsed by browsers).
INDENT = "\u3000"


def page_size() -> int:
    return int(current_app.config["YANXUN"]["PAGE_SIZE"])


def record(action: str, obj: Any = None, *, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None) -> AuditEvent:
    """Audit an administrator's action, with the request's address."""
    return audit.record(action, actor=current_user._get_current_object(), obj=obj, before=before, after=after,
                        ip=request.remote_addr)


def org_label(org: Org) -> str:
    """An organisation in a select listing the tree: its name, indented under its parent."""
    label = f"{INDENT * org.depth}{org.name}"
    return label if org.active else f"{label} – {_('inactive')}"


#: A select lists every organisation up to this many; beyond (a city has thousands) it lists only the chosen
#: one, and a search box above it fills it with matches (``admin.org_options``, HTMX).
ORG_SELECT_LIMIT = 400
#: At most this many matches of a search go into the select.
ORG_SEARCH_RESULTS = 50


class OrgChoices(list):
    """The choices of an organisation select; ``search_url`` is set when they must be searched for."""

    search_url: str | None = None


def _eligible(org: Org, excluded: set[OrgType], exclude_below: Org | None) -> bool:
    return org.active and org.type not in excluded and not (
        exclude_below is not None and org_service.is_within(org, exclude_below))


def org_choices(*, blank: str | None = None, exclude_types: Iterable[OrgType] = (), exclude_below: Org | None = None,
                keep: Org | None = None, selected: Any = None) -> OrgChoices:
    """Active organisations in tree order, indented; ``keep`` is listed even when deactivated (so an edit
    form shows the current value), ``exclude_below`` drops an organisation and its descendants.

    With more than :data:`ORG_SELECT_LIMIT` of them only ``keep`` and ``selected`` (an id, e.g. the one
    submitted, if it may be chosen) are listed, and ``search_url`` says where matches come from.
    """
    excluded = set(exclude_types)
    choices = OrgChoices([("", blank)] if blank is not None else [])
    eligible = sa.select(sa.func.count(Org.id)).where(Org.active.is_(True))
    if excluded:
        eligible = eligible.where(Org.type.not_in(list(excluded)))
    if (db.session.scalar(eligible) or 0) > ORG_SELECT_LIMIT:
        chosen = db.session.get(Org, int(selected)) if str(selected or "").isdigit() else None
        for org in dict.fromkeys(o for o in (keep, chosen) if o is not None):
            if org is keep or _eligible(org, excluded, exclude_below):
                choices.append((org.id, org_search_label(org)))
        choices.search_url = url_for("admin.org_options", blank=blank or None,
                                     exclude=",".join(sorted(t.value for t in excluded)) or None,
                                     below=exclude_below.id if exclude_below else None)
        return choices
    listed = False
    for org in org_service.walk(org_service.tree(active_only=True)):
        if org.type in excluded or (exclude_below is not None and org_service.is_within(org, exclude_below)):
            continue
        listed = listed or (keep is not None and org.id == keep.id)
        choices.append((org.id, org_label(org)))
    if keep is not None and not listed:
        choices.append((keep.id, org_label(keep)))
    return choices


def org_search_label(org: Org) -> str:
    """An organisation in a list of matches: its name, type and parent (no indentation: no tree around it, and
    two schools may each have a 一年级组)."""
    label = f"{org.name} · {org.kind or ORG_TYPE_LABELS.get(org.type, org.type)}"
    if org.parent is not None:
        label += f" · {org.parent.name}"
    return label if org.active else f"{label} – {_('inactive')}"


def org_search_choices(text: str, *, blank: str | None, exclude_types: Iterable[OrgType],
                       exclude_below: Org | None) -> list[tuple[Any, str]]:
    """Up to :data:`ORG_SEARCH_RESULTS` organisations that may be chosen whose name or code contains ``text``."""
    excluded = set(exclude_types)
    choices: list[tuple[Any, str]] = [("", blank)] if blank is not None else []
    if not text:
        return choices
    query = org_service.search(text).where(Org.active.is_(True))
    if excluded:
        query = query.where(Org.type.not_in(list(excluded)))
    if exclude_below is not None:
        query = query.where(~Org.path.startswith(exclude_below.path, autoescape=True))
    choices += [(org.id, org_search_label(org)) for org in db.session.scalars(query.limit(ORG_SEARCH_RESULTS))]
    return choices


def label_choices(labels: Mapping[Any, Any], blank: str | None = None) -> list[tuple[str, str]]:
    choices = [("", blank)] if blank is not None else []
    return [*choices, *((key.value, str(text)) for key, text in labels.items())]


def role_choices(blank: str | None = None) -> list[tuple[str, str]]:
    return label_choices(ROLE_LABELS, blank)


def type_choices() -> list[tuple[str, str]]:
    return label_choices(ORG_TYPE_LABELS)


def stage_choices() -> list[tuple[str, str]]:
    return label_choices(STAGE_LABELS, _("— none —"))


def backbone_choices() -> list[tuple[str, str]]:
    return label_choices(BACKBONE_LABELS, _("— not a backbone teacher —"))


def tier_choices() -> list[tuple[str, str]]:
    return [("", _("— not recorded —")), *((str(tier), str(text)) for tier, text in TIER_LABELS.items())]


def employment_choices() -> list[tuple[str, str]]:
    return label_choices(EMPLOYMENT_LABELS, _("— not recorded —"))


def org_from_arg(name: str = "org") -> Org | None:
    org_id = request.args.get(name, type=int)
    return db.session.get(Org, org_id) if org_id else None


def assignment_status(assignment: RoleAssignment, today: date) -> str:
    if not assignment.active or (assignment.valid_to is not None and assignment.valid_to < today):
        return "ended"
    if assignment.valid_from is not None and assignment.valid_from > today:
        return "future"
    return "current"


def user_label(user: User | None) -> str:
    return user.display_name if user is not None else ""


class ListPagination(Pagination):
    """A page of an in-memory list, for the pagination macro (e.g. the rows of an import report)."""

    def _query_items(self) -> list[Any]:
        items = self._query_args["items"]
        start = (self.page - 1) * self.per_page
        return list(items[start:start + self.per_page])

    def _query_count(self) -> int:
        return len(self._query_args["items"])
