"""Where the semester summary meets the campaign building block (``webapp.services.campaigns``), in one place.

The campaign core offers ``school_of_instance``, ``record`` and ``deadline`` and the service topic
``campaign.remind``; until it is merged, these functions do the same on the campaign tables it already has
(``webapp.models.campaign``), and :func:`remind` stands in for the topic. After the merge each body becomes one
call to ``campaigns``, and the stand-in topic goes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import Campaign, CampaignSchool, CampaignSchoolStatus, HumanTask, TaskStatus
from webapp.models.base import utcnow
from webapp.processes.semester_summary.stages import STAGE_TASKS
from webapp.services import instances, notifications
from webapp.services.runtime import services

REMIND_TOPIC = "campaign.remind"


def school_of_instance(instance_id: int) -> CampaignSchool | None:
    """The campaign school whose instance this is (None for an instance started outside a campaign)."""
    return db.session.scalar(sa.select(CampaignSchool).where(CampaignSchool.instance_id == instance_id))


def record(instance_id: int, status: CampaignSchoolStatus, *, facts: dict[str, Any] | None = None) -> None:
    """Put where the school stands (submitted / returned / accepted) and its facts on the campaign's board."""
    school = school_of_instance(instance_id)
    if school is None:
        return
    if facts is not None:
        school.facts = {**(school.facts or {}), **facts}
    if status is CampaignSchoolStatus.SUBMITTED:
        school.submitted_at = utcnow()
    elif status is CampaignSchoolStatus.RETURNED:
        school.returned_count += 1
    elif status is CampaignSchoolStatus.ACCEPTED:
        school.accepted_at = utcnow()
    school.status = status


def update_facts(instance_id: int, facts: dict[str, Any]) -> None:
    """Update the school's figures on the board without changing where it stands."""
    school = school_of_instance(instance_id)
    if school is not None:
        school.facts = {**(school.facts or {}), **facts}


def deadline(campaign: Campaign, stage_key: str) -> datetime | None:
    """The stage's deadline as the campaign has it now (extensions included)."""
    value = (campaign.deadlines or {}).get(stage_key)
    return datetime.fromisoformat(value) if value else None


def remind(call: Any) -> None:
    """Stand-in for the core's ``campaign.remind``: tell the people of the open tasks of stage ``stage`` (before
    the deadline, or ``when=overdue`` after it)."""
    instance_id = instances.current_instance.get()
    if instance_id is None:
        return
    stage = str(call.inputs.get("stage") or "")
    overdue = call.inputs.get("when") == "overdue"
    open_tasks = db.session.scalars(sa.select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN,
        HumanTask.bpmn_id.in_(sorted(STAGE_TASKS.get(stage, ()))))).all()
    for task in open_tasks:
        title = (_l("Overdue: %(task)s", task=task.name) if overdue
                 else _l("Reminder: %(task)s is due soon", task=task.name))
        notifications.notify_many(notifications.task_recipients(task), "task.reminder", title=title,
                                  link=f"/inbox/tasks/{task.id}", instance_id=instance_id)


def register_stand_ins() -> None:
    """Register the stand-in topic unless the campaign core registered the real one."""
    if REMIND_TOPIC not in services:
        services.register(REMIND_TOPIC, remind)
