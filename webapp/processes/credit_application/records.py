"""What the generic approval pages say about credit applications: the inbox row, search, the category filter,
the changed values of a review on the timeline, and the review steps still to come."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from forms.credit import LEVEL_CHOICES
from webapp.extensions import db
from webapp.models import AuditEvent, HumanTask, ProcessInstance, RuleSet, TaskStatus, User
from webapp.processes.credit_application.applications import REVIEW_TASKS, review_limit
from webapp.processes.credit_application.handlers import required_reviews
from webapp.processes.credit_application.models import Application
from webapp.services import instances
from webapp.services.processes import RowSummary
from webapp.services.rules import Rules

#: How an inbox row and the print header quote an application (the number people say on the phone).
REFERENCE = "{:d}"


def _rules(rule_set_ids: set[int]) -> dict[int, Rules]:
    if not rule_set_ids:
        return {}
    return {rule_set.id: Rules(rule_set) for rule_set in db.session.scalars(
        sa.select(RuleSet).where(RuleSet.id.in_(rule_set_ids)))}


def headline(application: Application, rules: Rules | None) -> str:
    """Category · item · level, in words."""
    parts = [rules.category_name(application.category) if rules else application.category]
    if application.item_code:
        item = rules.items.get(application.item_code) if rules else None
        parts.append(item["name"] if item else application.item_code)
    if application.level:
        parts.append(str(dict(LEVEL_CHOICES).get(application.level, application.level)))
    return " · ".join(parts)


def hours_text(application: Application) -> str:
    asked = f"{float(application.hours_requested):g}"
    approved = application.hours_approved
    if approved is not None and float(approved) != float(application.hours_requested):
        return _("%(asked)s → %(approved)s hours", asked=asked, approved=f"{float(application.hours_approved):g}")
    return _("%(hours)s hours", hours=asked)


def summarise(instance_ids: Sequence[int]) -> dict[int, RowSummary]:
    """The inbox rows of a page: one query for the applications (with teacher and school), one for rule sets."""
    found = list(db.session.scalars(
        sa.select(Application).where(Application.instance_id.in_(list(instance_ids)))
        .options(joinedload(Application.teacher).joinedload(User.org))))
    rules = _rules({a.rule_set_id for a in found if a.rule_set_id})
    rows: dict[int, RowSummary] = {}
    for application in found:
        teacher = application.teacher
        facts = (hours_text(application), teacher.display_name, *((teacher.org.name,) if teacher.org else ()))
        rows[application.instance_id] = RowSummary(
            reference=REFERENCE.format(application.id),
            headline=headline(application, rules.get(application.rule_set_id)),
            facts=facts, amount=review_limit(application), amount_unit=_l("hours"),
            link=f"/applications/{application.id}")  # also built outside a request (notices from workers)
    return rows


def search(text: str) -> sa.Select:
    """Applications by number, teacher name or organiser."""
    text = text.strip().lstrip("#")
    teachers = sa.select(User.id).where(User.display_name.icontains(text, autoescape=True))
    conditions = [Application.organiser.icontains(text, autoescape=True), Application.teacher_id.in_(teachers)]
    if text.isdigit() and len(text) < 18:
        conditions.append(Application.id == int(text))
    return sa.select(Application.instance_id).where(Application.instance_id.is_not(None), sa.or_(*conditions))


def categories_of(task_query: sa.Select) -> list[tuple[str, str]]:
    """(code, name) of the application categories behind the tasks of ``task_query``, for a filter."""
    ids = task_query.order_by(None).with_only_columns(HumanTask.instance_id).scalar_subquery()
    rows = db.session.execute(sa.select(Application.category, Application.rule_set_id).distinct()
                              .where(Application.instance_id.in_(ids))).all()
    rules = _rules({rule_set_id for _code, rule_set_id in rows if rule_set_id})
    names: dict[str, str] = {}
    for code, rule_set_id in rows:
        if code not in names:
            names[code] = rules[rule_set_id].category_name(code) if rule_set_id in rules else code
    return sorted(names.items(), key=lambda pair: pair[1])


def instances_in_category(category: str) -> sa.Select:
    return sa.select(Application.instance_id).where(Application.category == category)


def describe_completion(event: AuditEvent, instance: ProcessInstance) -> list[str]:
    """A review's changed values: "申请 12 学时 → 同意 10 学时" when hours were cut."""
    data = (event.after or {}).get("data") or {}
    if data.get("decision") != "approve" or not data.get("approved_hours"):
        return []
    approved = float(data["approved_hours"])
    limit = data.get("hours_limit")
    if isinstance(limit, int | float) and float(limit) != approved:
        return [_("Asked %(asked)s hours → approved %(approved)s hours", asked=f"{float(limit):g}",
                  approved=f"{approved:g}")]
    return [_("Approved %(hours)s hours", hours=f"{approved:g}")]


def steps_to_come(instance: ProcessInstance) -> list[str]:
    """The review steps this application still needs after the open one, by their names in the diagram."""
    application = db.session.scalar(sa.select(Application).where(Application.instance_id == instance.id))
    if application is None:
        return []
    open_ids = set(db.session.scalars(sa.select(HumanTask.bpmn_id).where(
        HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)))
    required = required_reviews(application, instance)
    current = [step for step in required if step in open_ids]
    if not current:
        return []
    later = required[required.index(current[-1]) + 1:]
    names = instances.task_names(instance)
    return [names[step] for step in later if step in REVIEW_TASKS and step in names]
