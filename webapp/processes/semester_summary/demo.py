"""A demo semester summary: the county centre of 北湖区 asks 李敏's school for this semester's summaries; 李敏 has
submitted hers, the others are still writing. Started as the campaign core starts a school's instance, through
the real services."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone

from webapp.models import Campaign, HumanTask, User
from webapp.processes.semester_summary import summaries
from webapp.processes.semester_summary.stages import PERSONAL, PROCESS_KEY, STAGE_TASKS
from webapp.services import definitions, instances
from webapp.services.errors import ServiceError
from webapp.services.rules import semester_of

CST = timezone(timedelta(hours=8))


def variables(period_start: date, period_end: date, period: str, deadlines: Mapping[str, datetime],
              remind_days: int = 3) -> dict[str, object]:
    """The variables the campaign gives an instance: the period and, per stage, its deadline, reminder and
    overdue moments (ISO date-times with +08:00)."""
    data: dict[str, object] = {"period": period, "period_start": period_start.isoformat(),
                               "period_end": period_end.isoformat()}
    for key, deadline in deadlines.items():
        data[f"{key}_deadline"] = deadline.isoformat()
        data[f"{key}_remind_at"] = (deadline - timedelta(days=remind_days)).isoformat()
        data[f"{key}_overdue_at"] = (deadline + timedelta(days=1)).isoformat()
    return data


def seed(people: Mapping[str, User], today: date) -> str:
    """Add the demo summary (flushes, never commits); returns a one-line summary."""
    limin, county_officer = people.get("limin"), people.get("caojing")
    if definitions.latest(PROCESS_KEY) is None or limin is None or county_officer is None or limin.org is None:
        return "no semester summary (deploy workflows/ first)"
    school = limin.org
    semester = semester_of(today)
    period = semester.key  # e.g. 2026-2027-1
    campaign = Campaign(process_key=PROCESS_KEY, period=period, launched_at=datetime.now(CST))
    try:
        data = summaries.start_variables(school, campaign)
    except ServiceError:
        return "no semester summary (the demo school has no teachers)"
    deadlines = {key: datetime.combine(today + timedelta(days=days), time(17), CST)
                 for key, days in zip(STAGE_TASKS, (14, 21, 28), strict=True)}
    data.update(variables(semester.start, semester.end, period, deadlines))
    instance = instances.start(PROCESS_KEY, subject_org=school, initiator=county_officer, data=data, by_feature=True)
    task = next((t for t in instances.open_tasks(instance) if t.bpmn_id == PERSONAL and t.assignee_id == limin.id),
                None)
    if isinstance(task, HumanTask):
        summaries.save_personal(task, limin, "本学期参加了英语组的研课磨课与主题研修，完成教学设计两篇。"
                                "下学期计划整理个人教学风格总结。")
    return f"1 semester summary ({len(data['teachers'])} teachers)"
