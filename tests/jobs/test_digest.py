"""The daily digest: one email a day to each person with open tasks, in their language, never two."""

from __future__ import annotations

import email.header
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.jobs.conftest import needs_postgresql
from tests.services.test_notifications import SmtpSink, body_text, closed_port
from tests.workflow_support import hours_review_files, review_waiting_for
from webapp import jobs
from webapp.models import HumanTask, Role, TaskDigest, TaskStatus
from webapp.models.base import utcnow
from webapp.services import definitions, digest, instances, tasks


@pytest.fixture
def smtp(app, monkeypatch):
    with SmtpSink() as sink:
        for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_SECURITY": "none",
                           "SMTP_FROM": "yanxun@school.test", "SMTP_USER": None, "SMTP_TIMEOUT_SECONDS": 5,
                           "PUBLIC_BASE_URL": "https://yanxun.test", "DIGEST_HOUR": 7}.items():
            monkeypatch.setitem(app.config["YANXUN"], key, value)
        yield sink


def subject(message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


@pytest.fixture
def people(db, region, make_user):
    """A teacher whose own submission waits (zh), an officer who can claim a review (en), and people who get
    nothing: an officer without an address, someone without tasks, a deactivated officer."""
    school = region["school"]

    def person(login, *, locale=None, **values):
        user = make_user(login, **values)
        user.locale = locale
        return user

    people = {
        "teacher": person("d_teacher", email="teacher@school.test", roles=((Role.TEACHER, school),)),
        "officer": person("d_officer", locale="en", display_name="Ms Lin", email="lin@school.test",
                          roles=((Role.SCHOOL_OFFICER, school),)),
        "no_address": person("d_no_address", roles=((Role.SCHOOL_OFFICER, school),)),
        "idle": person("d_idle", email="idle@school.test"),
        "former": person("d_former", email="former@school.test", roles=((Role.SCHOOL_OFFICER, school),)),
    }
    people["former"].active = False
    definitions.deploy(hours_review_files(), None)
    waiting = instances.start("hours_review", subject_org=school, initiator=people["teacher"], title="待提交的申请")
    reviewed = instances.start("hours_review", subject_org=school, initiator=people["teacher"], title="待审核的申请")
    instances.complete_task(instances.open_tasks(reviewed)[0], people["teacher"], {"title": "信息技术培训", "hours": 8},
                            tasks.authorise_complete)
    db.session.commit()
    people["submit"] = instances.open_tasks(waiting)[0]
    people["review"] = instances.open_tasks(reviewed)[0]
    return people


def test_local_day_is_the_configured_time_zone(app):
    with app.app_context():
        assert digest.local_day(datetime(2026, 3, 5, 17, 0, tzinfo=UTC)) == date(2026, 3, 6)  # 01:00 in Shanghai
        assert digest.local_day(datetime(2026, 3, 5, 15, 59, tzinfo=UTC)) == date(2026, 3, 5)


def test_the_ticker_sends_the_digest_each_quarter_of_the_digest_hour(app, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "DIGEST_HOUR", 7)
    with app.app_context():
        assert digest.is_digest_time(datetime(2026, 9, 1, 23, 15, 20, tzinfo=UTC))  # 07:15 in Shanghai
        assert not digest.is_digest_time(datetime(2026, 9, 1, 23, 16, tzinfo=UTC))
        assert not digest.is_digest_time(datetime(2026, 9, 1, 22, 15, tzinfo=UTC))  # 06:15
        monkeypatch.setitem(app.config["YANXUN"], "DIGEST_HOUR", None)
        assert not digest.is_digest_time(datetime(2026, 9, 1, 23, 15, tzinfo=UTC))


def test_everyone_with_open_tasks_gets_one_digest_in_their_language(db, people, smtp):
    report = jobs.send_daily_digests()
    assert (report.sent, report.failed, report.enabled) == (2, 0, True)
    by_recipient = {recipients[0]: message for _, recipients, message in smtp.messages}
    assert set(by_recipient) == {"teacher@school.test", "lin@school.test"}, "nobody without tasks or an address"

    english = by_recipient["lin@school.test"]
    assert subject(english) == "1 task is waiting for you in YanXun"
    text, html = body_text(english, "plain"), body_text(english, "html")
    assert "Hello, Ms Lin" in text and "Open to your roles, not yet claimed: 1" in text
    assert "学校审核 – 待审核的申请" in text and "Due " in text
    assert f"https://yanxun.test/inbox/tasks/{people['review'].id}" in text
    assert f'href="https://yanxun.test/inbox/tasks/{people["review"].id}"' in html and 'lang="en"' in html
    assert 'href="https://yanxun.test/inbox/?tab=claimable"' in html

    chinese = by_recipient["teacher@school.test"]
    text, html = body_text(chinese, "plain"), body_text(chinese, "html")
    assert text.startswith("您好，") and "研训 · 校本研修流程与审批" in text
    assert 'lang="zh-CN"' in html and f"/inbox/tasks/{people['submit'].id}" in text
    assert "待审核的申请" not in text, "the review is not the teacher's to act on"


def test_at_most_once_a_day_however_often_the_job_runs(db, people, smtp):
    now = utcnow()
    if digest.local_day(now) != digest.local_day(now + timedelta(minutes=30)):
        now += timedelta(minutes=31)  # run near local midnight: keep the half hour below inside one local day
    assert jobs.send_daily_digests(now).sent == 2
    assert jobs.send_daily_digests(now).sent == 0
    assert jobs.send_daily_digests(now + timedelta(minutes=30)).sent == 0
    rows = db.session.scalars(sa.select(TaskDigest)).all()
    assert len(rows) == 2 and all(row.sent_at is not None and row.task_count == 1 for row in rows)
    assert len(smtp.messages) == 2

    later = now + timedelta(days=4)  # another day, and the review (due in 3 days) is overdue by then
    assert jobs.send_daily_digests(later).sent == 2
    officer_mail = [message for _, recipients, message in smtp.messages[2:] if recipients == ["lin@school.test"]]
    text = body_text(officer_mail[0], "plain")
    assert "Overdue: 1" in text and "Overdue since" in text


def test_a_claim_left_by_a_crashed_run_is_not_sent_again(db, people, smtp):
    now = utcnow()
    db.session.add(TaskDigest(user_id=people["teacher"].id, day=digest.local_day(now), task_count=1))
    db.session.commit()
    assert jobs.send_daily_digests(now).sent == 1
    assert [recipients for _, recipients, _ in smtp.messages] == [["lin@school.test"]]


def test_a_failed_send_gives_the_day_back_for_a_later_run(app, db, people, smtp, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "SMTP_PORT", closed_port())
    report = jobs.send_daily_digests()
    assert (report.sent, report.failed) == (0, 1), "an unreachable server ends the run at the first person"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskDigest)) == 0

    monkeypatch.setitem(app.config["YANXUN"], "SMTP_PORT", smtp.port)
    assert jobs.send_daily_digests().sent == 2


def test_the_digest_is_off_without_an_hour_or_without_email(app, db, people, smtp, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "DIGEST_HOUR", None)
    assert not jobs.send_daily_digests().enabled
    monkeypatch.setitem(app.config["YANXUN"], "DIGEST_HOUR", 7)
    monkeypatch.setitem(app.config["YANXUN"], "SMTP_HOST", None)
    assert not jobs.send_daily_digests().enabled
    assert smtp.messages == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskDigest)) == 0


def test_a_claimed_or_done_task_leaves_the_others_digests(db, people, smtp):
    """Claimed by the officer: still theirs (assigned); completed: nothing left for them."""
    review = db.session.get(HumanTask, people["review"].id)
    tasks.claim(review, people["officer"])
    db.session.commit()
    pending = digest.pending_for(people["officer"], utcnow())
    assert (pending.assigned, pending.claimable, [t.id for t in pending.soonest]) == (1, 0, [review.id])
    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    db.session.commit()
    assert db.session.get(HumanTask, review.id).status is TaskStatus.COMPLETED
    assert digest.pending_for(people["officer"], utcnow()) is None


@needs_postgresql
@pytest.mark.committed
def test_two_workers_sending_at_once_send_each_digest_once(app, committed, smtp):
    from webapp.extensions import db

    _, _, officers = review_waiting_for(12, "DIG")
    for n, officer in enumerate(officers):
        officer.email = f"officer{n}@school.test"
    db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(2)
    reports: list[jobs.DigestReport] = []

    def worker() -> None:
        barrier.wait()
        with app.app_context():
            reports.append(jobs.send_daily_digests())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    recipients = Counter(recipients[0] for _, recipients, _ in smtp.messages)
    assert recipients == Counter({f"officer{n}@school.test": 1 for n in range(12)})
    assert sum(report.sent for report in reports) == 12 and not any(report.failed for report in reports)


def test_a_run_out_of_time_says_where_the_next_one_goes_on(db, people, smtp):
    now = utcnow()
    first = jobs.send_daily_digests(now, budget_seconds=0)
    assert first.resume_after is not None, "out of time after the first person looked at"
    resumed = jobs.send_daily_digests(now, after_id=first.resume_after)
    assert resumed.resume_after is None
    assert first.sent + resumed.sent == 2 and len(smtp.messages) == 2, "everyone once, across the two runs"
    assert jobs.send_daily_digests(now).sent == 0
