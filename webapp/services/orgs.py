"""Creating, moving and deactivating organisations while keeping the tree's materialised paths right."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import ALLOWED_PARENTS, Org, OrgType, SchoolStage
from webapp.services.errors import ServiceError

#: What an audit event records of an organisation, before and after a change.
SNAPSHOT_FIELDS = ("code", "name", "type", "parent_id", "path", "stage", "kind", "valid_from", "valid_to", "active")


def _check_parent(org_type: OrgType, parent: Org | None) -> None:
    allowed = ALLOWED_PARENTS[org_type]
    if parent is None and None not in allowed:
        raise ServiceError(_l("This type of organisation needs a parent."), field="parent")
    if parent is not None and parent.type not in allowed:
        raise ServiceError(_l("An organisation of this type cannot sit under that parent."), field="parent")


def _check_period(valid_from: date | None, valid_to: date | None) -> None:
    if valid_from and valid_to and valid_to < valid_from:
        raise ServiceError(_l("The end date must not be before the start date."), field="valid_to")


def _code_taken(code: str, exclude_id: int | None = None) -> bool:
    query = sa.select(Org.id).where(Org.code == code)
    if exclude_id is not None:
        query = query.where(Org.id != exclude_id)
    return db.session.scalar(query) is not None


def create_org(*, code: str, name: str, type: OrgType | str, parent: Org | None = None,
               stage: SchoolStage | str | None = None, kind: str | None = None,
               valid_from: date | None = None, valid_to: date | None = None) -> Org:
    org_type = OrgType(type)
    _check_parent(org_type, parent)
    _check_period(valid_from, valid_to)
    if _code_taken(code):
        raise ServiceError(_l("The code %(code)s is already in use.", code=code), field="code")
    org = Org(code=code, name=name, type=org_type, parent=parent, stage=SchoolStage(stage) if stage else None,
              kind=kind or None, valid_from=valid_from, valid_to=valid_to)
    db.session.add(org)
    db.session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    org.depth = parent.depth + 1 if parent else 0
    db.session.flush()
    return org


def update_org(org: Org, *, code: str, name: str, type: OrgType | str, parent: Org | None,
               stage: SchoolStage | str | None = None, kind: str | None = None,
               valid_from: date | None = None, valid_to: date | None = None) -> Org:
    org_type = OrgType(type)
    _check_parent(org_type, parent)
    _check_period(valid_from, valid_to)
    if _code_taken(code, exclude_id=org.id):
        raise ServiceError(_l("The code %(code)s is already in use.", code=code), field="code")
    if parent is not None and (parent.id == org.id or parent.path.startswith(org.path)):
        raise ServiceError(_l("An organisation cannot be moved under itself or one of its descendants."),
                           field="parent")
    for child in org.children:
        if org_type not in ALLOWED_PARENTS[child.type]:
            raise ServiceError(_l("The new type does not allow its current sub-organisations."), field="type")
    org.code, org.name, org.type = code, name, org_type
    org.stage = SchoolStage(stage) if stage else None
    org.kind = kind or None
    org.valid_from, org.valid_to = valid_from, valid_to
    if parent is not org.parent:
        _move(org, parent)
    db.session.flush()
    return org


def _move(org: Org, parent: Org | None) -> None:
    old_path = org.path
    new_path = f"{parent.path if parent else '/'}{org.id}/"
    depth_shift = (parent.depth + 1 if parent else 0) - org.depth
    org.parent = parent
    db.session.flush()
    db.session.execute(
        sa.update(Org).where(Org.path.startswith(old_path, autoescape=True))
        .values(path=sa.func.replace(Org.path, old_path, new_path), depth=Org.depth + depth_shift)
        .execution_options(synchronize_session=False))
    db.session.expire_all()


def set_org_active(org: Org, active: bool) -> None:
    """Deactivate (or reactivate) one organisation; a deactivated one keeps its history but scopes no role."""
    if not active:
        open_children = db.session.scalar(
            sa.select(sa.func.count()).select_from(Org).where(Org.parent_id == org.id, Org.active.is_(True)))
        if open_children:
            raise ServiceError(_l("Deactivate its %(count)d active sub-organisations first.", count=open_children))
    org.active = active
    db.session.flush()


def descendant_ids(org: Org) -> sa.Select:
    """A sub-select of the ids of ``org`` and everything below it."""
    return sa.select(Org.id).where(Org.path.startswith(org.path, autoescape=True))


def find_by_code(code: str) -> Org | None:
    return db.session.scalar(sa.select(Org).where(Org.code == code))


def search(text: str) -> sa.Select:
    """Organisations whose name or code contains ``text`` (any case), nearest the root first."""
    return (sa.select(Org)
            .where(sa.or_(Org.name.icontains(text, autoescape=True), Org.code.icontains(text, autoescape=True)))
            .order_by(Org.depth, Org.code))


def is_within(org: Org, ancestor: Org) -> bool:
    """True when ``org`` is ``ancestor`` or sits somewhere below it."""
    return org.path.startswith(ancestor.path)


def ancestors_of(orgs: Iterable[Org]) -> dict[int, list[Org]]:
    """For each org, its ancestors from the root down (itself excluded), loaded in one query."""
    orgs = list(orgs)
    wanted = {ancestor_id for org in orgs for ancestor_id in org.ancestor_ids[1:]}
    by_id = {o.id: o for o in db.session.scalars(sa.select(Org).where(Org.id.in_(wanted)))} if wanted else {}
    return {org.id: [by_id[i] for i in reversed(org.ancestor_ids[1:]) if i in by_id] for org in orgs}


@dataclass
class OrgNode:
    org: Org
    children: list[OrgNode] = field(default_factory=list)


def tree(*, active_only: bool = False) -> list[OrgNode]:
    """The whole forest in one query; siblings ordered by code, as ``Org.children`` is."""
    query = sa.select(Org).order_by(Org.depth, Org.code)
    if active_only:
        query = query.where(Org.active.is_(True))
    nodes: dict[int, OrgNode] = {}
    roots: list[OrgNode] = []
    for org in db.session.scalars(query):
        node = nodes[org.id] = OrgNode(org)
        parent = nodes.get(org.parent_id) if org.parent_id is not None else None
        if parent is not None:
            parent.children.append(node)
        elif org.parent_id is None:
            roots.append(node)
    return roots


def children_of(parent: Org | None) -> list[Org]:
    """The direct children of ``parent`` (the top-level organisations for None), ordered by code."""
    condition = Org.parent_id.is_(None) if parent is None else Org.parent_id == parent.id
    return list(db.session.scalars(sa.select(Org).where(condition).order_by(Org.code)))


def child_counts(orgs: Iterable[Org]) -> dict[int, int]:
    """How many direct children each of ``orgs`` has (those without any are left out), in one query."""
    ids = [org.id for org in orgs]
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Org.parent_id, sa.func.count(Org.id)).where(Org.parent_id.in_(ids))
                              .group_by(Org.parent_id))
    return {parent_id: count for parent_id, count in rows}


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Org.id))) or 0


def walk(nodes: Iterable[OrgNode]) -> Iterator[Org]:
    """Depth-first, parents before their children: the order of an indented list."""
    for node in nodes:
        yield node.org
        yield from walk(node.children)
