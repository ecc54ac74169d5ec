"""Semester summaries (学期总结与自查): what each step of a school's ``semester_summary`` instance does with its
records. Never commits: the views (or the campaign worker) commit once.

The seeds ask for it: [000] 第26条 "学校每学年都应进行校本培训工作的总结和自查"; [003] 七.3(3) "集团总校、各学校做好
网络研修、校本研修学期总结工作"; the teachers' outcomes, [003] 第五步 "完成案例分析、论文、研修日志、个人教学风格总结等
成果"; the semester's hours, [003] 九.2 "每学期修满18学时'研修活动'，获取7学时'研修成果'".

Every action locks the instance first (then its records), the order the engine's own actions take. The hours
come from the ledger, never from what a form says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignSchoolStatus,
    CreditEntry,
    EntrySource,
    HumanTask,
    Membership,
    Org,
    OrgType,
    ProcessInstance,
    Role,
    RoleAssignment,
    TaskStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.processes.semester_summary.models import (
    SELF_CHECK_DUTIES,
    AttachmentKind,
    CountyDecision,
    PersonalStatus,
    PersonalSummary,
    SchoolSummary,
    SelfCheckStatus,
    SubgroupSummary,
    SummaryAttachment,
)
from webapp.processes.semester_summary.stages import (
    CLOSE_MESSAGE,
    COMPILE,
    PERSONAL,
    PROCESS_KEY,
    REVIEW,
    SIGN,
    SUBGROUP,
)
from webapp.services import audit, campaigns, instances, ledger, tasks
from webapp.services import roles as role_service
from webapp.services import uploads as file_uploads
from webapp.services.errors import Conflict, FormRejected, NotAllowed, NotFound, ServiceError
from webapp.services.roles import valid_on
from webapp.services.rules import Rules, rule_set_for
from webapp.services.uploads import Upload

BODY_MAX = 5000
COMMENT_MAX = tasks.COMMENT_MAX_LENGTH
NOTE_MAX = 500


# -- starting -----------------------------------------------------------------------------------------------

def led_subgroups(school: Org, on: date) -> tuple[list[dict[str, str]], list[Org]]:
    """The school's active subgroups with a leader on ``on`` ({code, name, leader login}; of several leaders the
    one who has held the role longest, then the lowest id), and those without one (shown as 无组长)."""
    subgroups = list(db.session.scalars(sa.select(Org).where(
        Org.parent_id == school.id, Org.type == OrgType.SUBGROUP, Org.active.is_(True)).order_by(Org.code)))
    rows = db.session.execute(
        sa.select(RoleAssignment.org_id, User.login)
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == Role.SUBGROUP_LEADER, RoleAssignment.org_id.in_([s.id for s in subgroups]),
               valid_on(RoleAssignment, on), User.active.is_(True))
        .order_by(RoleAssignment.org_id, RoleAssignment.valid_from.asc().nulls_first(), RoleAssignment.id)).all()
    leader: dict[int, str] = {}
    for org_id, login in rows:
        leader.setdefault(org_id, login)
    led = [{"code": s.code, "name": s.name, "leader": leader[s.id]} for s in subgroups if s.id in leader]
    return led, [s for s in subgroups if s.id not in leader]


def start_variables(school: Org, campaign: Campaign) -> dict[str, Any]:
    """``CampaignSpec.start_variables``: the school's active teachers on the launch day (``teachers``, logins)
    and its subgroups that have a leader (``subgroups``)."""
    day = campaign.launched_at.date() if campaign.launched_at else date.today()
    teachers = ledger.teachers_of(school, day)
    if not teachers:
        raise ServiceError(_l("The school has no teachers in post, so no summary can be started for it."))
    led, _without = led_subgroups(school, day)
    return {"teachers": [t.login for t in teachers], "subgroups": led}


# -- reading an instance ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date


def start_data(instance: ProcessInstance) -> dict[str, Any]:
    """The variables the instance started with (as the audit trail has them: no engine state is loaded)."""
    event = db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "instance.start").order_by(AuditEvent.id))
    return dict(((event.after or {}).get("data") or {}) if event else {})


def period_of(instance: ProcessInstance, data: Mapping[str, Any] | None = None) -> Period:
    data = start_data(instance) if data is None else data
    return Period(str(data.get("period") or ""), date.fromisoformat(str(data["period_start"])),
                  date.fromisoformat(str(data["period_end"])))


def personal_deadline(instance: ProcessInstance) -> datetime | None:
    """The personal summaries' deadline: the campaign's (extensions included), else the instance's variable."""
    school = campaigns.school_of_instance(instance.id)
    if school is not None and "personal" in (school.campaign.deadlines or {}):
        return campaigns.deadline(school.campaign, "personal")
    value = start_data(instance).get("personal_deadline")
    return datetime.fromisoformat(str(value)) if value else None


def _lock(task: HumanTask, bpmn_id: str) -> HumanTask:
    """Lock the task's instance, re-read the task; refuse a task of another step or one already done."""
    if task.bpmn_id != bpmn_id:
        raise NotFound(_l("This task is not part of a semester summary."))
    instances.lock_instance(task.instance_id)
    db.session.refresh(task)
    if task.status is not TaskStatus.OPEN:
        raise Conflict(_l("This task has already been completed or cancelled."))
    return task


def _check_text(errors: dict[str, list[str]], field: str, text: str, limit: int, required: Any | None) -> str:
    text = (text or "").strip()
    if required is not None and not text:
        errors.setdefault(field, []).append(str(required))
    if len(text) > limit:
        errors.setdefault(field, []).append(str(_l("At most %(n)d characters.", n=limit)))
    return text


# -- hours from the ledger ----------------------------------------------------------------------------------

def _live_entries(user_ids: Iterable[int] | sa.Select, period: Period) -> sa.Select:
    """Counted hours per (teacher, category) of the live entries earned in the period: neither reversals nor
    entries a reversal took back."""
    reversal = aliased(CreditEntry)
    taken_back = sa.select(reversal.reverses_id).where(reversal.reverses_id.is_not(None))
    return (sa.select(CreditEntry.user_id, CreditEntry.category, sa.func.sum(CreditEntry.counted_hours))
            .where(CreditEntry.user_id.in_(user_ids), CreditEntry.earned_on.between(period.start, period.end),
                   CreditEntry.source != EntrySource.REVERSAL, CreditEntry.id.not_in(taken_back))
            .group_by(CreditEntry.user_id, CreditEntry.category))


def _rules_for(org: Org, period: Period) -> Rules | None:
    rule_set = rule_set_for(org, period.end)
    return Rules(rule_set) if rule_set else None


def _category_lines(rules: Rules | None, by_category: Mapping[str, float]) -> list[dict[str, Any]]:
    """Hours per category of the rule set, a parent summing its subcategories; categories the rule set does not
    know are listed by code."""
    lines = []
    known: set[str] = set()
    if rules is not None:
        for code in rules.categories:
            subtree = rules.subtree(code)
            known |= subtree
            lines.append({"code": code, "name": rules.category_name(code),
                          "parent": rules.categories[code].get("parent"),
                          "hours": round(sum(by_category.get(c, 0.0) for c in subtree), 2)})
    lines.extend({"code": code, "name": code, "parent": None, "hours": round(hours, 2)}
                 for code, hours in sorted(by_category.items()) if code not in known)
    return lines


def _in_semester(progress_period: Any, period: Period) -> bool:
    """A period that ends in the semester or contains it (the semester, the school year, a cycle around it)."""
    return (progress_period.start <= period.start and progress_period.end >= period.end) or \
        period.start <= progress_period.end <= period.end


def _due_in(progress_period: Any, period: Period) -> bool:
    """A period that ends in the semester: its lines are judged now (a school year or a cycle around the semester
    is still running, so its lines are shown but not yet judged)."""
    return period.start <= progress_period.end <= period.end


def _requirement_lines(progress: ledger.Progress, period: Period) -> list[tuple[tuple[str, str], str, Any, bool]]:
    """((period kind, category), label, line, due in the semester) of every line with a minimum in a period of
    the semester."""
    found = []
    for period_progress in progress.periods:
        if not _in_semester(period_progress.period, period):
            continue
        due = _due_in(period_progress.period, period)
        for line in period_progress.lines:
            if line.has_minimum:
                label = f"{period_progress.period.name} · {line.name} {'>' if line.exclusive else '≥'} {line.minimum:g}"
                found.append(((period_progress.period.kind, line.category or ""), label, line, due))
    return found


def semester_hours(teacher: User, school: Org, period: Period) -> dict[str, Any]:
    """The teacher's semester from the ledger: counted hours per category of the entries earned in the period,
    and the rule set's requirement lines of the periods ending in or containing the semester."""
    by_category = {category: float(hours or 0) for _user, category, hours in
                   db.session.execute(_live_entries([teacher.id], period))}
    rules = _rules_for(teacher.org or school, period)
    progress = ledger.progress_of_many([teacher], period.end, fallback_org=school)[teacher.id]
    return {"categories": _category_lines(rules, by_category),
            "lines": [{"label": label, "counted": line.counted, "minimum": line.minimum, "met": line.met}
                      for _key, label, line, _due in _requirement_lines(progress, period)]}


def aggregates(school: Org, teachers: list[User], period: Period) -> dict[str, Any]:
    """The school's figures for the semester, from the ledger: hours per category (the live entries earned in
    the period by the teachers asked for a summary), per requirement line the number of teachers below its
    minimum, and the attainment rate: the teachers meeting every line due in the semester (of the periods ending in
    it) over all of them, None when no line is due (the school year's and the cycle's lines are judged when they
    end)."""
    by_category: dict[str, float] = {}
    if teachers:
        for _user, category, hours in db.session.execute(_live_entries([t.id for t in teachers], period)):
            by_category[category] = by_category.get(category, 0.0) + float(hours or 0)
    progress = ledger.progress_of_many(teachers, period.end, fallback_org=school) if teachers else {}
    below: dict[tuple[str, str], dict[str, Any]] = {}
    meeting, judged = 0, False
    for teacher in teachers:
        lines = _requirement_lines(progress[teacher.id], period)
        due = [line for _k, _l, line, is_due in lines if is_due]
        judged = judged or bool(due)
        if progress[teacher.id].rule_set is not None and due and all(line.met for line in due):
            meeting += 1
        for key, label, line, is_due in lines:
            row = below.setdefault(key, {"label": label, "below": 0, "due": is_due})
            row["below"] += 0 if line.met else 1
    count = len(teachers)
    return {"teachers": count, "categories": _category_lines(_rules_for(school, period), by_category),
            "requirements": list(below.values()), "meeting": meeting if judged else None,
            "attainment_rate": round(meeting / count, 4) if count and judged else None}


# -- personal summaries -------------------------------------------------------------------------------------

def personal_for(task: HumanTask) -> PersonalSummary:
    """The teacher's summary of this instance (created as a draft the first time)."""
    if task.assignee_id is None:
        raise NotFound(_l("This task is not part of a semester summary."))
    found = personal_of(task)
    if found is not None:
        return found
    instance = task.instance
    data = start_data(instance)
    found = PersonalSummary(instance_id=instance.id, campaign_id=_campaign_id(instance),
                            school_id=instance.subject_org_id, teacher_id=task.assignee_id,
                            period=str(data.get("period") or ""))
    db.session.add(found)
    db.session.flush()
    return found


def personal_of(task: HumanTask) -> PersonalSummary | None:
    """The teacher's summary of this instance, if one was started."""
    return db.session.scalar(sa.select(PersonalSummary).where(
        PersonalSummary.instance_id == task.instance_id, PersonalSummary.teacher_id == task.assignee_id))


def personal_task(summary: PersonalSummary) -> HumanTask | None:
    """The teacher's open task for this summary, if any."""
    return db.session.scalar(sa.select(HumanTask).where(
        HumanTask.instance_id == summary.instance_id, HumanTask.bpmn_id == PERSONAL,
        HumanTask.assignee_id == summary.teacher_id, HumanTask.status == TaskStatus.OPEN))


def _campaign_id(instance: ProcessInstance) -> int | None:
    school = campaigns.school_of_instance(instance.id)
    return school.campaign_id if school is not None else None


def _add_attachments(summary: PersonalSummary, files: Mapping[str, list[Upload]], actor: User) -> None:
    present = {(a.kind.value, a.sha256) for a in summary.attachments}
    for kind, items in files.items():
        for upload in items:
            if (kind, upload.sha256) in present:
                continue
            present.add((kind, upload.sha256))
            summary.attachments.append(SummaryAttachment(
                kind=AttachmentKind(kind), file_name=upload.base_name, content_type=upload.content_type,
                size=len(upload.data), sha256=upload.sha256, storage_path=file_uploads.store(upload),
                uploaded_by_id=actor.id))


def save_personal(task: HumanTask, actor: User, body: str, files: Mapping[str, list[Upload]] | None = None,
                  remove_ids: Iterable[int] = (), *, submit: bool = True) -> PersonalSummary:
    """Save the teacher's summary and its outcome files; with ``submit``, snapshot the semester's hours and
    complete the task. Raises :class:`FormRejected` listing every problem (nothing is saved then)."""
    _lock(task, PERSONAL)
    tasks.authorise_complete(task, actor)
    summary = personal_for(task)
    files = {kind: list(items) for kind, items in (files or {}).items() if items}
    errors: dict[str, list[str]] = {}
    body = _check_text(errors, "body", body, BODY_MAX, _l("Write your personal summary.") if submit else None)
    for kind, items in files.items():
        if kind not in AttachmentKind.__members__.values():
            errors.setdefault(kind, []).append(str(_l("Unknown kind of file.")))
            continue
        if messages := file_uploads.check(items):
            errors.setdefault(kind, []).extend(messages)
    removing = {int(i) for i in remove_ids}
    kept = len([a for a in summary.attachments if a.id not in removing])
    if kept + sum(len(items) for items in files.values()) > file_uploads.max_files() * len(AttachmentKind):
        errors.setdefault("body", []).append(str(_l("Attach at most %(n)d files.",
                                                    n=file_uploads.max_files() * len(AttachmentKind))))
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    summary.body = body
    for attachment in list(summary.attachments):
        if attachment.id in removing:
            summary.attachments.remove(attachment)
    _add_attachments(summary, files, actor)
    db.session.flush()
    if not submit:
        audit.record("summary.personal_save", actor=actor, obj=summary, instance_id=task.instance_id)
        return summary
    instance = task.instance
    summary.hours = semester_hours(summary.teacher, instance.subject_org, period_of(instance))
    summary.status = PersonalStatus.SUBMITTED
    summary.submitted_at = utcnow()
    db.session.flush()
    instances.complete_task(task, actor, {"withdrawn": False}, tasks.authorise_complete)
    refresh_facts(instance)
    return summary


@dataclass(frozen=True)
class CollectionRow:
    teacher: User
    #: ``submitted``, ``open`` (still writing), ``missing`` (the collection closed without it) or ``withdrawn``.
    status: str
    summary: PersonalSummary | None
    task: HumanTask


def collection(instance: ProcessInstance) -> list[CollectionRow]:
    """One row per teacher asked for a personal summary (none is ever dropped), by name."""
    rows = db.session.execute(
        sa.select(HumanTask, User).join(User, User.id == HumanTask.assignee_id)
        .where(HumanTask.instance_id == instance.id, HumanTask.bpmn_id == PERSONAL)
        .order_by(User.display_name, User.id, HumanTask.id)).all()
    summaries = {s.teacher_id: s for s in db.session.scalars(
        sa.select(PersonalSummary).where(PersonalSummary.instance_id == instance.id))}
    result: dict[int, CollectionRow] = {}
    for task, teacher in rows:
        summary = summaries.get(teacher.id)
        if summary is not None and summary.status in (PersonalStatus.SUBMITTED, PersonalStatus.WITHDRAWN,
                                                      PersonalStatus.MISSING):
            status = summary.status.value
        else:
            status = "open" if task.status is TaskStatus.OPEN else "missing"
        result[teacher.id] = CollectionRow(teacher, status, summary, task)
    return list(result.values())


def collection_counts(instance: ProcessInstance) -> dict[str, int]:
    rows = collection(instance)
    counts = {"submitted": 0, "open": 0, "missing": 0, "withdrawn": 0}
    for row in rows:
        counts[row.status] += 1
    return counts


def refresh_facts(instance: ProcessInstance) -> None:
    """The board's figures: personal summaries in / expected (withdrawn teachers are no longer expected)."""
    counts = collection_counts(instance)
    campaigns.record_facts(instance, {"personal_in": counts["submitted"],
                                      "personal_expected": sum(counts.values()) - counts["withdrawn"]})


def is_school_officer(user: User, school: Org) -> bool:
    return any(h.user.id == user.id for h in role_service.resolve(Role.SCHOOL_OFFICER, school).holders)


def close_collection(instance: ProcessInstance, actor: User, now: datetime | None = None) -> list[CollectionRow]:
    """截止收集: the school officer ends the collection once the personal deadline has passed; the teachers still
    writing are recorded as missing (never dropped) and the process goes on to the subgroup summaries."""
    def authorise(locked: ProcessInstance, user: User) -> None:
        if not is_school_officer(user, locked.subject_org):
            raise NotAllowed(_l("Only the school's training officer can close the collection."))

    authorise(instance, actor)
    deadline = personal_deadline(instance)
    moment = now or datetime.now(UTC)
    if deadline is not None and moment < deadline:
        raise Conflict(_l("The deadline for personal summaries has not passed, so the collection cannot be "
                          "closed yet."))
    instances.lock_instance(instance.id)
    db.session.refresh(instance)
    if CLOSE_MESSAGE not in (instance.waiting_messages or []):
        raise Conflict(_l("The collection of personal summaries is already closed."))
    still_open = [task for task in db.session.scalars(sa.select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.bpmn_id == PERSONAL, HumanTask.status == TaskStatus.OPEN))]
    for task in still_open:
        summary = personal_for(task)
        summary.status = PersonalStatus.MISSING
    db.session.flush()
    instances.deliver_message(instance.id, CLOSE_MESSAGE, {}, actor, authorise)
    audit.record("summary.close_collection", actor=actor, obj=instance, instance_id=instance.id,
                 after={"missing": len(still_open)})
    refresh_facts(instance)
    return collection(instance)


def withdrawn(task: HumanTask, reason: str) -> None:
    """``on_withdrawn``: the teacher left the school before submitting; the summary says so, with the reason."""
    if task.bpmn_id != PERSONAL or task.assignee_id is None:
        return
    summary = personal_for(task)
    if summary.status is not PersonalStatus.SUBMITTED:
        summary.status = PersonalStatus.WITHDRAWN
        summary.withdrawn_reason = reason
    db.session.flush()
    refresh_facts(task.instance)


# -- subgroup summaries ------------------------------------------------------------------------------------

def subgroup_of(task: HumanTask) -> Org:
    """The subgroup a SubgroupSummary task is for: the multi-instance's own ``subgroup`` while the task is open;
    once done, the one its summary was written for."""
    info = instances.user_task_info(task) if task.status is TaskStatus.OPEN else None
    code = ((info.local if info is not None else {}).get("subgroup") or {}).get("code")
    if code:
        found = db.session.scalar(sa.select(Org).where(Org.code == code, Org.parent_id == task.subject_org_id))
        if found is not None:
            return found
    done = db.session.scalar(sa.select(SubgroupSummary).where(
        SubgroupSummary.instance_id == task.instance_id, SubgroupSummary.leader_id == task.assignee_id))
    if done is not None:
        return done.subgroup
    raise NotFound(_l("This task is not part of a semester summary."))


@dataclass(frozen=True)
class MemberRow:
    teacher: User
    status: str
    summary: PersonalSummary | None


def members(instance: ProcessInstance, subgroup: Org) -> list[MemberRow]:
    """The subgroup's members asked for a personal summary, with theirs (submitted / missing / ...)."""
    member_ids = set(db.session.scalars(sa.select(Membership.user_id).where(Membership.org_id == subgroup.id)))
    member_ids |= set(db.session.scalars(sa.select(RoleAssignment.user_id).where(
        RoleAssignment.org_id == subgroup.id, RoleAssignment.role == Role.TEACHER)))
    return [MemberRow(row.teacher, row.status, row.summary) for row in collection(instance)
            if row.teacher.id in member_ids]


def submit_subgroup(task: HumanTask, actor: User, body: str) -> SubgroupSummary:
    _lock(task, SUBGROUP)
    tasks.authorise_complete(task, actor)
    errors: dict[str, list[str]] = {}
    body = _check_text(errors, "body", body, BODY_MAX, _l("Write the subgroup's summary."))
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    subgroup = subgroup_of(task)
    record = db.session.scalar(sa.select(SubgroupSummary).where(
        SubgroupSummary.instance_id == task.instance_id, SubgroupSummary.subgroup_id == subgroup.id))
    if record is None:
        record = SubgroupSummary(instance_id=task.instance_id, subgroup_id=subgroup.id, leader_id=actor.id)
        db.session.add(record)
    record.body, record.leader_id, record.submitted_at = body, actor.id, utcnow()
    db.session.flush()
    instances.complete_task(task, actor, {}, tasks.authorise_complete)
    return record


# -- the school's summary -----------------------------------------------------------------------------------

def school_summary(instance: ProcessInstance, *, create: bool = False) -> SchoolSummary | None:
    found = db.session.scalar(sa.select(SchoolSummary).where(SchoolSummary.instance_id == instance.id))
    if found is None and create:
        found = SchoolSummary(instance_id=instance.id, campaign_id=_campaign_id(instance),
                              school_id=instance.subject_org_id, period=str(start_data(instance).get("period") or ""))
        db.session.add(found)
        db.session.flush()
    return found


def teachers_asked(instance: ProcessInstance) -> list[User]:
    """The teachers asked for a personal summary, less those who left the school since (withdrawn)."""
    return [row.teacher for row in collection(instance) if row.status != "withdrawn"]


def compile_view(instance: ProcessInstance) -> dict[str, Any]:
    """What the compile page shows: the aggregates now, the collection, the subgroups with and without a summary."""
    period = period_of(instance)
    rows = collection(instance)
    _led, without = led_subgroups(instance.subject_org, period.end if period.end < date.today() else date.today())
    subgroup_summaries = list(db.session.scalars(sa.select(SubgroupSummary).where(
        SubgroupSummary.instance_id == instance.id).order_by(SubgroupSummary.id)))
    return {"period": period, "aggregates": aggregates(instance.subject_org, teachers_asked(instance), period),
            "collection": rows, "without_leader": without, "subgroup_summaries": subgroup_summaries}


def compile_summary(task: HumanTask, actor: User, self_check: Mapping[str, Mapping[str, Any]], newsletters: Any,
                    body: str) -> SchoolSummary:
    """The school officer's compilation: the self-check of the four duties, the newsletters, the summary; the
    ledger's aggregates and the missing teachers are recorded as they are now."""
    _lock(task, COMPILE)
    tasks.authorise_complete(task, actor)
    errors: dict[str, list[str]] = {}
    checked: dict[str, dict[str, str]] = {}
    statuses = {s.value for s in SelfCheckStatus}
    for duty in SELF_CHECK_DUTIES:
        item = self_check.get(duty) or {}
        status = str(item.get("status") or "")
        if status not in statuses:
            errors.setdefault(duty, []).append(str(_l("Choose how far this duty was carried out.")))
        note = _check_text(errors, f"{duty}_note", str(item.get("note") or ""), NOTE_MAX, None)
        checked[duty] = {"status": status, "note": note}
    try:
        count = int(newsletters)
        if count < 0:
            raise ValueError
    except (TypeError, ValueError):
        errors.setdefault("newsletters", []).append(str(_l("Enter the number of newsletters, 0 or more.")))
        count = 0
    body = _check_text(errors, "body", body, BODY_MAX, _l("Write the school's summary."))
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    instance = task.instance
    record = school_summary(instance, create=True)
    view = compile_view(instance)
    record.self_check, record.newsletters, record.body = checked, count, body
    record.aggregates = view["aggregates"]
    record.missing_teachers = [{"login": row.teacher.login, "name": row.teacher.display_name, "status": row.status}
                               for row in view["collection"] if row.status in ("missing", "open")]
    record.compiled_by_id, record.compiled_at = actor.id, utcnow()
    record.signed_by_id = record.signed_at = None
    db.session.flush()
    instances.complete_task(task, actor, {}, tasks.authorise_complete)
    return record


def _decision(errors: dict[str, list[str]], decision: str, allowed: tuple[str, str], comment: str) -> str:
    if decision not in allowed:
        errors["decision"] = [str(_l("Choose one of the listed options."))]
    comment = _check_text(errors, "comment", comment, COMMENT_MAX, None)
    if decision == "return" and not comment:
        errors.setdefault("comment", []).append(str(_l("Give the reason for returning it.")))
    return comment


def sign(task: HumanTask, actor: User, decision: str, comment: str = "") -> SchoolSummary:
    """The principal signs (it goes to the county: the board shows it submitted) or returns it with a reason."""
    _lock(task, SIGN)
    tasks.authorise_complete(task, actor)
    errors: dict[str, list[str]] = {}
    comment = _decision(errors, decision, ("sign", "return"), comment)
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    record = school_summary(task.instance, create=True)
    record.sign_comment = comment or None
    if decision == "sign":
        record.signed_by_id, record.signed_at = actor.id, utcnow()
    else:
        record.returned_count += 1
    db.session.flush()
    data = {"decision": "approve" if decision == "sign" else "return", "signed": decision == "sign", "comment": comment}
    instances.complete_task(task, actor, data, tasks.authorise_complete)
    if decision == "sign":
        campaigns.record(task.instance, CampaignSchoolStatus.SUBMITTED, facts=_facts(task.instance))
    return record


def county_review(task: HumanTask, actor: User, decision: str, comment: str = "") -> SchoolSummary:
    """The county accepts the school's summary or returns it with comments (they show on the timeline)."""
    _lock(task, REVIEW)
    tasks.authorise_complete(task, actor)
    errors: dict[str, list[str]] = {}
    comment = _decision(errors, decision, ("accept", "return"), comment)
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    record = school_summary(task.instance, create=True)
    accepted = decision == "accept"
    record.county_decision = CountyDecision.ACCEPTED if accepted else CountyDecision.RETURNED
    record.county_comment = comment or None
    record.decided_by_id, record.decided_at = actor.id, utcnow()
    if not accepted:
        record.returned_count += 1
    db.session.flush()
    data = {"decision": "approve" if accepted else "return", "accepted": accepted, "comment": comment}
    instances.complete_task(task, actor, data, tasks.authorise_complete)
    campaigns.record(task.instance, CampaignSchoolStatus.ACCEPTED if accepted
                         else CampaignSchoolStatus.RETURNED, facts=_facts(task.instance))
    return record


def _facts(instance: ProcessInstance) -> dict[str, int]:
    counts = collection_counts(instance)
    return {"personal_in": counts["submitted"], "personal_expected": sum(counts.values()) - counts["withdrawn"]}


# -- the API and seeing ----------------------------------------------------------------------------------

def complete_from_api(task: HumanTask, actor: User, data: Mapping[str, Any]) -> None:
    """The API completes the steps with the same rules as the pages (files are uploaded on the page only)."""
    body, comment = str(data.get("body") or ""), str(data.get("comment") or "")
    if task.form_key == "summary.personal":
        save_personal(task, actor, body)
    elif task.form_key == "summary.subgroup":
        submit_subgroup(task, actor, body)
    elif task.form_key == "summary.compile":
        compile_summary(task, actor, data.get("self_check") or {}, data.get("newsletters"), body)
    elif task.form_key == "summary.sign":
        sign(task, actor, str(data.get("decision") or ""), comment)
    elif task.form_key == "summary.county_review":
        county_review(task, actor, str(data.get("decision") or ""), comment)
    else:
        raise ServiceError(_l("This task is not part of a semester summary."), field="data")


def mine(teacher: User) -> sa.Select:
    """The teacher's personal summaries, newest first."""
    return (sa.select(PersonalSummary).where(PersonalSummary.teacher_id == teacher.id)
            .order_by(PersonalSummary.created_at.desc(), PersonalSummary.id.desc()))


def may_watch(instance: ProcessInstance, user: User) -> bool:
    """The school's collection page: its training officer and principal, the county centre above it and the
    administrators; a teacher sees only their own summary."""
    if role_service.has_role(user, Role.ADMIN):
        return True
    school = instance.subject_org
    return any(h.user.id == user.id for role in (Role.SCHOOL_OFFICER, Role.PRINCIPAL, Role.COUNTY_OFFICER)
               for h in role_service.resolve(role, school).holders)


def watched_by(user: User) -> sa.Select:
    """The summaries of the schools where ``user`` is the training officer or the principal, newest first."""
    schools = sa.select(RoleAssignment.org_id).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role.in_([Role.SCHOOL_OFFICER, Role.PRINCIPAL]),
        valid_on(RoleAssignment, date.today()))
    return (sa.select(ProcessInstance).where(ProcessInstance.process_key == PROCESS_KEY,
                                             ProcessInstance.subject_org_id.in_(schools))
            .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()))
