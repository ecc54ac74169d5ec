"""Demo credit applications for the demo region: something to do, and something done, for each demo role.

Every application goes through the real services (submit, review), so the demo shows what users would see:
applications waiting at each review level (one for a substitute, "王磊 代 刘芳"), one returned to its teacher,
one not recognised with the reason, one recognised and in the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from webapp.models import HumanTask, Role, User
from webapp.processes.credit_application import applications
from webapp.processes.credit_application.models import Application
from webapp.services import definitions, tasks
from webapp.services import roles as role_service

_SIGNATURE = b"%PDF-1.4\n%YanXun demo evidence "


def _evidence(name: str, number: int) -> list[applications.Upload]:
    return [applications.Upload(name, _SIGNATURE + str(number).encode() + b"\n%%EOF\n")]


def _reviewer(task: HumanTask, application: Application, substitute: bool) -> User:
    """Someone who may decide the review: a holder of its role (or, when asked, their substitute), never the
    applicant."""
    role = {"leader_review": Role.SUBGROUP_LEADER, "school_review": Role.SCHOOL_OFFICER,
            "county_review": Role.COUNTY_OFFICER}[task.bpmn_id]
    holders = sorted(role_service.resolve(role, application.subject_org).holders,
                     key=lambda h: (h.on_behalf_of is None) == substitute)
    for holder in (h.user for h in holders):
        if holder.id != application.teacher_id and tasks.can_act(task, holder):
            return holder
    raise LookupError(f"nobody can do {task.bpmn_id} for application {application.id}")


def _decide(application: Application, decision: str, hours: float | None = None, comment: str = "",
            substitute: bool = False) -> None:
    task = applications.open_task(application, applications.REVIEW_TASKS)
    if task is None:
        raise LookupError(f"application {application.id} has no review waiting")
    reviewer = _reviewer(task, application, substitute)
    limit = applications.review_limit(application)
    applications.review(task, reviewer, decision, hours if hours is not None else limit, comment)


def _apply(teacher: User, number: int, today: date, days_ago: int, **values) -> Application:
    end = today - timedelta(days=days_ago)
    fields = {"start_date": end - timedelta(days=values.pop("days", 0)), "end_date": end, **values}
    return applications.submit(teacher, fields, _evidence("结业证书.pdf", number))


def seed(people: Mapping[str, User], today: date) -> str:
    """Add the demo applications (flushes, never commits); returns a one-line summary."""
    limin, zhaoxue, yangfan, wanglei = people["limin"], people["zhaoxue"], people["yangfan"], people["wanglei"]
    if definitions.latest(applications.PROCESS_KEY) is None or applications.rules_for(limin, today) is None:
        return "no credit applications (deploy workflows/ and load rules/ first)"
    lesson = {"category": "school_based", "item_code": "open_lesson", "level": "school", "hours_requested": 4}
    city = {"category": "centralized", "item_code": "city_training", "level": "city", "days": 4}
    done = []
    # Waiting for the first review (the subgroup leader, or the school where the teacher has none).
    done.append(_apply(limin, 1, today, 3, organiser="北湖区实验小学教研室", description="一年级数学公开课《认识图形》",
                       **lesson))
    # Approved with fewer hours by the first level; now waiting for the school officer, who is away: 王磊 代 刘芳.
    cut = _apply(limin, 2, today, 10, organiser="湘北市教师发展中心", hours_requested=24,
                 description="市级小学数学骨干教师培训（四天）", **city)
    _decide(cut, "approve", 20, "证书注明20学时，按证书认定")
    done.append(cut)
    # Class-teacher training is recognised by the county: school and leader approved, the county decides.
    county = _apply(wanglei, 3, today, 20, category="class_teacher", item_code="class_teacher_topic",
                    level="county", organiser="北湖区教师发展中心", hours_requested=12, days=2,
                    description="班主任专题培训：家校沟通")
    while (task := applications.open_task(county, applications.REVIEW_TASKS)) and task.bpmn_id != "county_review":
        _decide(county, "approve")
    done.append(county)
    # Returned to a new teacher for a clearer certificate.
    returned = _apply(zhaoxue, 4, today, 6, organiser="北湖区实验小学", description="新教师岗前培训",
                      hours_requested=16, **{k: v for k, v in city.items() if k != "days"})
    _decide(returned, "return", comment="请上传加盖公章的结业证书")
    done.append(returned)
    # Not recognised, with the reason on the record.
    rejected = _apply(zhaoxue, 5, today, 30, organiser="某在线平台", description="自学网络课程",
                      hours_requested=30, **{k: v for k, v in city.items() if k != "days"})
    _decide(rejected, "reject", comment="非主管部门组织的培训，不予认定")
    done.append(rejected)
    # Recognised: every review approved, the hours are in the teacher's ledger.
    recognised = _apply(limin, 6, today, 40, organiser="北湖区实验小学教研室", description="二年级语文示范课",
                        **lesson)
    while applications.open_task(recognised, applications.REVIEW_TASKS) is not None:
        _decide(recognised, "approve", substitute=True)  # the school officer is away: 王磊 代 刘芳
    done.append(recognised)
    # In the other county: waiting at its school.
    other = _apply(yangfan, 7, today, 5, organiser="临江县城关小学", description="三年级英语公开课", **lesson)
    _decide(other, "approve")
    done.append(other)
    return f"{len(done)} credit applications"
