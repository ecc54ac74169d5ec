"""A demo semester summary: the county centre of 北湖区 (曹静) launches this semester's summary over 李敏's
school through the campaign core; 李敏 has submitted hers, the others are still writing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import CampaignSchool, HumanTask, TaskStatus, User
from webapp.processes.semester_summary import records, summaries
from webapp.processes.semester_summary.stages import PERSONAL, PROCESS_KEY, STAGE_TASKS
from webapp.services import campaigns, definitions
from webapp.services.errors import ServiceError
from webapp.services.rules import semester_of


def seed(people: Mapping[str, User], today: date) -> str:
    """Add the demo campaign (flushes, never commits); returns a one-line summary."""
    limin, county_officer = people.get("limin"), people.get("caojing")
    if definitions.latest(PROCESS_KEY) is None or limin is None or county_officer is None or limin.org is None:
        return "no semester summary (deploy workflows/ first)"
    school = limin.org
    semester = semester_of(today)
    deadlines = {key: campaigns.local(datetime.combine(today + timedelta(days=days), time(17)))
                 for key, days in zip(STAGE_TASKS, (14, 21, 28), strict=True)}
    try:
        campaign = campaigns.launch(PROCESS_KEY, title=records.default_title(semester.key), period=semester.key,
                                    period_start=semester.start, period_end=semester.end, org=school.parent,
                                    schools=[school], deadlines=deadlines, actor=county_officer)
        campaigns.start_batch(campaign)
    except ServiceError as error:
        return f"no semester summary ({error})"
    task = db.session.scalar(
        sa.select(HumanTask).join(CampaignSchool, CampaignSchool.instance_id == HumanTask.instance_id)
        .where(CampaignSchool.campaign_id == campaign.id, HumanTask.bpmn_id == PERSONAL,
               HumanTask.assignee_id == limin.id, HumanTask.status == TaskStatus.OPEN))
    if task is not None:
        summaries.save_personal(task, limin, "本学期参加了英语组的研课磨课与主题研修，完成教学设计两篇。"
                                "下学期计划整理个人教学风格总结。")
    return f"1 semester summary campaign ({campaign.started} school)"
