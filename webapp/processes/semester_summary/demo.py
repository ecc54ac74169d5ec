"""Demo semester summaries, run through the campaign core and the package's own services as users would.

- 北湖区 (曹静) launched this semester's summary over its four schools a while ago: the personal summaries were
  due two days ago, so every school is late on the board. 李敏 has hers to write; in her school the training
  officer (刘芳, away: 王磊 代) may now close the collection.
- 临江县 (廖平) launched the same over its schools: at 城关小学 the collection was closed with one teacher
  missing, the subgroups have written theirs, and the compilation waits for the training officer (唐云).
- Last semester 北湖区 ran it over 北湖区实验小学 to the end: compiled, signed, returned once by the county with
  comments, fixed and accepted: the archive has a complete record with its timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Campaign, HumanTask, Org, ProcessInstance, TaskStatus, User
from webapp.processes.semester_summary import records, summaries
from webapp.processes.semester_summary.stages import COMPILE, PERSONAL, PROCESS_KEY, REVIEW, SIGN, STAGE_TASKS, SUBGROUP
from webapp.services import campaigns, definitions, instances, orgs
from webapp.services import roles as role_service
from webapp.services.errors import ServiceError
from webapp.services.rules import semester_of

SELF_CHECK = {"planning": ("done", "学期初制定校本研修计划，经校务会审定"),
              "credit_review": ("done", "每月审核教师学时申请，按时认定"),
              "evaluation": ("partial", "开展了成果展评，交流面还不够广"),
              "archiving": ("done", "活动材料按学期立卷归档")}
SUBGROUP_TEXT = "本组本学期开展集体备课八次、主题研修两次，每位组员上研讨课一节。"
PERSONAL_TEXT = "本学期参加了教研组的研课磨课和主题研修，上公开课一节，完成教学设计两篇，研修日志按周记录。"


def _open(instance_id: int, bpmn_id: str, assignee: User | None = None) -> list[HumanTask]:
    query = sa.select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id,
                                       HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)
    if assignee is not None:
        query = query.where(HumanTask.assignee_id == assignee.id)
    return list(db.session.scalars(query))


def _holder(task: HumanTask, role: str) -> User:
    """Someone who may do ``task`` (held ``role`` for the school), preferring the holder over a substitute."""
    holders = sorted(role_service.resolve(role, task.instance.subject_org).holders,
                     key=lambda h: h.on_behalf_of is not None)
    return holders[0].user


def _launch(officer: User, county: Org, schools: list[Org], semester, today: date) -> Campaign:
    deadlines = {key: campaigns.local(datetime.combine(today + timedelta(days=days), time(17)))
                 for key, days in zip(STAGE_TASKS, (7, 14, 21), strict=True)}
    campaign = campaigns.launch(PROCESS_KEY, title=records.default_title(semester.key), period=semester.key,
                                period_start=semester.start, period_end=semester.end, org=county, schools=schools,
                                deadlines=deadlines, actor=officer)
    while campaigns.start_batch(campaign):
        pass
    return campaign


def _backdate(campaign: Campaign, deadlines: Mapping[str, date], officer: User) -> None:
    """As if launched weeks ago: the stages' deadlines (17:00 local) are those given, the instances know it, and
    the reminders their timers owed since have gone out (so the first tick after start has nothing to catch up)."""
    campaign.deadlines = {**campaign.deadlines, **{
        key: campaigns.local(datetime.combine(day, time(17))).isoformat() for key, day in deadlines.items()}}
    db.session.flush()
    campaigns.apply_deadlines(campaign, officer)
    for row in campaigns.running_rows(campaign):
        instances.fire_due_timers(instances.lock_instance(row.instance_id))


def _write(instance_id: int, teachers: Iterable[User]) -> None:
    for teacher in teachers:
        for task in _open(instance_id, PERSONAL, teacher):
            summaries.save_personal(task, teacher, PERSONAL_TEXT)


def _instance_of(campaign: Campaign, school: Org) -> int:
    return next(row.instance_id for row in campaigns.running_rows(campaign) if row.org_id == school.id)


def _to_compile(instance_id: int, officer: User, missing: Iterable[User]) -> None:
    """Everyone but ``missing`` writes; the officer closes the collection; every subgroup leader writes."""
    skip = {user.id for user in missing}
    _write(instance_id, [task.assignee for task in _open(instance_id, PERSONAL)
                         if task.assignee and task.assignee.id not in skip])
    if _open(instance_id, PERSONAL):
        summaries.close_collection(db.session.get(ProcessInstance, instance_id), officer)
    for task in _open(instance_id, SUBGROUP):
        summaries.submit_subgroup(task, task.assignee, SUBGROUP_TEXT)


def _compile(instance_id: int, body: str) -> None:
    (task,) = _open(instance_id, COMPILE)
    summaries.compile_summary(task, _holder(task, "school_officer"),
                              {duty: {"status": status, "note": note} for duty, (status, note) in SELF_CHECK.items()},
                              2, body)


def seed(people: Mapping[str, User], today: date) -> str:
    """Add the demo campaigns (flushes, never commits); returns a one-line summary."""
    needed = ("limin", "caojing", "liaoping", "tangyun", "yangfan", "huangjianguo")
    if definitions.latest(PROCESS_KEY) is None or any(login not in people for login in needed):
        return "no semester summaries (deploy workflows/ first)"
    limin, caojing, liaoping = people["limin"], people["caojing"], people["liaoping"]
    beihu, linjiang = orgs.find_by_code("XB-BH"), orgs.find_by_code("XB-LJ")
    semester = semester_of(today)
    last = semester_of(semester.start - timedelta(days=1))
    try:
        # Last semester: one school's summary, returned once by the county, then accepted.
        previous = _launch(caojing, beihu, [limin.org], last, today)
        instance_id = _instance_of(previous, limin.org)
        _to_compile(instance_id, people["liufang"], [])
        _compile(instance_id, "上学期围绕“双减”背景下的作业设计开展校本研修，全体教师完成个人总结。")
        (sign,) = _open(instance_id, SIGN)
        summaries.sign(sign, people["huangjianguo"], "sign", "同意上报")
        (review,) = _open(instance_id, REVIEW)
        summaries.county_review(review, caojing, "return", "请补充教师成果交流情况和研修简报期数")
        _compile(instance_id, "上学期围绕“双减”背景下的作业设计开展校本研修；补充：举办成果交流会一次，"
                              "编发研修简报两期。")
        (sign,) = _open(instance_id, SIGN)
        summaries.sign(sign, people["huangjianguo"], "sign", "同意上报")
        (review,) = _open(instance_id, REVIEW)
        summaries.county_review(review, caojing, "accept", "材料齐全，予以验收")
        previous.deadlines = {key: campaigns.local(datetime.combine(last.end - timedelta(days=days), time(17)))
                              .isoformat() for key, days in zip(STAGE_TASKS, (20, 13, 6), strict=True)}

        # This semester, 北湖区: every school late with its personal summaries; 李敏 still writing.
        current = _launch(caojing, beihu, list(db.session.scalars(campaigns.schools_in(beihu))), semester, today)
        for row in campaigns.running_rows(current):
            waiting = [task.assignee for task in _open(row.instance_id, PERSONAL)]
            _write(row.instance_id, [t for t in waiting[: len(waiting) * 2 // 3] if t.id != limin.id])
        _backdate(current, {"personal": today - timedelta(days=2)}, caojing)

        # This semester, 临江县: 城关小学 has closed its collection (杨帆 missing) and waits for the compilation.
        chengguan = people["tangyun"].org
        other = _launch(liaoping, linjiang, list(db.session.scalars(campaigns.schools_in(linjiang))), semester, today)
        for row in campaigns.running_rows(other):
            if row.org_id != chengguan.id:
                waiting = [task.assignee for task in _open(row.instance_id, PERSONAL)]
                _write(row.instance_id, waiting[: len(waiting) // 2])
        _backdate(other, {"personal": today - timedelta(days=2)}, liaoping)
        _to_compile(_instance_of(other, chengguan), people["tangyun"], [people["yangfan"]])
    except ServiceError as error:
        return f"no semester summaries ({error})"
    return "3 semester summary campaigns (last semester accepted; this semester in 北湖区 and 临江县)"
