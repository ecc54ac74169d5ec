"""Audit events in words for the administration pages and the home page: what each event's object is (a name and
a link, never a bare id) and what it changed (field labels and readable values, never codes or Python reprs).

Fields without a label in :data:`webapp.labels.AUDIT_FIELD_LABELS` (paths, hashes, BPMN ids, process data) are
technical: they stay in the trail and the API but are not listed on the pages; so is a status only a process
package has words for (its own record's, or one it records on an instance). A process's record is named by its
instance's summary (the number people quote and a headline, ``webapp.services.processes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.labels import (
    AUDIT_FIELD_LABELS,
    BACKBONE_LABELS,
    EMPLOYMENT_LABELS,
    ENTRY_SOURCE_LABELS,
    INSTANCE_STATUS_LABELS,
    LEVEL_LABELS,
    ORG_TYPE_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    TASK_STATUS_LABELS,
    TIER_LABELS,
)
from webapp.models import (
    ApiToken,
    AuditEvent,
    Certificate,
    CreditEntry,
    Delegation,
    HumanTask,
    Incident,
    Org,
    ProcessDefinition,
    ProcessInstance,
    RecognitionBatch,
    RoleAssignment,
    RubricVersion,
    RuleSet,
    User,
)
from webapp.services import certificates, processes

#: Fields holding an organisation's or a person's id: shown by name.
ORG_FIELDS = frozenset({"org_id", "parent_id", "primary_subgroup_id"})
USER_FIELDS = frozenset({"user_id", "from_user_id", "to_user_id", "assignee_id"})
#: Fields whose values are identifiers people type (an organisation's code, a login name): shown as they are.
VERBATIM_FIELDS = frozenset({"code", "login"})
#: Fields holding a code with words of its own.
CODE_LABELS = {"role": ROLE_LABELS, "type": ORG_TYPE_LABELS, "stage": STAGE_LABELS, "backbone_level": BACKBONE_LABELS,
               "training_tier": TIER_LABELS, "employment_type": EMPLOYMENT_LABELS, "level": LEVEL_LABELS,
               "source": ENTRY_SOURCE_LABELS}
#: Statuses of the generic objects; a process's own records (an application...) keep theirs to themselves.
STATUS_LABELS = {"process_instance": INSTANCE_STATUS_LABELS, "human_task": TASK_STATUS_LABELS}
#: What each kind of object is loaded as, with what its description needs.
MODELS = {
    "org": (Org, ()),
    "user_account": (User, ()),
    "role_assignment": (RoleAssignment, (selectinload(RoleAssignment.user), selectinload(RoleAssignment.org))),
    "delegation": (Delegation, (selectinload(Delegation.from_user), selectinload(Delegation.to_user))),
    "credit_entry": (CreditEntry, (selectinload(CreditEntry.user),)),
    "certificate": (Certificate, (selectinload(Certificate.teacher),)),
    "recognition_batch": (RecognitionBatch, (selectinload(RecognitionBatch.org),)),
    "process_instance": (ProcessInstance, ()),
    "process_definition": (ProcessDefinition, ()),
    "human_task": (HumanTask, ()),
    "incident": (Incident, ()),
    "api_token": (ApiToken, ()),
    "rubric_version": (RubricVersion, (selectinload(RubricVersion.rubric),)),
}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str
    verbatim: bool = False  # an identifier, not words: never to be translated


def _amount(value: float) -> str:
    return f"{round(float(value), 2):g}"


def _label(table: dict, value: Any) -> str:
    for key, text in table.items():
        if key == value or getattr(key, "value", key) == value:
            return str(text)
    return str(value)


class _Words:
    """The names behind the ids and codes of a batch of events, each kind loaded in one query."""

    def __init__(self, events: list[AuditEvent]) -> None:
        self.objects = {kind: self._load(model, _ids(events, kind), options)
                        for kind, (model, options) in MODELS.items()}
        values = [record for e in events for record in (e.before or {}, e.after or {})]
        self.orgs = self._load(Org, _field_ids(values, ORG_FIELDS))
        self.users = self._load(User, _field_ids(values, USER_FIELDS))
        self.instances = self._load(ProcessInstance, {e.instance_id for e in events if e.instance_id})
        self.summaries = processes.summaries(self.instances.values())
        self.orgs.update(self.objects["org"])
        self.users.update(self.objects["user_account"])
        self._catalogue: dict[str, str] | None = None

    @staticmethod
    def _load(model, ids: set[int], options: Iterable = ()) -> dict[int, Any]:
        if not ids:
            return {}
        return {row.id: row for row in db.session.scalars(sa.select(model).options(*options).where(model.id.in_(ids)))}

    def catalogue(self) -> dict[str, str]:
        """Category and item codes of every rule set, with their names (the newest version's name wins)."""
        if self._catalogue is None:
            self._catalogue = {}
            for rule_set in db.session.scalars(sa.select(RuleSet).order_by(RuleSet.loaded_at, RuleSet.id)):
                for section in ("categories", "items"):
                    for code, spec in (rule_set.body.get(section) or {}).items():
                        self._catalogue[code] = spec.get("name") or code
        return self._catalogue

    def value(self, event: AuditEvent, field: str, value: Any) -> str:
        if value is None or value == "" or value == []:
            return "—"
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if field in ORG_FIELDS and value in self.orgs:
            return self.orgs[value].name
        if field in USER_FIELDS and value in self.users:
            return self.users[value].display_name
        if field in CODE_LABELS:
            return _label(CODE_LABELS[field], value)
        if field == "status":
            return str(STATUS_LABELS[event.object_type or ""][value])
        if field in {"category", "item_code"}:
            return self.catalogue().get(value, value)
        if isinstance(value, float):
            return _amount(value)
        if isinstance(value, list):
            return "、".join(str(v) for v in value)
        return str(value)

    def describe(self, event: AuditEvent) -> tuple[str, str | None] | None:
        """A readable name for the event's object and a link to it, or None when there is nothing to name."""
        kind = event.object_type or ""
        key = int(event.object_id) if (event.object_id or "").isdigit() else None
        obj = self.objects.get(kind, {}).get(key)
        if kind == "import":
            return (event.after or {}).get("filename") or _("Import"), url_for("admin.import_result",
                                                                               event_id=event.id)
        if kind in {"login", "address"} and event.object_id:
            return event.object_id, None
        if kind not in MODELS and event.instance_id in self.instances:  # a process's own record
            return self._instance(self.instances[event.instance_id])
        if obj is None:
            return None
        if kind == "org":
            return obj.name, url_for("admin.org_detail", org_id=obj.id)
        if kind == "user_account":
            return obj.display_name, url_for("admin.user_detail", user_id=obj.id)
        if kind == "role_assignment":
            return (_("%(role)s · %(name)s at %(org)s", role=ROLE_LABELS[obj.role], name=obj.user.display_name,
                      org=obj.org.name), url_for("admin.assignment_edit", assignment_id=obj.id))
        if kind == "delegation":
            return (f"{obj.from_user.display_name} → {obj.to_user.display_name}",
                    url_for("admin.delegation_edit", delegation_id=obj.id))
        if kind == "credit_entry":
            return _("Ledger entry of %(name)s", name=obj.user.display_name), None
        if kind == "certificate":
            return (_("%(title)s of %(name)s", title=obj.content["title"], name=obj.teacher.display_name),
                    url_for("verify.certificate", code=certificates.format_code(obj.code)))
        if kind == "recognition_batch":
            return (_("School year %(year)s · %(org)s", year=obj.school_year.replace("-", "–"), org=obj.org.name),
                    url_for("recognition.batch", batch_id=obj.id))
        if kind == "process_instance":
            return self._instance(obj)
        if kind == "process_definition":
            return _("%(name)s, version %(version)d", name=obj.name, version=obj.version), None
        if kind == "human_task":
            return obj.name, url_for("inbox.instance", instance_id=obj.instance_id)
        if kind == "incident":
            return _("Incident"), url_for("admin.incidents")
        if kind == "api_token":
            return _("API token %(name)s", name=obj.name), None
        if kind == "rubric_version":
            return (_("%(name)s, version %(version)d", name=obj.title, version=obj.version),
                    url_for("admin.rubric_version", code=obj.rubric.code, number=obj.version))
        return None

    def _instance(self, instance: ProcessInstance) -> tuple[str, str]:
        summary = self.summaries.get(instance.id)
        page = url_for("inbox.instance", instance_id=instance.id)
        if summary is None:
            return instance.title, page
        return f"{summary.reference} · {summary.headline}", summary.link or page

    @staticmethod
    def _known_status(event: AuditEvent, *values: Any) -> bool:
        """Statuses are shown in the words of the object's kind (an instance, a task); a process's own statuses
        (an application's "withdrawn") are its package's to say, and the action's words say it already."""
        table = STATUS_LABELS.get(event.object_type or "")
        return table is not None and all(value is None or value in table for value in values)

    def changes(self, event: AuditEvent) -> list[Change]:
        """Every labelled field the event changed (all of them for a creation), in words."""
        if event.object_type == "import":
            return []
        before, after = event.before or {}, event.after or {}
        return [Change(str(AUDIT_FIELD_LABELS[key]), self.value(event, key, before.get(key)),
                       self.value(event, key, after.get(key)), key in VERBATIM_FIELDS)
                for key in dict.fromkeys([*before, *after])
                if key in AUDIT_FIELD_LABELS and before.get(key) != after.get(key)
                and (key != "status" or self._known_status(event, before.get(key), after.get(key)))
                and not isinstance(before.get(key, after.get(key)), dict)]


def _field_ids(records: list[dict[str, Any]], fields: frozenset[str]) -> set[int]:
    return {v for r in records for k, v in r.items() if k in fields and isinstance(v, int)}


def _ids(events: list[AuditEvent], object_type: str) -> set[int]:
    return {int(e.object_id) for e in events if e.object_type == object_type and (e.object_id or "").isdigit()}


def in_words(events: list[AuditEvent]) -> dict[str, Any]:
    """The template context of an audit table: the events, their objects and their changes."""
    words = _Words(events)
    objects = {e.id: described for e in events if (described := words.describe(e)) is not None}
    return {"events": events, "objects": objects, "changes": {e.id: words.changes(e) for e in events}}
