"""Deploying BPMN/DMN made in Camunda Modeler as immutable, versioned process definitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from forms import form_keys
from webapp.engine import Report, check_definition
from webapp.extensions import db
from webapp.models import ROLE_CODES, ProcessDefinition, User
from webapp.services import audit
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
    return db.session.scalar(sa.select(ProcessDefinition).where(ProcessDefinition.key == key)
                             .order_by(ProcessDefinition.version.desc()).limit(1))


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
        definition = ProcessDefinition(key=key, version=previous + 1, name=compiled.name or key,
                                       content_hash=compiled.content_hash, source_files=sources,
                                       bpmn_xml=compiled.bpmn_xml, spec_json=compiled.spec_json,
                                       deployed_by_id=actor.id if actor else None)
        db.session.add(definition)
        db.session.flush()
        audit.record("definition.deploy", actor=actor, obj=definition,
                     after={"key": key, "version": definition.version, "hash": compiled.content_hash,
                            "files": sorted(sources)})
        result.definitions.append(definition)
        result.created.append(key)
    return result
