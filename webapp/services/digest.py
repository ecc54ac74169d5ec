"""The daily digest: one email a day to each person with open tasks, listing what waits for them.

Who gets one and what it says come from the inbox queries of :mod:`webapp.services.tasks` (tasks assigned to
or claimed by the person, and tasks they could claim through their roles, delegations included). A
:class:`TaskDigest` row per person and day, claimed before sending, keeps it to one email a day. Like every
service this flushes and never commits: ``webapp.jobs.send_daily_digests`` commits and sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage

import sqlalchemy as sa
from babel.dates import get_timezone
from flask import current_app
from flask_babel import force_locale, ngettext

from webapp.extensions import db
from webapp.links import public_url
from webapp.models import HumanTask, TaskDigest, User
from webapp.models.base import utcnow
from webapp.services import notifications, tasks

#: The digest lists this many tasks, soonest due first; the counts cover all of them.
LISTED_TASKS = 10


@dataclass
class PendingTasks:
    """What waits for one person: the counts, and the first :data:`LISTED_TASKS` tasks by due date."""

    user: User
    #: Assigned to or claimed by the person.
    assigned: int
    #: Open to the person's roles, nobody has claimed them yet.
    claimable: int
    overdue: int
    soonest: Sequence[HumanTask]

    @property
    def total(self) -> int:
        return self.assigned + self.claimable


def local_day(moment: datetime) -> date:
    """The calendar day of ``moment`` in the configured time zone (TIMEZONE)."""
    return moment.astimezone(get_timezone(current_app.config["YANXUN"]["TIMEZONE"])).date()


def is_digest_time(moment: datetime) -> bool:
    """Is ``moment`` in the first minute of a quarter of the configured DIGEST_HOUR (local time)?

    The embedded ticker sends the digest then, as beat does with Redis: a run cut short is taken up a
    quarter later, and nobody's tasks are looked at every tick of the hour. False when the digest is off.
    """
    hour = current_app.config["YANXUN"]["DIGEST_HOUR"]
    local = moment.astimezone(get_timezone(current_app.config["YANXUN"]["TIMEZONE"]))
    return hour is not None and local.hour == hour and local.minute % 15 == 0


def recipient_ids(day: date, after_id: int = 0) -> list[int]:
    """Active people with an email address and no digest for ``day`` yet, by id (those after ``after_id``)."""
    had_one = sa.exists().where(TaskDigest.user_id == User.id, TaskDigest.day == day)
    return list(db.session.scalars(sa.select(User.id).where(User.id > after_id, User.active.is_(True),
                                                            User.email.is_not(None), User.email != "", ~had_one)
                                   .order_by(User.id)))


def _count(query: sa.Select) -> int:
    return db.session.scalar(query.order_by(None).with_only_columns(sa.func.count(HumanTask.id))) or 0


def pending_for(user: User, now: datetime) -> PendingTasks | None:
    """The open tasks ``user`` can act on, or None when there are none."""
    pairs = tasks.held_pairs(user)
    assigned = _count(tasks.inbox_query(user, tasks.Scope.ASSIGNED, pairs=pairs))
    claimable = tasks.claimable_count(user, pairs)
    if not assigned and not claimable:
        return None
    overdue = _count(tasks.inbox_query(user, tasks.Scope.ALL, pairs=pairs, overdue_at=now))
    soonest = db.session.scalars(tasks.inbox_query(user, tasks.Scope.ALL, pairs=pairs).order_by(None)
                                 .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at,
                                           HumanTask.id).limit(LISTED_TASKS)).all()
    return PendingTasks(user, assigned, claimable, overdue, soonest)


def claim(pending: PendingTasks, day: date) -> TaskDigest | None:
    """Reserve ``day``'s digest of ``pending.user``; None when someone (another run, another worker) has it.

    The caller commits the claim before sending, so a digest goes out at most once: while a competing claim
    is in flight PostgreSQL makes this wait for it, then refuses.
    """
    digest = TaskDigest(user_id=pending.user.id, day=day, task_count=pending.total, claimed_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(digest)
    except sa.exc.IntegrityError:
        return None
    return digest


def mark_sent(digest: TaskDigest) -> None:
    digest.sent_at = utcnow()
    db.session.flush()


def release(digest: TaskDigest) -> None:
    """Give up a claim whose email could not be sent, so a later run that day may try again."""
    db.session.delete(digest)
    db.session.flush()


def build_email(pending: PendingTasks, sender: str, now: datetime) -> EmailMessage:
    """The digest of ``pending`` in its recipient's language, plain text and HTML.

    Links are absolute on ``PUBLIC_BASE_URL`` (:func:`webapp.links.public_url`); without it the email says to
    log in instead.
    """
    user = pending.user
    locale = notifications.locale_of(user)
    with force_locale(locale):
        subject = ngettext("%(num)d task is waiting for you in YanXun", "%(num)d tasks are waiting for you in YanXun",
                     pending.total)
        values = {"pending": pending, "user": user, "now": now, "subject": subject,
                  "lang": locale.replace("_", "-"), "inbox_url": public_url("/inbox/"),
                  "claimable_url": public_url("/inbox/?tab=claimable"),
                  "task_urls": {task.id: public_url(f"/inbox/tasks/{task.id}") for task in pending.soonest}}
        text = current_app.jinja_env.get_template("emails/digest.txt").render(values)
        html = current_app.jinja_env.get_template("emails/digest.html").render(values)
    return notifications.compose_email(subject, sender, user.email, text, html)

