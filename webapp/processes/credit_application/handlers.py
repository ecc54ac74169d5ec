"""Service-task handlers of the credit_application process (topics ``credit.check``, ``credit.post``,
``credit.notify``), registered on the runtime's registry when the package is registered.

All three are synchronous: they run inside the action that reaches them (the teacher's submit, a
reviewer's decision, the timer tick), in its transaction, and read the business record through the
``application_id`` process variable. See ``workflows/credit_application/README.md`` for the contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from webapp.engine.services import ServiceCall
from webapp.extensions import db
from webapp.models import AuditEvent, CreditEntry, EntrySource, ProcessInstance, Role, RuleSet
from webapp.models.base import utcnow
from webapp.processes.credit_application.models import RELEASED_STATUSES, Application, ApplicationStatus, Evidence
from webapp.services import approvals, instances, ledger, notifications
from webapp.services import roles as role_service
from webapp.services.rules import LEVELS, Rules, rule_set_for

CHECK, POST, NOTIFY = "credit.check", "credit.post", "credit.notify"


def _application(call: ServiceCall) -> Application:
    application = db.session.get(Application, int(call.data["application_id"]))
    if application is None:
        raise LookupError(f"application {call.data['application_id']} does not exist")
    if application.instance_id not in (None, instances.current_instance.get()):
        raise LookupError(f"application {application.id} belongs to another process instance")
    return application


def county_recognisers() -> set[str]:
    raw = current_app.config["YANXUN"]["CREDIT_COUNTY_RECOGNISERS"]
    return {code.strip() for code in str(raw).split(",") if code.strip()}


def needs_county(rules: Rules, category: str, item: str | None) -> bool:
    """Whether credits of this category/item are recognised above the school (``recognised_by``)."""
    return (rules.recogniser(category, item) or "school") in county_recognisers()


# -- notifications (written through webapp.services.notifications, in the recipient's language) ----------

def _link(application: Application) -> str:
    return f"/applications/{application.id}"


# -- credit.check -------------------------------------------------------------------------------------------

def problems_of(application: Application, today: date | None = None) -> tuple[list[Any], Rules | None]:
    """Eligibility, caps and duplicate-evidence problems of ``application`` (lazy strings), and its rules."""
    problems: list[Any] = []
    teacher = application.teacher
    rule_set = rule_set_for(teacher.org, application.end_date)
    if rule_set is None:
        return [_l("No credit rule set is in force for your school on %(date)s.",
                   date=application.end_date.isoformat())], None
    rules = Rules(rule_set)
    application.rule_set_id = rule_set.id
    if application.category not in rules.categories:
        problems.append(_l("The category %(category)s is not in the rule set %(code)s.",
                           category=application.category, code=rule_set.code))
    item = rules.items.get(application.item_code) if application.item_code else None
    if application.item_code and item is None:
        problems.append(_l("The item %(item)s is not in the rule set's catalogue.", item=application.item_code))
    elif item is not None and item["category"] != application.category:
        problems.append(_l("The item %(item)s belongs to another category.", item=item["name"]))
    if application.level and application.level not in LEVELS:
        problems.append(_l("Unknown training level %(level)s.", level=application.level))
    if application.end_date > (today or date.today()):
        problems.append(_l("The training has not ended yet; apply after it ends."))
    hours = float(application.hours_requested)
    if item is not None:
        default = rules.default_hours(application.item_code, application.level)
        if default is not None and hours > default + 1e-9:
            problems.append(_l("%(item)s counts at most %(max)s hours per occurrence.", item=item["name"],
                               max=f"{default:g}"))
        for bound in (item.get("caps") or {}).values():
            if hours > float(bound["max"]) + 1e-9:
                problems.append(_l("%(item)s counts at most %(max)s per period.", item=item["name"],
                                   max=f"{float(bound['max']):g}"))
    if not application.evidence:
        problems.append(_l("Attach at least one evidence file."))
    problems.extend(_duplicate_evidence(application, rules))
    return problems, rules


def _duplicate_evidence(application: Application, rules: Rules) -> Iterable[Any]:
    """One problem per file already used: in the teacher's own application (named, which helps her), or by
    someone else (said without whose application or where: it may be another school or county).

    Between two live applications the earlier one keeps the file, so a returned and resubmitted application
    is never refused because of a later one that reused its file (which is itself refused while the first
    lives). The same file may back two categories that ``shared_evidence`` lets share an outcome, in flight
    or recognised."""
    hashes = {evidence.sha256: evidence.file_name for evidence in application.evidence}
    if not hashes:
        return
    used_by_others: set[str] = set()
    other = aliased(Application)
    rows = db.session.execute(
        sa.select(Evidence.sha256, other.id, other.teacher_id, other.category)
        .join(other, other.id == Evidence.application_id)
        .where(Evidence.sha256.in_(list(hashes)), other.id < application.id,
               other.status.not_in([*RELEASED_STATUSES, ApplicationStatus.DRAFT]))
        .order_by(other.id)).all()
    for sha, other_id, teacher_id, category in rows:
        if teacher_id != application.teacher_id:
            used_by_others.add(sha)
        elif category == application.category or not rules.may_share(category, application.category):
            yield _l("The file %(name)s was already used in your application no. %(id)s.", name=hashes[sha],
                     id=other_id)
    reversal = aliased(CreditEntry)
    entries = db.session.scalars(
        sa.select(CreditEntry).where(CreditEntry.evidence_hash.in_(list(hashes)), CreditEntry.reverses_id.is_(None),
                                     ~sa.exists().where(reversal.reverses_id == CreditEntry.id))).all()
    for entry in entries:
        if entry.source == EntrySource.APPLICATION and entry.source_ref == str(application.instance_id):
            continue
        if entry.user_id != application.teacher_id:
            used_by_others.add(entry.evidence_hash)
        elif entry.category == application.category or not rules.may_share(entry.category, application.category):
            yield _l("The file %(name)s already backs a credit entry of %(date)s.",
                     name=hashes[entry.evidence_hash], date=entry.earned_on.isoformat())
    for sha in sorted(used_by_others, key=lambda sha: hashes[sha]):
        yield _l("The file %(name)s has already been used as evidence for credit hours; the same file cannot be "
                 "used twice.", name=hashes[sha])


def check(call: ServiceCall) -> dict[str, Any]:
    application = _application(call)
    problems, rules = problems_of(application)
    with force_locale(notifications.locale_of(application.teacher)):
        texts = [str(problem) for problem in problems]
    if texts:
        application.return_reason = "\n".join(texts)
    return {"check_ok": not texts, "check_problems": texts,
            "needs_county": bool(rules and needs_county(rules, application.category, application.item_code)),
            "hours": float(application.hours_requested)}


# -- credit.post --------------------------------------------------------------------------------------------

#: The reviews a credit needs: each by a holder of its role for the applicant's organisation, all different
#: people, none the applicant; a resubmission (``revise``) makes every review count anew.
CREDIT_REVIEWS = approvals.ReviewPolicy({"leader_review": Role.SUBGROUP_LEADER, "school_review": Role.SCHOOL_OFFICER,
                                         "county_review": Role.COUNTY_OFFICER}, restart="revise")


def leader_reviews(application: Application) -> bool:
    """Does the applicant's own subgroup have a leader other than the applicant (who then reviews first)?"""
    leaders = role_service.resolve(Role.SUBGROUP_LEADER, application.subject_org)
    return (leaders.scope_org is not None and leaders.scope_org.id == application.subject_org_id
            and any(user.id != application.teacher_id for user in leaders.users))


def required_reviews(application: Application, instance: ProcessInstance) -> list[str]:
    """The review steps this application needs, decided by our own records: whether a leader reviews was fixed
    when the instance started (its start record), whether the county does by the rule set the check used."""
    start = db.session.scalar(sa.select(AuditEvent.after).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "instance.start").limit(1)) or {}
    steps = ["leader_review"] if (start.get("data") or {}).get("needs_leader") is True else []
    steps.append("school_review")
    rule_set = (db.session.get(RuleSet, application.rule_set_id) if application.rule_set_id
                else rule_set_for(application.teacher.org, application.end_date))
    if rule_set is None or needs_county(Rules(rule_set), application.category, application.item_code):
        steps.append("county_review")
    return steps


def post(call: ServiceCall) -> dict[str, Any]:
    """Post the approved hours; refuses (nothing is posted) unless the reviews the application needs approved it,
    whatever the running diagram looks like."""
    application = _application(call)
    instance = db.session.get(ProcessInstance, application.instance_id) if application.instance_id else None
    try:
        if instance is None:  # posting while the instance starts: nobody can have reviewed anything
            raise approvals.ReviewMissing(_l("No review step has approved this record."))
        approvers = approvals.require(instance, CREDIT_REVIEWS, required_reviews(application, instance))
    except approvals.ReviewMissing as missing:
        raise PermissionError(f"credit.post refused for application {application.id}: {missing}") from None
    hours = application.hours_approved if application.hours_approved is not None \
        else float(application.hours_requested)
    recogniser = approvers[-1]
    entry = ledger.post_entry(
        application.teacher, earned_on=application.end_date, category=application.category,
        item=application.item_code, hours=hours, level=application.level, source=EntrySource.APPLICATION,
        source_ref=str(application.instance_id), evidence_hash=application.evidence[0].sha256 if application.evidence
        else None, recognised_by=recogniser, recognised_org=recogniser.org if recogniser else None,
        title=_title(application))
    application.credit_entry_id = entry.id
    application.hours_approved = hours
    application.status = ApplicationStatus.RECOGNISED
    application.decided_at = utcnow()
    return {"credit_entry_id": entry.id, "counted_hours": entry.counted_hours}


def _title(application: Application) -> str:
    return (application.organiser or application.item_code or application.category)[:200]


def recognition_words(entry: CreditEntry | None, application: Application) -> Any:
    """What the teacher is told: exactly what counts in the ledger and, when a cap cut it, what does not and why."""
    def number(value: float) -> str:
        return f"{round(float(value), 2):g}"

    if entry is None:
        return _l("%(hours)s hours were recognised.", hours=number(application.hours_approved or 0))
    if entry.counted_hours >= entry.hours and entry.counted_credits >= entry.credits:
        return _l("%(hours)s hours (%(credits)s credits) were recognised and all of them count in your ledger.",
                  hours=number(entry.hours), credits=number(entry.credits))
    if entry.counted_hours <= 0 and entry.counted_credits <= 0:
        return _l("%(hours)s hours (%(credits)s credits) were recognised, but none of them count in your ledger: "
                  "%(reason)s.", hours=number(entry.hours), credits=number(entry.credits),
                  reason=entry.not_counted_reason or "")
    return _l("%(hours)s hours (%(credits)s credits) were recognised; %(counted)s hours (%(counted_credits)s "
              "credits) count in your ledger and %(left)s hours do not: %(reason)s.",
              hours=number(entry.hours), credits=number(entry.credits), counted=number(entry.counted_hours),
              counted_credits=number(entry.counted_credits), left=number(entry.hours - entry.counted_hours),
              reason=entry.not_counted_reason or "")


# -- credit.notify ------------------------------------------------------------------------------------------

def notify_step(call: ServiceCall) -> None:
    """``event`` (input): returned | rejected | recognised (to the teacher, also recording the outcome),
    reminder | escalation (to the holders of the input ``role`` for the applicant's organisation)."""
    application = _application(call)
    event = call.inputs.get("event")
    teacher = application.teacher
    link, instance_id = _link(application), application.instance_id
    if event == "returned":
        application.status = ApplicationStatus.RETURNED
        notifications.notify(teacher, "application.returned", body=application.return_reason or "", link=link,
                             title=_l("Your credit application no. %(id)s was returned for revision",
                                      id=application.id), instance_id=instance_id)
    elif event == "rejected":
        application.status = ApplicationStatus.REJECTED
        application.decided_at = utcnow()
        notifications.notify(teacher, "application.rejected", body=call.data.get("comment") or "", link=link,
                             title=_l("Your credit application no. %(id)s was not recognised", id=application.id),
                             instance_id=instance_id)
    elif event == "recognised":
        entry = db.session.get(CreditEntry, application.credit_entry_id) if application.credit_entry_id else None
        notifications.notify(teacher, "application.recognised",
                             title=_l("Your credit application no. %(id)s was recognised", id=application.id),
                             body=recognition_words(entry, application), link=link, instance_id=instance_id)
    elif event in ("reminder", "escalation"):
        role = Role(call.inputs.get("role"))
        kind = "application.reminder" if event == "reminder" else "application.escalation"
        title = (_l("A credit application is waiting for your review") if event == "reminder"
                 else _l("A credit application has waited too long for review"))
        body = _l("No. %(id)s · %(teacher)s: %(title)s", id=application.id, teacher=teacher.display_name,
                  title=_title(application))
        notifications.notify_many(role_service.resolve(role, application.subject_org).users, kind, title=title,
                                  body=body, link=link, instance_id=instance_id)
    else:
        raise ValueError(f"unknown credit.notify event {event!r}")


#: The service-task topics of the diagram and their handlers (registered when the package is).
HANDLERS = {CHECK: check, POST: post, NOTIFY: notify_step}
