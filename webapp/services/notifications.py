"""Notifications: the bell in the navbar, and an email copy when SMTP is configured.

Writing: :func:`notify` renders the title and body in the *recipient's* language (their saved locale, else
the default) and adds a :class:`Notification` row; like every service it flushes and never commits.
:func:`task_opened` is the hook ``instances.sync_tasks`` calls for each new inbox task, :func:`tasks_closed`
the one it calls for the tasks it completes or cancels.

Email is sent *after* the commit, outside the transaction that created the notifications:
:func:`deliver_pending_emails` picks notifications not yet emailed (``emailed_at IS NULL``) whose recipient
has an address, sends them over one SMTP connection, and commits each outcome (``emailed_at``, or the
error with its attempt count in ``email_error``). It is called

* by ``flask --app webapp notifications send`` (cron, or the job queue later), and
* right after the response of any request whose committed transaction created notifications, when
  ``SMTP_SEND_AFTER_REQUEST`` is on (see ``webapp.notifications``).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.links import is_local_link, public_url
from webapp.models import Delegation, HumanTask, Notification, RoleAssignment, User
from webapp.models.base import utcnow
from webapp.services import after_commit, processes
from webapp.services import roles as role_service

log = logging.getLogger(__name__)

#: A title or body: plain text, a lazy string (``_l(...)``) or a callable returning text; the last two are
#: rendered inside ``force_locale(<recipient's locale>)``.
Text = Any

TITLE_MAX = 200
#: An email subject has at most this many characters; text people typed (a record's title) at most
#: :data:`QUOTED_MAX` of them.
SUBJECT_MAX = 150
QUOTED_MAX = 60
LINK_MAX = 300
#: At most this many people are told about one new task; a role held by more is a broadcast, not a task.
MAX_TASK_RECIPIENTS = 50
#: After this many failed attempts a notification is no longer emailed.
MAX_EMAIL_ATTEMPTS = 5
#: Notifications older than this are never emailed (e.g. those written before SMTP was configured).
EMAIL_MAX_AGE = timedelta(days=3)
GAVE_UP = "gave up"
#: Marks a transaction that wrote notifications (``after_commit``).
_WRITTEN = "notifications"


# -- writing --------------------------------------------------------------------------------------------------

def locale_of(user: User) -> str:
    """The language ``user`` reads: their saved choice when available, else the default."""
    settings = current_app.config["YANXUN"]
    return user.locale if user.locale in settings["LOCALES"] else settings["DEFAULT_LOCALE"]


def one_line(text: str, limit: int) -> str:
    """``text`` as one line of at most ``limit`` characters: line breaks, control and format characters
    (bidirectional overrides, zero-width ones) become spaces, runs of spaces one; longer text ends in "…".

    For anything typed by people that ends up in a title or an email header."""
    cleaned = " ".join("".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1].rstrip() + "…"


def _render(text: Text) -> str:
    value = text() if callable(text) else text
    return "" if value is None else str(value)


def notify(user: User, kind: str, *, title: Text, body: Text = "", link: str | None = None,
           instance_id: int | None = None, flush: bool = True) -> Notification | None:
    """Tell ``user`` that ``kind`` happened; None when the account is inactive.

    ``title`` and ``body`` are rendered now, in the recipient's language. ``link`` must be a local path.
    """
    if not user.active:
        return None
    if link is not None and (not is_local_link(link) or len(link) > LINK_MAX):
        raise ValueError(f"notification links must be local paths, got {link!r}")
    with force_locale(locale_of(user)):
        rendered_title, rendered_body = one_line(_render(title), TITLE_MAX), _render(body).strip()
    note = Notification(user_id=user.id, kind=kind, title=rendered_title, body=rendered_body, link=link,
                        instance_id=instance_id, created_at=utcnow())
    db.session.add(note)
    if flush:
        db.session.flush()
    after_commit.add(_WRITTEN, True)
    return note


def notify_many(users: Iterable[User], kind: str, *, flush: bool = True, **values: Any) -> list[Notification]:
    """:func:`notify` each distinct user once (one flush for all, none when ``flush`` is false)."""
    seen: set[int] = set()
    written = []
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        note = notify(user, kind, flush=False, **values)
        if note is not None:
            written.append(note)
    if written and flush:
        db.session.flush()
    return written


def task_recipients(task: HumanTask, *, limit: int = MAX_TASK_RECIPIENTS) -> list[User]:
    """Who is told about a new task: its assignee when set; else its named candidates and everyone who holds
    a candidate role at the candidate organisation today (delegates included), as ``tasks.is_candidate``
    decides. Active users only, at most ``limit`` of them (by id)."""
    if task.assignee is not None:
        return [task.assignee] if task.assignee.active else []
    user_ids: set[int] = set()
    day = date.today()
    for candidate in task.candidates:
        if candidate.user_id is not None:
            user_ids.add(candidate.user_id)
            continue
        holders = list(db.session.scalars(
            sa.select(RoleAssignment.user_id).where(RoleAssignment.role == candidate.role,
                                                    RoleAssignment.org_id == candidate.org_id,
                                                    role_service.valid_on(RoleAssignment, day))))
        user_ids.update(holders)
        delegations: list[Delegation] = role_service.delegates_for(holders, candidate.role, day)
        user_ids.update(d.to_user_id for d in delegations if d.from_user.active)
    if not user_ids:
        return []
    users = list(db.session.scalars(sa.select(User).where(User.id.in_(user_ids), User.active.is_(True))
                                    .order_by(User.id)))
    if len(users) > limit:
        log.warning("task %s has %d candidates; notifying the first %d", task.id, len(users), limit)
    return users[:limit]


#: The kind of :func:`task_opened`'s notices.
TASK_OPENED = "task.opened"


def tasks_opened(tasks: Sequence[HumanTask], *, actor: User | None = None) -> list[Notification]:
    """:func:`task_opened` for each of ``tasks``, describing each instance's record once (a multi-instance opens
    one task per teacher)."""
    summaries: dict[tuple[int, str], list[str]] = {}
    written = [note for task in tasks for note in task_opened(task, actor=actor, summaries=summaries, flush=False)]
    if written:
        db.session.flush()
    return written


def task_opened(task: HumanTask, *, actor: User | None = None,
                summaries: dict[tuple[int, str], list[str]] | None = None, flush: bool = True) -> list[Notification]:
    """A new inbox task: tell the people who can act on it (not ``actor``, who caused it and is looking).
    ``summaries`` keeps the records' descriptions by instance and language for the next tasks."""
    if task.form_key in processes.quiet_forms():  # the process sends a more specific notice
        return []
    instance = task.instance
    described = {} if summaries is None else summaries

    def record() -> list[str]:
        """What the record is (its number, headline and facts), in the reader's language; once per language."""
        key = (instance.id, str(get_locale()))
        if key not in described:
            summary = processes.summaries([instance]).get(instance.id)
            described[key] = [] if summary is None else [
                f"{_l('No. %(ref)s', ref=summary.reference)} · {summary.headline}", " · ".join(summary.facts)]
        return described[key]

    def body() -> str:
        lines = [*record(), str(_l("Organisation: %(org)s", org=task.subject_org.name))]
        if instance.initiator is not None:
            lines.append(str(_l("Started by: %(name)s", name=instance.initiator.display_name)))
        if task.due_at is not None:
            lines.append(str(_l("Due: %(when)s", when=format_datetime(task.due_at, "short"))))
        return "\n".join(lines)

    recipients = [user for user in task_recipients(task) if actor is None or user.id != actor.id]
    return notify_many(recipients, TASK_OPENED,
                       title=_l("A task waits for you: %(task)s – %(title)s", task=one_line(task.name, QUOTED_MAX),
                                title=one_line(instance.title, QUOTED_MAX)),
                       body=body, link=_task_link(task.id), instance_id=instance.id, flush=flush)


def tasks_closed(closed: Sequence[HumanTask]) -> int:
    """The tasks were completed or cancelled: their "a task waits for you" notices no longer wait, for anyone.

    Marks them read in one statement, found through the instance index and matched exactly by the task's link;
    returns how many changed.
    """
    if not closed:
        return 0
    links = {_task_link(task.id) for task in closed}
    changed = db.session.execute(
        sa.update(Notification)
        .where(Notification.instance_id.in_(sorted({task.instance_id for task in closed})),
               Notification.kind == TASK_OPENED,
               Notification.link.in_(sorted(links)), Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount or 0
    for loaded in list(db.session.identity_map.values()):  # reload ``read_at`` of the rows already in memory
        if isinstance(loaded, Notification) and loaded.kind == TASK_OPENED and loaded.link in links:
            db.session.expire(loaded, ["read_at"])
    return changed


def _task_link(task_id: int) -> str:
    return f"/inbox/tasks/{task_id}"


# -- reading --------------------------------------------------------------------------------------------------

def unread_count(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count(Notification.id))
                             .where(Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def listing(user: User) -> sa.Select:
    """``user``'s notifications, newest first (for pagination)."""
    return (sa.select(Notification).where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc()))


def recent(user: User, limit: int = 10) -> list[Notification]:
    return list(db.session.scalars(listing(user).limit(limit)))


def get_own(user: User, notification_id: int) -> Notification | None:
    """The notification, only if it is ``user``'s."""
    note = db.session.get(Notification, notification_id)
    return note if note is not None and note.user_id == user.id else None


def mark_read(user: User, ids: Sequence[int] | None = None) -> int:
    """Mark ``user``'s unread notifications ``ids`` (all of them when None) read; returns how many changed.

    Other people's ids are ignored."""
    query = (sa.update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
             .values(read_at=utcnow()).execution_options(synchronize_session=False))
    if ids is not None:
        if not ids:
            return 0
        query = query.where(Notification.id.in_(list(ids)))
    changed = db.session.execute(query).rowcount or 0
    for loaded in list(db.session.identity_map.values()):  # reload ``read_at`` of the rows already in memory
        if isinstance(loaded, Notification) and loaded.user_id == user.id:
            db.session.expire(loaded, ["read_at"])
    return changed


# -- email ----------------------------------------------------------------------------------------------------

class EmailNotConfigured(RuntimeError):
    """The SMTP settings cannot work; the message says what to set."""


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    #: False when SMTP_HOST is not set (nothing was attempted).
    enabled: bool = True


def email_enabled() -> bool:
    return bool(current_app.config["YANXUN"].get("SMTP_HOST"))


def _settings() -> dict[str, Any]:
    settings = current_app.config["YANXUN"]
    security = str(settings.get("SMTP_SECURITY") or "starttls").lower()
    if security not in {"starttls", "ssl", "none"}:
        raise EmailNotConfigured(f"YANXUN_SMTP_SECURITY must be starttls, ssl or none, got {security!r}")
    sender = settings.get("SMTP_FROM") or settings.get("SMTP_USER")
    if not sender or "@" not in sender:
        raise EmailNotConfigured("Set YANXUN_SMTP_FROM to the address emails come from (e.g. yanxun@school.cn).")
    return {"host": settings["SMTP_HOST"], "port": int(settings.get("SMTP_PORT") or 0), "security": security,
            "user": settings.get("SMTP_USER"), "password": settings.get("SMTP_PASSWORD"), "sender": sender,
            "timeout": float(settings.get("SMTP_TIMEOUT_SECONDS") or 10)}


def _connect(config: dict[str, Any]) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if config["security"] == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(config["host"], config["port"] or 465, timeout=config["timeout"],
                                                context=context)
    else:
        server = smtplib.SMTP(config["host"], config["port"] or 25, timeout=config["timeout"])
    try:
        server.ehlo()
        if config["security"] == "starttls":
            server.starttls(context=context)
            server.ehlo()
        if config["user"]:
            server.login(config["user"], config["password"] or "")
    except BaseException:
        _close(server)
        raise
    return server


def _close(server: smtplib.SMTP | None) -> None:
    if server is None:
        return
    try:
        server.quit()
    except (smtplib.SMTPException, OSError):
        server.close()


def build_email(note: Notification, sender: str) -> EmailMessage:
    """The email copy of ``note``: plain text and HTML, in the recipient's language.

    Its link is absolute on ``PUBLIC_BASE_URL`` (:func:`webapp.links.public_url`); without it the email says
    to log in instead."""
    user = note.user
    locale = locale_of(user)
    with force_locale(locale):
        values = {"notification": note, "user": user, "url": public_url(note.link),
                  "lang": locale.replace("_", "-")}
        # Straight from the Jinja environment: the app's context processors need a logged-in request.
        text = current_app.jinja_env.get_template("emails/notification.txt").render(values)
        html = current_app.jinja_env.get_template("emails/notification.html").render(values)
    return compose_email(note.title, sender, user.email, text, html)


def compose_email(subject: str, sender: str, recipient: str, text: str, html: str) -> EmailMessage:
    """An automatic email with a plain-text and an HTML part (a subject of one short line, a Message-ID of ours)."""
    message = EmailMessage()
    message["Subject"] = one_line(subject, SUBJECT_MAX)
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _attempts(error: str | None) -> int:
    """The attempt count kept at the start of ``email_error`` ("attempt 2/5: ...")."""
    if not error or not error.startswith("attempt "):
        return 0
    try:
        return int(error[len("attempt "):].split("/", 1)[0])
    except ValueError:
        return 0


def _record_failure(note: Notification, error: BaseException) -> None:
    attempt = _attempts(note.email_error) + 1
    reason = f"{type(error).__name__}: {error}"[:1000]
    if attempt >= MAX_EMAIL_ATTEMPTS:
        note.email_error = f"{GAVE_UP} after {attempt} attempts: {reason}"
    else:
        note.email_error = f"attempt {attempt}/{MAX_EMAIL_ATTEMPTS}: {reason}"


def _next_pending(exclude: set[int]) -> Notification | None:
    """The oldest notification waiting for its email, locked (others' locks are skipped)."""
    query = (sa.select(Notification).join(User, User.id == Notification.user_id)
             .where(Notification.emailed_at.is_(None), User.active.is_(True), User.email.is_not(None),
                    User.email != "", Notification.created_at >= utcnow() - EMAIL_MAX_AGE,
                    sa.or_(Notification.email_error.is_(None), ~Notification.email_error.startswith(GAVE_UP)))
             .order_by(Notification.id).limit(1))
    if exclude:
        query = query.where(Notification.id.not_in(list(exclude)))
    return db.session.scalar(query.with_for_update(of=Notification, skip_locked=True)
                             .execution_options(populate_existing=True))


#: Errors about one message (its recipient, its content); the connection stays usable for the next one.
_ONE_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                       smtplib.SMTPNotSupportedError)


def deliver_pending_emails(limit: int = 100) -> DeliveryReport:
    """Email up to ``limit`` waiting notifications over one SMTP connection; commits after each one.

    Call it after the transaction that wrote the notifications has committed (it commits, like a job).
    A failure is recorded in ``email_error`` ("attempt n/5: ...") and retried on the next call; when the
    server cannot be reached the run stops there, so a mail outage costs one timeout, not one per message.
    """
    if not email_enabled():
        return DeliveryReport(enabled=False)
    config = _settings()
    report = DeliveryReport()
    server: smtplib.SMTP | None = None
    tried: set[int] = set()
    try:
        while report.sent + report.failed < limit:
            note = _next_pending(tried)
            if note is None:
                break
            tried.add(note.id)
            try:
                message = build_email(note, config["sender"])
                if server is None:
                    server = _connect(config)
                server.send_message(message)
            except (smtplib.SMTPException, OSError) as error:  # SMTPException is an OSError
                _record_failure(note, error)
                db.session.commit()
                report.failed += 1
                log.warning("email for notification %s failed: %s", note.id, error)
                if server is None or not isinstance(error, _ONE_MESSAGE_ERRORS):
                    break  # the server is unreachable, refused us or went away: retry on the next run
                continue
            note.emailed_at, note.email_error = utcnow(), None
            db.session.commit()
            report.sent += 1
    finally:
        _close(server)
    return report


# -- "notifications were committed": lets the web layer send right after the response ----------------------

def take_committed_flag(session: Session | None = None) -> bool:
    """True once if notifications were committed in ``session`` (the request's) since the last call."""
    return bool(after_commit.take(_WRITTEN, session))
