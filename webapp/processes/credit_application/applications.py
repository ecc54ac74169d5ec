"""Credit-hour applications (学时申请与认定): submit with evidence, review, resubmit, withdraw, and who may
see them.

Every change to a running application locks its process instance first (then the application row), the
order the engine's own actions take, so a withdrawal racing a review cannot deadlock.

The application page creates the :class:`Application` and its :class:`Evidence` and starts the
``credit_application`` instance in one transaction; the diagram starts with the automatic checks, so
there is no "submit" user task: the teacher's ``revise`` task (formKey ``credit.application``) exists
only while the application is returned. Reviews (formKey ``credit.review``) are completed through
:func:`review`, which validates the decision and enforces four-eyes before the engine sees it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    HumanTask,
    InstanceStatus,
    Org,
    ProcessInstance,
    TaskStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.processes.credit_application.handlers import leader_reviews, needs_county
from webapp.processes.credit_application.models import RELEASED_STATUSES, Application, ApplicationStatus, Evidence
from webapp.services import audit, instances, tasks, watchers
from webapp.services import uploads as file_uploads
from webapp.services.errors import Conflict, FormRejected, NotAllowed, NotFound, ServiceError
from webapp.services.processes import BulkResult
from webapp.services.rules import LEVELS, Rules, rule_set_for
from webapp.services.uploads import Upload

PROCESS_KEY = "credit_application"
#: The forms of this process's tasks; they are completed only through this module's rules.
FORM_KEYS = frozenset({"credit.application", "credit.review"})
REVIEW_TASKS = ("leader_review", "school_review", "county_review")
REVISE_TASK = "revise"
DECISIONS = ("approve", "return", "reject")
FIELDS = ("category", "item_code", "level", "organiser", "start_date", "end_date", "hours_requested", "description")
ORGANISER_MAX, DESCRIPTION_MAX = 200, 4000


# -- settings and storage (webapp.services.uploads) -----------------------------------------------------------

def _settings() -> dict[str, Any]:
    return current_app.config["YANXUN"]


allowed_types = file_uploads.allowed_types


def evidence_path(evidence: Evidence) -> Path:
    return file_uploads.path_of(evidence.storage_path)


def _add_evidence(application: Application, files: Iterable[Upload], actor: User) -> None:
    present = {e.sha256 for e in application.evidence}
    for upload in files:
        sha = upload.sha256
        if sha in present:
            continue
        present.add(sha)
        application.evidence.append(Evidence(
            file_name=upload.base_name, content_type=upload.content_type, size=len(upload.data), sha256=sha,
            storage_path=file_uploads.store(upload), uploaded_by_id=actor.id))


# -- the catalogue -----------------------------------------------------------------------------------------

def rules_for(teacher: User, on: date | None = None) -> Rules | None:
    rule_set = rule_set_for(teacher.org, on)
    return Rules(rule_set) if rule_set else None


def subject_org_for(teacher: User) -> Org:
    """The teacher's primary subgroup, else their school: where the review chain starts."""
    primary = next((m.org for m in teacher.memberships if m.is_primary), None)
    if primary is None and teacher.org is None:
        raise NotAllowed(_l("You belong to no school, so you cannot apply for credit hours."))
    return primary or teacher.org


def _clean(values: Mapping[str, Any], rules: Rules | None) -> dict[str, Any]:
    """Authoritative validation of the application fields; raises :class:`FormRejected` with every problem."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: Any) -> None:
        errors.setdefault(field, []).append(str(message))

    clean: dict[str, Any] = {}
    category = (values.get("category") or "").strip()
    item = (values.get("item_code") or "").strip() or None
    if rules is None:
        fail("category", _l("No credit rule set is in force for your school."))
    else:
        if category not in rules.categories:
            fail("category", _l("Choose a category from the list."))
        if item is not None and item not in rules.items:
            fail("item_code", _l("Choose an item from the list."))
        elif item is not None and category in rules.categories and rules.items[item]["category"] != category:
            fail("item_code", _l("This item belongs to another category."))
    level = (values.get("level") or "").strip() or None
    if level is not None and level not in LEVELS:
        fail("level", _l("Choose a training level from the list."))
    organiser = (values.get("organiser") or "").strip()
    if not organiser:
        fail("organiser", _l("Name the organiser."))
    elif len(organiser) > ORGANISER_MAX:
        fail("organiser", _l("At most %(n)d characters.", n=ORGANISER_MAX))
    description = (values.get("description") or "").strip()
    if len(description) > DESCRIPTION_MAX:
        fail("description", _l("At most %(n)d characters.", n=DESCRIPTION_MAX))
    start, end = values.get("start_date"), values.get("end_date")
    if not isinstance(start, date):
        fail("start_date", _l("Enter a date such as 2026-09-01."))
    if not isinstance(end, date):
        fail("end_date", _l("Enter a date such as 2026-09-01."))
    elif isinstance(start, date) and end < start:
        fail("end_date", _l("The end date must not be before the start date."))
    elif end > date.today():
        fail("end_date", _l("Apply after the training has ended."))
    try:
        hours = round(float(values.get("hours_requested")), 1)
    except (TypeError, ValueError):
        hours = None
    if hours is None or hours <= 0:
        fail("hours_requested", _l("Enter the hours, a number greater than 0."))
    elif hours > 1000:
        fail("hours_requested", _l("Must be at most %(limit)s.", limit=1000))
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    clean.update(category=category, item_code=item, level=level, organiser=organiser, description=description,
                 start_date=start, end_date=end, hours_requested=hours)
    return clean


def _start_data(application: Application, rules: Rules) -> dict[str, Any]:
    settings = _settings()
    has_leader = leader_reviews(application)
    return {"application_id": application.id, "category": application.category,
            "item": application.item_code or "", "hours": float(application.hours_requested),
            "needs_leader": has_leader,
            "needs_county": needs_county(rules, application.category, application.item_code),
            "reminder_after": settings["CREDIT_REMINDER_AFTER"], "escalate_after": settings["CREDIT_ESCALATE_AFTER"]}


# -- submit, resubmit, withdraw ---------------------------------------------------------------------------

def _lock_user(user: User) -> None:
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())


def _same_live_application(teacher: User, clean: Mapping[str, Any], hashes: set[str]) -> Application | None:
    """A live application of ``teacher`` with these exact fields and files: a double submit."""
    query = sa.select(Application).where(
        Application.teacher_id == teacher.id, Application.status.not_in(RELEASED_STATUSES),
        *(getattr(Application, name) == value if value is not None else getattr(Application, name).is_(None)
          for name, value in clean.items()))
    for candidate in db.session.scalars(query):
        if {e.sha256 for e in candidate.evidence} == hashes:
            return candidate
    return None


def submit(teacher: User, values: Mapping[str, Any], uploads: list[Upload]) -> Application:
    """Create the application with its evidence and start its process, in the caller's transaction.

    Submitting the same fields and files again while the first is alive returns the first (double submit).
    """
    _lock_user(teacher)
    subject = subject_org_for(teacher)
    rules = rules_for(teacher, values.get("end_date") if isinstance(values.get("end_date"), date) else None)
    errors: dict[str, list[str]] = {}
    try:
        clean = _clean(values, rules)
    except FormRejected as rejected:
        errors.update(rejected.errors)
    file_messages = file_uploads.check(uploads)
    if not uploads:
        file_messages.append(str(_l("Attach at least one evidence file.")))
    elif len(uploads) > int(_settings()["EVIDENCE_MAX_FILES"]):
        file_messages.append(str(_l("Attach at most %(n)d files.", n=int(_settings()["EVIDENCE_MAX_FILES"]))))
    if file_messages:
        errors["evidence"] = file_messages
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    hashes = {hashlib.sha256(u.data).hexdigest() for u in uploads}
    existing = _same_live_application(teacher, clean, hashes)
    if existing is not None:
        return existing
    application = Application(teacher=teacher, subject_org=subject, rule_set_id=rules.rule_set.id,
                              status=ApplicationStatus.SUBMITTED, submitted_at=utcnow(), **clean)
    db.session.add(application)
    _add_evidence(application, uploads, teacher)
    db.session.flush()
    instance = instances.start(PROCESS_KEY, by_feature=True, subject_org=subject, initiator=teacher,
                               data=_start_data(application, rules), title=str(_l("Credit hours application")),
                               summary={"application_id": application.id, "hours": clean["hours_requested"],
                                        "category": clean["category"]})
    application.instance_id = instance.id
    audit.record("application.submit", actor=teacher, obj=application, instance_id=instance.id,
                 after=audit.snapshot(application, (*FIELDS, "status")))
    db.session.flush()
    return application


def open_task(application: Application, bpmn_ids: Iterable[str] | None = None) -> HumanTask | None:
    if application.instance_id is None:
        return None
    query = sa.select(HumanTask).where(HumanTask.instance_id == application.instance_id,
                                       HumanTask.status == TaskStatus.OPEN)
    if bpmn_ids is not None:
        query = query.where(HumanTask.bpmn_id.in_(list(bpmn_ids)))
    return db.session.scalars(query.order_by(HumanTask.id)).first()


def resubmit(application: Application, actor: User, values: Mapping[str, Any], uploads: list[Upload],
             remove_ids: Iterable[int] = ()) -> Application:
    """The teacher's revision of a returned application: update it and complete the ``revise`` task."""
    if actor.id != application.teacher_id:
        raise NotAllowed(_l("Only the applicant can revise this application."))
    if application.instance_id is not None:
        instances.lock_instance(application.instance_id)  # before touching the application (see review)
        db.session.refresh(application)
    task = open_task(application, [REVISE_TASK])
    if task is None or application.status is not ApplicationStatus.RETURNED:
        raise Conflict(_l("This application is not waiting for your revision."))
    rules = rules_for(application.teacher, values.get("end_date") if isinstance(values.get("end_date"), date)
                      else None)
    errors: dict[str, list[str]] = {}
    try:
        clean = _clean(values, rules)
    except FormRejected as rejected:
        errors.update(rejected.errors)
    removing = {int(i) for i in remove_ids}
    keep = [e for e in application.evidence if e.id not in removing]
    file_messages = file_uploads.check(uploads)
    if not keep and not uploads:
        file_messages.append(str(_l("Attach at least one evidence file.")))
    elif len(keep) + len(uploads) > int(_settings()["EVIDENCE_MAX_FILES"]):
        file_messages.append(str(_l("Attach at most %(n)d files.", n=int(_settings()["EVIDENCE_MAX_FILES"]))))
    if file_messages:
        errors["evidence"] = file_messages
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    before = audit.snapshot(application, FIELDS)
    for name, value in clean.items():
        setattr(application, name, value)
    for evidence in list(application.evidence):
        if evidence.id in removing:
            application.evidence.remove(evidence)
    db.session.flush()
    _add_evidence(application, uploads, actor)
    application.rule_set_id = rules.rule_set.id
    application.status = ApplicationStatus.SUBMITTED
    application.hours_approved = None
    application.submitted_at = utcnow()
    db.session.flush()
    audit.record("application.resubmit", actor=actor, obj=application, instance_id=application.instance_id,
                 before=before, after=audit.snapshot(application, FIELDS))
    data = {key: value for key, value in _start_data(application, rules).items()
            if key in ("category", "item", "hours", "needs_county")}
    instances.complete_task(task, actor, data, tasks.authorise_complete)
    return application


def withdraw(application: Application, actor: User) -> Application:
    """The teacher takes the application back before the final decision: the instance is cancelled with
    its open tasks (the engine state stays as it was), all in the caller's transaction."""
    if actor.id != application.teacher_id:
        raise NotAllowed(_l("Only the applicant can withdraw this application."))
    if application.instance_id is None:
        raise Conflict(_l("This application can no longer be withdrawn."))
    instance = instances.lock_instance(application.instance_id)
    db.session.refresh(application)
    if instance.status is not InstanceStatus.RUNNING or application.status not in (
            ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED):
        raise Conflict(_l("This application can no longer be withdrawn."))
    before = {"status": application.status.value}
    instance.status = InstanceStatus.CANCELLED
    instance.ended_at = utcnow()
    instance.next_timer_at = None
    instances.sync_tasks(instance, None)
    watchers.instance_ended(instance)  # those copied on the record learn it ended
    application.status = ApplicationStatus.WITHDRAWN
    application.decided_at = utcnow()
    audit.record("instance.withdraw", actor=actor, obj=instance, instance_id=instance.id, before=before,
                 after={"status": "withdrawn", "application_id": application.id})
    db.session.flush()
    return application


def cancelled(instance: ProcessInstance, actor: User, reason: str) -> None:
    """An administrator cancelled the process: the application ends with the reason; its files are free again."""
    application = db.session.scalar(sa.select(Application).where(Application.instance_id == instance.id))
    if application is not None and application.status not in (ApplicationStatus.RECOGNISED,
                                                               ApplicationStatus.WITHDRAWN):
        application.status = ApplicationStatus.CANCELLED
        application.return_reason = reason
        application.decided_at = utcnow()


# -- review -------------------------------------------------------------------------------------------------

def review_limit(application: Application) -> float:
    """The most hours a reviewer may approve now: what the previous level approved, else what was asked."""
    if application.hours_approved is not None:
        return float(application.hours_approved)
    return float(application.hours_requested)


def for_task(task: HumanTask) -> Application | None:
    return db.session.scalar(sa.select(Application).where(Application.instance_id == task.instance_id))


def _approved_elsewhere(task: HumanTask, user: User) -> bool:
    """Did ``user`` approve this instance's application at another review level?"""
    done = db.session.scalars(sa.select(HumanTask.id).where(
        HumanTask.instance_id == task.instance_id, HumanTask.bpmn_id.in_(REVIEW_TASKS),
        HumanTask.bpmn_id != task.bpmn_id, HumanTask.status == TaskStatus.COMPLETED,
        HumanTask.completed_by_id == user.id)).all()
    if not done:
        return False
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "task.complete", AuditEvent.object_type == "human_task",
        AuditEvent.object_id.in_([str(i) for i in done])))
    return any((event.after or {}).get("data", {}).get("decision") == "approve" for event in events)


def authorise_review(task: HumanTask, user: User) -> None:
    """Inbox authorisation plus four-eyes: the applicant never reviews their own application, and nobody
    approves it at two levels."""
    tasks.authorise_complete(task, user)
    if task.instance.initiator_id == user.id:
        raise NotAllowed(_l("You cannot review your own application."))
    if _approved_elsewhere(task, user):
        raise NotAllowed(_l("You already approved this application at an earlier level; another person must "
                            "review it at this level (four-eyes principle)."))


def review(task: HumanTask, actor: User, decision: str, approved_hours: Any = None, comment: str = "") -> HumanTask:
    """Complete a review task with a validated decision; raises :class:`FormRejected` listing every problem."""
    if task.bpmn_id not in REVIEW_TASKS:
        raise NotFound(_l("This task is not a credit application review."))
    application = for_task(task)
    if application is None:
        raise NotFound(_l("This task is not a credit application review."))
    instances.lock_instance(task.instance_id)  # before touching the application: withdraw locks in this order too
    db.session.refresh(task)
    db.session.refresh(application)
    if task.status is not TaskStatus.OPEN:
        raise Conflict(_l("This task has already been completed or cancelled."))
    authorise_review(task, actor)
    comment = (comment or "").strip()
    limit = review_limit(application)
    errors: dict[str, list[str]] = {}
    if decision not in DECISIONS:
        errors["decision"] = [str(_l("Choose approve, return for revision or reject."))]
    hours = None
    if decision == "approve":
        try:
            hours = round(float(approved_hours), 1)
        except (TypeError, ValueError):
            errors["approved_hours"] = [str(_l("Enter the approved hours."))]
        else:
            if hours <= 0:
                errors["approved_hours"] = [str(_l("Approve more than 0 hours, or reject the application."))]
            elif hours > limit + 1e-9:
                errors["approved_hours"] = [str(_l("At most %(limit)s hours can be approved.", limit=f"{limit:g}"))]
            elif hours < limit - 1e-9 and not comment:
                errors["comment"] = [str(_l("Give the reason for approving fewer hours."))]
    elif decision in ("return", "reject") and not comment:
        errors["comment"] = [str(_l("Give the reason for your decision."))]
    if len(comment) > tasks.COMMENT_MAX_LENGTH:
        errors.setdefault("comment", []).append(str(_l("At most %(n)d characters.", n=tasks.COMMENT_MAX_LENGTH)))
    if errors:
        raise FormRejected(_l("Some fields need your attention."), errors)
    if decision == "approve":
        application.hours_approved = hours
    elif decision == "return":
        application.return_reason = comment
    data = {"decision": decision, "approved_hours": hours if hours is not None else 0, "comment": comment,
            "last_reviewer": actor.login, "hours_limit": limit}
    return instances.complete_task(task, actor, data, authorise_review)


def complete_from_api(task: HumanTask, actor: User, data: Mapping[str, Any]) -> None:
    """The API completes a review with the same rules as the page (four-eyes, hours limit, required reasons);
    the teacher's revision is done on the application's page, with its files."""
    if task.form_key == "credit.review":
        review(task, actor, str(data.get("decision") or ""), data.get("approved_hours"), str(data.get("comment") or ""))
        return
    raise ServiceError(_l("This task is done by revising the application and its evidence files in YanXun."),
                       field="data")


# -- seeing -------------------------------------------------------------------------------------------------

def can_see(application: Application, user: User) -> bool:
    """The applicant, and the people in the review chain (anyone who can see one of its tasks)."""
    if application.teacher_id == user.id:
        return True
    if application.instance is None:
        return False
    return tasks.can_see_instance(application.instance, user)


def get_visible(application_id: int, user: User) -> Application:
    application = db.session.get(Application, application_id)
    if application is None or not can_see(application, user):
        raise NotFound(_l("This application does not exist or is not visible to you."))
    return application


def mine(teacher: User) -> sa.Select:
    return (sa.select(Application).where(Application.teacher_id == teacher.id)
            .order_by(Application.created_at.desc(), Application.id.desc()))


# -- bulk review --------------------------------------------------------------------------------------------

def bulk_approve(task_ids: Iterable[int], actor: User, comment: str = "") -> BulkResult:
    """Approve each review task with the hours asked (or approved at the level before) and one comment.

    Every task is approved in its own savepoint: one that cannot be approved (four-eyes, claimed by someone
    else, already done, a failing step) is reported and leaves the others alone.
    """
    result = BulkResult()
    for task_id in dict.fromkeys(task_ids):
        task = db.session.get(HumanTask, task_id)
        if task is None or task.bpmn_id not in REVIEW_TASKS or not tasks.can_see(task, actor):
            continue
        application = for_task(task)
        if application is None:
            continue
        savepoint = db.session.begin_nested()
        try:
            review(task, actor, "approve", review_limit(application), comment)
            savepoint.commit()
            result.approved.append(task)
        except ServiceError as error:
            savepoint.rollback()
            result.refused.append((task, str(error)))
        except instances.ActionFailed as failure:
            savepoint.rollback()
            instances.record_incident(failure)
            result.refused.append((task, str(failure.error)))
    return result
