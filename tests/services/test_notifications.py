"""Notifications: written in the recipient's language, sent to the people a task waits for, emailed over SMTP."""

from __future__ import annotations

import email
import email.header
import socket
import socketserver
import threading
from datetime import date, timedelta
from email.message import Message

import pytest
import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from tests.workflow_support import hours_review_files
from webapp.models import HumanTask, Notification, Role, TaskStatus
from webapp.models.base import utcnow
from webapp.services import definitions, instances, tasks
from webapp.services import notifications as service
from webapp.services.users import delegate

# -- a real SMTP server, small enough to read --------------------------------------------------------------

class SmtpSink(socketserver.ThreadingTCPServer):
    """Speaks the part of SMTP ``smtplib`` uses without TLS or AUTH; keeps every message it accepts.

    ``refuse`` holds recipient addresses answered with 550 (a per-message failure)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.messages: list[tuple[str, list[str], Message]] = []
        self.refuse: set[str] = set()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpSink

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink.test ESMTP")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb == "EHLO":
                self.reply("250-sink.test")
                self.reply("250-8BITMIME")
                self.reply("250 SMTPUTF8")
            elif verb == "HELO":
                self.reply("250 sink.test")
            elif verb == "MAIL":
                sender, recipients = line.split(":", 1)[1].split()[0].strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                address = line.split(":", 1)[1].strip().strip("<>")
                if address in self.server.refuse:
                    self.reply("550 no such user")
                else:
                    recipients.append(address)
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                lines = []
                while True:
                    data = self.rfile.readline(1 << 20)
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.server.messages.append((sender, recipients, email.message_from_bytes(b"".join(lines))))
                self.reply("250 queued")
            elif verb == "RSET":
                sender, recipients = "", []
                self.reply("250 OK")
            elif verb == "NOOP":
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


def closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(app, monkeypatch):
    with SmtpSink() as sink:
        settings = app.config["YANXUN"]
        for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_SECURITY": "none",
                           "SMTP_FROM": "yanxun@school.test", "SMTP_USER": None, "SMTP_TIMEOUT_SECONDS": 5,
                           "PUBLIC_BASE_URL": "https://yanxun.test"}.items():
            monkeypatch.setitem(settings, key, value)
        yield sink


def body_text(message: Message, subtype: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")


@pytest.fixture
def person(make_user):
    """``make_user`` that also saves the language the person chose (``users.create_user`` does not take it)."""

    def _person(login: str | None = None, *, locale: str | None = None, **values):
        user = make_user(login, **values)
        user.locale = locale
        return user

    return _person


# -- writing in the recipient's language ---------------------------------------------------------------------

def test_notify_renders_in_the_recipients_language(db, person):
    chinese = person("zh_reader")  # no saved locale: the default, zh_CN
    english = person("en_reader", locale="en")
    for user in (chinese, english):
        service.notify(user, "test.hello", title=_l("Tasks"), body=lambda: str(_l("Nothing is waiting for you.")),
                       link="/inbox/")
    rows = {n.user_id: n for n in db.session.scalars(sa.select(Notification))}
    assert (rows[chinese.id].title, rows[chinese.id].body) == ("待办", "暂无待办事项。")
    assert (rows[english.id].title, rows[english.id].body) == ("Tasks", "Nothing is waiting for you.")
    assert rows[english.id].read_at is None and rows[english.id].emailed_at is None
    assert get_locale().language == "zh"  # the ambient language is back to what it was


def test_notify_refuses_links_to_other_sites_and_skips_inactive_users(db, person):
    user = person()
    for link in ("https://evil.example/x", "//evil.example", "/\\evil.example", "javascript:alert(1)", "inbox"):
        with pytest.raises(ValueError, match="local paths"):
            service.notify(user, "test", title="x", link=link)
    user.active = False
    assert service.notify(user, "test", title="x") is None
    long = service.notify(person(), "test", title="长" * 300)
    assert len(long.title) == service.TITLE_MAX


# -- who is told about a new task ------------------------------------------------------------------------------

@pytest.fixture
def people(region, person):
    school = region["school"]
    people = {
        "teacher": person("teacher1", org=school, roles=((Role.TEACHER, school),)),
        "officer1": person("officer1", locale="en", roles=((Role.SCHOOL_OFFICER, school),)),
        "officer2": person("officer2", roles=((Role.SCHOOL_OFFICER, school),)),
        "substitute": person("substitute", org=school),
        "county_officer": person("kofficer", roles=((Role.SCHOOL_OFFICER, region["county"]),)),
        "other_school": person("officer_s2", roles=((Role.SCHOOL_OFFICER, region["school2"]),)),
        "former": person("former", roles=((Role.SCHOOL_OFFICER, school),)),
    }
    people["former"].active = False
    delegate(people["officer2"], people["substitute"], role=Role.SCHOOL_OFFICER, valid_from=date.today(),
             valid_to=date.today() + timedelta(days=7))
    return people


def notified(db, task: HumanTask) -> dict[str, Notification]:
    rows = db.session.scalars(sa.select(Notification).where(Notification.link == f"/inbox/tasks/{task.id}"))
    return {row.user.login: row for row in rows}


def open_task(db, instance) -> HumanTask:
    return db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.status == TaskStatus.OPEN))


def test_new_tasks_reach_the_assignee_or_the_role_holders_of_the_candidate_org(db, region, people):
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=people["teacher"],
                               title="王老师的学时申请")
    submit = open_task(db, instance)
    assert submit.assignee_id == people["teacher"].id
    assert set(notified(db, submit)) == set(), "the teacher started it herself; the officers are not concerned"
    assert [user.login for user in service.task_recipients(submit)] == ["teacher1"], "assignee only"

    instances.complete_task(submit, people["teacher"], {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    review = open_task(db, instance)
    rows = notified(db, review)
    # Holders at the school (the scope org), the substitute of one of them; not the teacher who acted, not the
    # county's officer (the role was found at the school), not another school's, not a deactivated account.
    assert set(rows) == {"officer1", "officer2", "substitute"}
    assert all(tasks.is_candidate(review, row.user) for row in rows.values())
    english, chinese = rows["officer1"], rows["officer2"]
    assert english.title == "A task waits for you: 学校审核 – 王老师的学时申请"
    assert "Organisation: 数学备课组" in english.body and "Due: " in english.body
    assert chinese.kind == "task.opened" and chinese.instance_id == instance.id
    assert service.unread_count(people["other_school"]) == 0
    assert service.unread_count(people["county_officer"]) == 0


def test_task_notices_are_done_for_everyone_once_the_task_is_closed(db, region, people):
    definitions.deploy(hours_review_files(), None)

    def review_task():
        instance = instances.start("hours_review", subject_org=region["school"], initiator=people["teacher"])
        instances.complete_task(open_task(db, instance), people["teacher"], {"title": "信息技术培训", "hours": 12},
                                tasks.authorise_complete)
        return instance, open_task(db, instance)

    instance, review = review_task()
    _, other_review = review_task()
    other = service.notify(people["officer2"], "application.reminder", title="x", link=f"/inbox/tasks/{review.id}",
                           instance_id=instance.id)
    waiting = sa.select(Notification).where(Notification.kind == "task.opened",
                                            Notification.link == f"/inbox/tasks/{review.id}")
    assert {row.read_at for row in db.session.scalars(waiting)} == {None}
    instances.complete_task(review, people["officer1"], {"approved": True}, tasks.authorise_complete)
    db.session.commit()
    assert review.status is TaskStatus.COMPLETED
    done = db.session.scalars(waiting).all()
    assert {row.user.login for row in done} == {"officer1", "officer2", "substitute"}
    assert all(row.read_at is not None for row in done)
    assert other.read_at is None, "only the task's own waiting notices"
    assert all(row.read_at is None for row in notified(db, other_review).values()), "not another task's"


def test_recipients_are_capped(db, region, people):
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["school"], initiator=people["teacher"])
    instances.complete_task(open_task(db, instance), people["teacher"], {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    review = open_task(db, instance)
    assert len(service.task_recipients(review)) == 3
    assert [u.login for u in service.task_recipients(review, limit=2)] == ["officer1", "officer2"]



def test_nobody_is_told_through_a_role_assignment_that_ended_or_has_not_begun(db, region, people, person):
    """The task's title goes only to those who may act on it today: not to a school officer whose assignment was
    ended, ran out yesterday or begins tomorrow."""
    from webapp.services.users import assign_role, end_assignment

    school, today = region["school"], date.today()
    end_assignment(assign_role(person("ended"), Role.SCHOOL_OFFICER, school))
    assign_role(person("ran_out"), Role.SCHOOL_OFFICER, school, valid_from=today - timedelta(days=30),
                valid_to=today - timedelta(days=1))
    assign_role(person("next_term"), Role.SCHOOL_OFFICER, school, valid_from=today + timedelta(days=1))
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=people["teacher"],
                               title="王老师的学时申请")
    instances.complete_task(open_task(db, instance), people["teacher"], {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    review = open_task(db, instance)
    assert [user.login for user in service.task_recipients(review)] == ["officer1", "officer2", "substitute"]
    assert set(notified(db, review)) == {"officer1", "officer2", "substitute"}

# -- reading and marking read ----------------------------------------------------------------------------------

def test_unread_count_recent_and_mark_read(db, person):
    me, other = person(), person()
    mine = [service.notify(me, "test", title=f"第{n}条") for n in range(3)]
    theirs = service.notify(other, "test", title="别人的")
    assert service.unread_count(me) == 3
    assert [n.title for n in service.recent(me, 2)] == ["第2条", "第1条"]
    assert service.mark_read(me, [mine[0].id, theirs.id]) == 1  # someone else's id is ignored
    assert service.unread_count(me) == 2 and service.unread_count(other) == 1
    assert mine[0].read_at is not None
    assert service.mark_read(me) == 2
    assert service.mark_read(me) == 0
    assert service.unread_count(me) == 0 and service.unread_count(other) == 1
    assert service.get_own(me, theirs.id) is None


# -- email -------------------------------------------------------------------------------------------------------

def test_email_is_off_without_smtp_host(db, person):
    service.notify(person(email="a@school.test"), "test", title="x")
    report = service.deliver_pending_emails()
    assert not report.enabled and report.sent == 0


def test_pending_notifications_are_emailed_in_the_recipients_language(db, person, smtp):
    english = person("en_mail", display_name="Ms Lin", email="lin@school.test", locale="en")
    chinese = person("zh_mail", display_name="王老师", email="wang@school.test")
    no_address = person("no_mail")
    service.notify(english, "test", title=_l("Tasks"), body="Line one", link="/inbox/tasks/7")
    service.notify(chinese, "test", title=_l("Tasks"), link="/inbox/")
    silent = service.notify(no_address, "test", title="没有邮箱")
    db.session.commit()

    report = service.deliver_pending_emails(limit=10)
    assert (report.sent, report.failed) == (2, 0)
    by_recipient = {recipients[0]: (sender, message) for sender, recipients, message in smtp.messages}
    assert set(by_recipient) == {"lin@school.test", "wang@school.test"}
    sender, message = by_recipient["lin@school.test"]
    assert sender == "yanxun@school.test" and message["To"] == "lin@school.test"
    assert str(email.header.make_header(email.header.decode_header(message["Subject"]))) == "Tasks"
    text, html = body_text(message, "plain"), body_text(message, "html")
    assert "Hello, Ms Lin" in text and "Line one" in text and "https://yanxun.test/inbox/tasks/7" in text
    assert 'href="https://yanxun.test/inbox/tasks/7"' in html and 'lang="en"' in html
    _, chinese_message = by_recipient["wang@school.test"]
    assert str(email.header.make_header(email.header.decode_header(chinese_message["Subject"]))) == "待办"

    rows = {n.user_id: n for n in db.session.scalars(sa.select(Notification))}
    assert rows[english.id].emailed_at is not None and rows[chinese.id].emailed_at is not None
    assert rows[english.id].email_error is None
    assert silent.emailed_at is None  # nobody to email; stays in the bell
    assert service.deliver_pending_emails().sent == 0  # nothing is sent twice
    assert len(smtp.messages) == 2


def test_smtp_down_records_the_error_keeps_the_notification_and_retries(app, db, person, smtp, monkeypatch):
    user = person(email="lin@school.test", locale="en")
    note = service.notify(user, "test", title="Retry me")
    db.session.commit()
    monkeypatch.setitem(app.config["YANXUN"], "SMTP_PORT", closed_port())

    first = service.deliver_pending_emails()
    assert (first.sent, first.failed) == (0, 1)
    db.session.refresh(note)
    assert note.emailed_at is None and note.email_error.startswith("attempt 1/5: ")
    service.deliver_pending_emails()
    db.session.refresh(note)
    assert note.email_error.startswith("attempt 2/5: ")
    assert db.session.get(Notification, note.id) is not None and note.read_at is None

    monkeypatch.setitem(app.config["YANXUN"], "SMTP_PORT", smtp.port)  # the server is back
    assert service.deliver_pending_emails().sent == 1
    db.session.refresh(note)
    assert note.emailed_at is not None and note.email_error is None
    assert [recipients for _, recipients, _ in smtp.messages] == [["lin@school.test"]]


def test_a_refused_recipient_does_not_stop_the_others_and_we_give_up_eventually(db, person, smtp):
    bad = service.notify(person(email="gone@school.test"), "test", title="退信")
    good = service.notify(person(email="here@school.test"), "test", title="正常")
    db.session.commit()
    smtp.refuse.add("gone@school.test")
    report = service.deliver_pending_emails()
    assert (report.sent, report.failed) == (1, 1)
    db.session.refresh(bad)
    db.session.refresh(good)
    assert good.emailed_at is not None and bad.emailed_at is None
    assert "SMTPRecipientsRefused" in bad.email_error
    for _ in range(service.MAX_EMAIL_ATTEMPTS - 1):
        service.deliver_pending_emails()
    db.session.refresh(bad)
    assert bad.email_error.startswith("gave up after 5 attempts")
    assert service.deliver_pending_emails().failed == 0  # no longer tried


def test_old_notifications_are_not_emailed(db, person, smtp):
    note = service.notify(person(email="late@school.test"), "test", title="旧的")
    note.created_at = utcnow() - service.EMAIL_MAX_AGE - timedelta(hours=1)
    db.session.commit()
    assert service.deliver_pending_emails().sent == 0
    assert smtp.messages == []


def test_the_cli_sends_pending_emails(app, db, person, smtp):
    service.notify(person(email="cli@school.test"), "test", title="命令行")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["notifications", "send", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "Sent 1, failed 0." in result.output
    assert len(smtp.messages) == 1


def test_email_html_escapes_what_people_typed(db, person, smtp):
    service.notify(person(email="esc@school.test"), "test", title="<b>申请</b>", body="a < b & c")
    db.session.commit()
    assert service.deliver_pending_emails().sent == 1
    message = smtp.messages[0][2]
    html, text = body_text(message, "html"), body_text(message, "plain")
    assert "&lt;b&gt;申请&lt;/b&gt;" in html and "a &lt; b &amp; c" in html and "<b>申请" not in html
    assert "<b>申请</b>" in text and "a < b & c" in text  # plain text stays as typed


def test_what_people_typed_cannot_inject_headers_or_bloat_the_subject(db, region, people, smtp):
    """A record's title goes into the subject of "a task waits for you": it is cut to one short line without
    control characters, so it can neither add a header nor fill a phone's screen."""
    people["officer1"].email = "officer1@school.test"
    title = ("Hours\r\nBcc: victim@evil.example\x0bX-Spam:\x1b yes\x85\u2028\u202egnp.exe\u200b "
             + "长" * 300)
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["school"], initiator=people["teacher"],
                               title=title[:200])
    instances.complete_task(open_task(db, instance), people["teacher"], {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    db.session.commit()
    assert service.deliver_pending_emails().sent >= 1
    message = next(m for _, recipients, m in smtp.messages if recipients == ["officer1@school.test"])
    subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
    assert subject.startswith("A task waits for you: 学校审核 – Hours Bcc: victim@evil.example X-Spam: yes gnp.exe")
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u202e\u200b" for ch in subject)
    assert len(subject) <= service.SUBJECT_MAX
    assert subject.endswith("长…") and subject.count("长") < service.QUOTED_MAX
    assert message["Bcc"] is None and message["X-Spam"] is None
    raw = message.as_string()
    assert "\nBcc:" not in raw and "\nX-Spam:" not in raw
