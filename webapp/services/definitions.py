"""Deploying BPMN/DMN made in Camunda Modeler as immutable, versioned process definitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from forms import form_keys
from webapp.engine import Report, check_definition
from webapp.extensions import db
from webapp.models import ROLE_CODES, DefinitionState, ProcessDefinition, Role, User
from webapp.models.base import utcnow
from webapp.services import audit, processes
from webapp.services import roles as role_service
from webapp.services.errors import Conflict, NotAllowed
from webapp.services.runtime import get_runtime


class DeployRejected(Exception):
    """The upload has problems; nothing was stored. ``report.problems`` lists every one of them."""

    def __init__(self, report: Report) -> None:
        super().__init__(f"{len(report.errors)} problem(s) in the upload")
        self.report = report


@dataclass
class DeployResult:
    report: Report
    #: The stored definitions, new or (for unchanged content) existing.
    definitions: list[ProcessDefinition] = field(default_factory=list)
    #: Keys of definitions that got a new version.
    created: list[str] = field(default_factory=list)


def check(files: Mapping[str, bytes | str]) -> Report:
    """Validate and lint an upload without storing anything."""
    return check_definition(files, known_roles=ROLE_CODES, known_topics=get_runtime().services.topics,
                            known_form_keys=form_keys())


def latest(key: str) -> ProcessDefinition | None:
    """The newest live version of ``key`` (the one new instances start on)."""
    return db.session.scalar(sa.select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                                ProcessDefinition.state == DefinitionState.LIVE)
                             .order_by(ProcessDefinition.version.desc()).limit(1))


def _ask_for_approval(definition: ProcessDefinition, deployer: User) -> None:
    """Tell the administrators (all but the deployer) that a version waits for one of them."""
    from webapp.services import notifications  # imported here: notifications renders with the app's templates

    if deployer.org is None:
        return
    admins = [user for user in role_service.resolve(Role.ADMIN, deployer.org).users if user.id != deployer.id]
    notifications.notify_many(admins, "definition.pending",
                              title=_l("A new version of %(name)s waits for your approval", name=definition.name),
                              body=_l("Version %(version)d, deployed by %(name)s.", version=definition.version,
                                      name=deployer.display_name),
                              link="/admin/definitions/pending")


def pending() -> list[ProcessDefinition]:
    """Versions waiting for an administrator's approval, oldest first."""
    return list(db.session.scalars(sa.select(ProcessDefinition).where(
        ProcessDefinition.state == DefinitionState.PENDING).order_by(ProcessDefinition.deployed_at)))


def review(definition: ProcessDefinition, actor: User, *, approve: bool, note: str = "") -> ProcessDefinition:
    """An administrator's decision on a pending version: live (new instances start on it) or refused.

    The deployer may not decide on their own version: that is the point of the second person.
    """
    if not role_service.has_role(actor, Role.ADMIN):
        raise NotAllowed(_l("Only an administrator may approve a process version."))
    if definition.state is not DefinitionState.PENDING:
        raise Conflict(_l("This version is not waiting for approval."))
    if definition.deployed_by_id == actor.id:
        raise NotAllowed(_l("Another administrator must approve a version you deployed yourself."))
    note = (note or "").strip()
    if not approve and not note:
        raise NotAllowed(_l("Give the reason for refusing this version."))
    definition.state = DefinitionState.LIVE if approve else DefinitionState.REFUSED
    definition.reviewed_by_id, definition.reviewed_at, definition.review_note = actor.id, utcnow(), note or None
    db.session.flush()
    audit.record("definition.approve" if approve else "definition.refuse", actor=actor, obj=definition,
                 after={"key": definition.key, "version": definition.version, "note": note})
    if definition.deployed_by is not None:
        from webapp.services import notifications  # imported here: notifications renders with the app's templates

        title = (_l("Version %(version)d of %(name)s is live.", version=definition.version, name=definition.name)
                 if approve else _l("Version %(version)d of %(name)s was refused.", version=definition.version,
                                    name=definition.name))
        notifications.notify(definition.deployed_by, "definition.approve" if approve else "definition.refuse",
                             title=title, body=note)
    return definition


def deploy(files: Mapping[str, bytes | str], actor: User | None) -> DeployResult:
    """Store every executable process of the upload as a new version, unless identical content exists.

    Raises :class:`DeployRejected` when the report has any error: nothing half-deploys.
    """
    report = check(files)
    if report.errors or not report.definitions:
        raise DeployRejected(report)
    sources = {name: content.decode("utf-8") if isinstance(content, bytes) else content
               for name, content in files.items()}
    result = DeployResult(report)
    for key, compiled in sorted(report.definitions.items()):
        existing = db.session.scalar(sa.select(ProcessDefinition).where(
            ProcessDefinition.key == key, ProcessDefinition.content_hash == compiled.content_hash))
        if existing is not None:
            result.definitions.append(existing)
            continue
        previous = db.session.scalar(sa.select(sa.func.max(ProcessDefinition.version))
                                     .where(ProcessDefinition.key == key)) or 0
        protected = actor is not None and key in processes.protected_keys()
        state = DefinitionState.PENDING if protected else DefinitionState.LIVE
        definition = ProcessDefinition(key=key, version=previous + 1, name=compiled.name or key,
                                       content_hash=compiled.content_hash, source_files=sources,
                                       bpmn_xml=compiled.bpmn_xml, spec_json=compiled.spec_json,
                                       deployed_by_id=actor.id if actor else None, state=state)
        db.session.add(definition)
        db.session.flush()
        audit.record("definition.deploy", actor=actor, obj=definition,
                     after={"key": key, "version": definition.version, "hash": compiled.content_hash,
                            "files": sorted(sources), "state": state.value})
        if state is DefinitionState.PENDING:
            _ask_for_approval(definition, actor)
        result.definitions.append(definition)
        result.created.append(key)
    return result
