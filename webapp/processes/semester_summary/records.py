"""What the generic pages say about semester summaries: the inbox row (school, period, stage), the campaign's
default title, and the decisions of a completed step on the timeline."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import AuditEvent, HumanTask, Org, ProcessInstance, TaskStatus
from webapp.processes.semester_summary import summaries
from webapp.processes.semester_summary.stages import COMPILE, PERSONAL, REVIEW, SIGN, SUBGROUP
from webapp.services.processes import RowSummary

#: The stage an open task puts the school in, in the order they come.
STAGE_NAMES = {PERSONAL: _l("Personal summaries"), SUBGROUP: _l("Subgroup summaries"),
               COMPILE: _l("School summary and self-check"), SIGN: _l("Principal's signature"),
               REVIEW: _l("County review")}
ORDER = (PERSONAL, SUBGROUP, COMPILE, SIGN, REVIEW)


def period_label(period: str) -> str:
    """``2026-2027-1`` → "2026–2027 学年第一学期"; any other key as it is."""
    parts = period.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and parts[2] in ("1", "2"):
        if parts[2] == "1":
            return _("%(first)s–%(second)s school year, first semester", first=parts[0], second=parts[1])
        return _("%(first)s–%(second)s school year, second semester", first=parts[0], second=parts[1])
    return period


def default_title(period: str) -> str:
    """``CampaignSpec.default_title``: "2026–2027 学年第一学期总结"."""
    return _("%(period)s summary", period=period_label(period))


def stage_of(open_ids: set[str]) -> str:
    current = next((step for step in ORDER if step in open_ids), None)
    return str(STAGE_NAMES[current]) if current else _("Finished")


def summarise(instance_ids: Sequence[int]) -> dict[int, RowSummary]:
    """The inbox rows of a page: one query each for the instances and schools, their periods (the start data on
    the audit trail) and their open steps."""
    ids = list(instance_ids)
    found = db.session.execute(sa.select(ProcessInstance, Org).join(Org, Org.id == ProcessInstance.subject_org_id)
                               .where(ProcessInstance.id.in_(ids))).all()
    open_steps: dict[int, set[str]] = {}
    for instance_id, bpmn_id in db.session.execute(sa.select(HumanTask.instance_id, HumanTask.bpmn_id).where(
            HumanTask.instance_id.in_(ids), HumanTask.status == TaskStatus.OPEN)):
        open_steps.setdefault(instance_id, set()).add(bpmn_id)
    periods = {instance_id: str(((after or {}).get("data") or {}).get("period") or "")
               for instance_id, after in db.session.execute(sa.select(AuditEvent.instance_id, AuditEvent.after).where(
                   AuditEvent.instance_id.in_(ids), AuditEvent.action == "instance.start"))}
    rows: dict[int, RowSummary] = {}
    for instance, school in found:
        period = periods.get(instance.id, "")
        rows[instance.id] = RowSummary(
            reference=str(instance.id),
            headline=f"{school.name} · {period_label(period) if period else instance.title}",
            facts=(stage_of(open_steps.get(instance.id, set())),),
            link=f"/summaries/instances/{instance.id}")  # also built outside a request (notices from workers)
    return rows


def describe_completion(event: AuditEvent, instance: ProcessInstance) -> list[str]:
    """Signed / returned by the principal, accepted / returned by the county (the comment shows beside it)."""
    after = event.after or {}
    data = after.get("data") or {}
    step = after.get("task")
    if step == SIGN and "signed" in data:
        return [_("Signed the school summary") if data["signed"] else _("Returned to the school officer")]
    if step == REVIEW and "accepted" in data:
        return [_("Accepted the school summary") if data["accepted"] else _("Returned to the school")]
    if step == PERSONAL and data.get("withdrawn"):
        return [_("Withdrawn: the teacher left the school")]
    return []


def steps_to_come(instance: ProcessInstance) -> list[str]:
    """The steps after the open one, in the process's order (the loops back are not foreseen)."""
    open_ids = set(db.session.scalars(sa.select(HumanTask.bpmn_id).where(
        HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)))
    current = [i for i, step in enumerate(ORDER) if step in open_ids]
    if not current:
        return []
    later = list(ORDER[current[0] + 1:])
    if SUBGROUP in later and not summaries.start_data(instance).get("subgroups"):
        later.remove(SUBGROUP)
    return [str(STAGE_NAMES[step]) for step in later]
