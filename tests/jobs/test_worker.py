"""The Celery side: settings, jobs in-process without Redis, timers fired exactly once by racing and dying
workers, and notification emails that survive a Redis outage."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from celery import Celery
from celery.schedules import crontab

from tests.conftest import IsolatedClient
from tests.jobs.conftest import ROOT, fired_per_instance, needs_postgresql, wait_for, waiting_reviews
from tests.services.test_notifications import SmtpSink
from webapp.background import (
    DAILY_DIGEST,
    DELIVER_NOTIFICATIONS,
    REFRESH_STANDINGS,
    RUN_CAMPAIGNS,
    RUN_IMPORTS,
    RUN_SERVICE_JOB,
    RUN_SERVICE_JOBS,
    TICK_TIMERS,
)

#: Past the PT48H reminder of hours_review.
IN_THREE_DAYS = timedelta(days=3)


def _app(tmp_path, **settings):
    from webapp import create_app

    return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "SECRET_KEY": "w" * 40, **settings})


# -- configuration -----------------------------------------------------------------------------------------------

def test_celery_is_bound_to_the_settings(tmp_path):
    app = _app(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3", TIMER_TICK_SECONDS=15, NOTIFICATION_SWEEP_SECONDS=90,
               DIGEST_HOUR=6, JOB_SOFT_TIME_LIMIT_SECONDS=50, JOB_TIME_LIMIT_SECONDS=60)
    conf = app.extensions["celery"].conf
    assert conf.broker_url == "redis://127.0.0.1:6379/3" and not conf.task_always_eager
    assert (conf.task_serializer, conf.result_serializer, list(conf.accept_content)) == ("json", "json", ["json"])
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.task_ignore_result
    assert conf.worker_cancel_long_running_tasks_on_connection_loss
    assert conf.worker_prefetch_multiplier == 1 and conf.broker_connection_retry_on_startup
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (50, 60)
    assert conf.timezone == "Asia/Shanghai"
    schedule = conf.beat_schedule
    assert {name: entry["task"] for name, entry in schedule.items()} == {
        "tick-timers": TICK_TIMERS, "run-service-jobs": RUN_SERVICE_JOBS, "run-imports": RUN_IMPORTS,
        "run-campaigns": RUN_CAMPAIGNS, "deliver-notifications": DELIVER_NOTIFICATIONS, "daily-digest": DAILY_DIGEST,
        "refresh-standings": REFRESH_STANDINGS}
    assert schedule["refresh-standings"]["schedule"] == crontab(minute=30, hour=2)
    assert schedule["tick-timers"]["schedule"] == 15 and schedule["deliver-notifications"]["schedule"] == 90
    assert schedule["run-service-jobs"]["schedule"] == 15
    assert schedule["daily-digest"]["schedule"] == crontab(minute="0,15,30,45", hour=6)
    assert {TICK_TIMERS, DELIVER_NOTIFICATIONS, DAILY_DIGEST, RUN_SERVICE_JOB, RUN_SERVICE_JOBS} <= set(
        app.extensions["celery"].tasks)

    quiet = _app(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3", TIMER_TICK_SECONDS=0, DIGEST_HOUR=None)
    assert set(quiet.extensions["celery"].conf.beat_schedule) == {"deliver-notifications", "refresh-standings"}


def test_background_settings_are_validated(tmp_path):
    from webapp.config import ConfigError, load_config

    def load(**environ):
        return load_config(str(tmp_path), environ={f"YANXUN_{key}": value for key, value in environ.items()})

    assert load()["DIGEST_HOUR"] == 7 and load()["NOTIFICATION_SWEEP_SECONDS"] == 60
    assert load(DIGEST_HOUR="")["DIGEST_HOUR"] is None and load(DIGEST_HOUR="off")["DIGEST_HOUR"] is None
    assert load(DIGEST_HOUR="0")["DIGEST_HOUR"] == 0
    for key, value in (("DIGEST_HOUR", "24"), ("DIGEST_HOUR", "7am"), ("NOTIFICATION_SWEEP_SECONDS", "-1"),
                       ("JOB_SOFT_TIME_LIMIT_SECONDS", "400"), ("TIMEZONE", "Mars/Olympus")):
        with pytest.raises(ConfigError, match=f"YANXUN_{key}"):
            load(**{key: value})


def test_the_worker_entry_point_needs_redis():
    result = subprocess.run([sys.executable, "-c", "import webapp.worker"], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "YANXUN_DATABASE_URL": "sqlite:///:memory:",
                                 "YANXUN_SECRET_KEY": "e" * 40}, timeout=60)
    assert result.returncode != 0 and "need YANXUN_REDIS_URL" in result.stderr


def test_without_redis_jobs_run_in_process(app, db, region, make_user):
    """The embedded default: handing a job over runs it at once, in its own app context and session."""
    from webapp import background
    from webapp.models import Role
    from webapp.services import definitions, instances, tasks

    teacher = make_user("eager_teacher", roles=((Role.TEACHER, region["school"]),))
    make_user("eager_officer", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    quick = (ROOT / "tests/web/diagrams/hours_review.bpmn").read_bytes().replace(b">PT48H<", b">PT1S<")
    definitions.deploy({"hours_review.bpmn": quick}, None)
    instance = instances.start("hours_review", subject_org=region["school"], initiator=teacher)
    submit = instances.open_tasks(instance)[0]
    instances.complete_task(submit, teacher, {"title": "即时任务", "hours": 2}, tasks.authorise_complete)
    db.session.commit()
    time.sleep(1.1)

    assert app.extensions["celery"].conf.task_always_eager
    assert background.enqueue(app, TICK_TIMERS)
    assert fired_per_instance([instance.id]) == {instance.id: 1}
    assert db.session.get(type(instance), instance.id).next_timer_at is None


def test_a_failing_job_is_logged_not_raised(app, monkeypatch, caplog):
    from webapp import background, jobs

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(jobs, "tick_timers", broken)
    with caplog.at_level(logging.ERROR, logger="webapp.background"):
        assert background.enqueue(app, TICK_TIMERS) is False
    assert "job yanxun.tick_timers failed" in caplog.text


# -- timers: exactly once ------------------------------------------------------------------------------------------

@needs_postgresql
@pytest.mark.committed
def test_two_workers_ticking_at_once_fire_each_timer_once(app, committed):
    from webapp import jobs
    from webapp.models.base import utcnow

    instance_ids = waiting_reviews(60, "TWO")
    moment = utcnow() + IN_THREE_DAYS
    barrier = threading.Barrier(2)
    reports: list[jobs.TickReport] = []

    def worker() -> None:
        barrier.wait()
        with app.app_context():
            reports.append(jobs.tick_timers(moment))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert fired_per_instance(instance_ids) == dict.fromkeys(instance_ids, 1)
    assert sorted(report.ticked > 0 for report in reports) == [True, True], "both ticks took instances"
    assert sum(report.fired for report in reports) == 60 and not any(report.failures for report in reports)
    with app.app_context():
        assert jobs.tick_timers(moment).ticked == 0, "nothing is left due"


def _publisher(redis_url: str) -> Celery:
    """What beat does: send a job by name through Redis."""
    return Celery("test-publisher", broker=redis_url, set_as_current=False)


def _fired_count(instance_ids: list[int]) -> int:
    return sum(fired_per_instance(instance_ids).values())


@needs_postgresql
@pytest.mark.committed
def test_a_worker_process_killed_mid_tick_is_replaced_and_the_tick_redone(app, committed, redis_server,
                                                                         start_celery):
    """SIGKILL the pool process running the tick: the job goes back to the queue and the tick finishes."""
    instance_ids = waiting_reviews(100, "KID", reminder="PT1S")
    worker = start_celery("worker", redis_server.url)
    (child,) = worker.pool_children()
    time.sleep(1)  # every reminder is due now
    _publisher(redis_server.url).send_task(TICK_TIMERS)

    at_kill = wait_for(lambda: _fired_count(instance_ids), 20, "the worker never fired a timer", interval=0.01)
    subprocess.run(["kill", "-KILL", str(child)], check=True)
    assert at_kill < len(instance_ids), "the tick ended before the kill; give it more instances"

    wait_for(lambda: _fired_count(instance_ids) >= len(instance_ids), 30,
             f"the tick was not redone after the kill:\n{worker.output()}", interval=0.1)
    assert fired_per_instance(instance_ids) == dict.fromkeys(instance_ids, 1)
    assert "SIGKILL" in worker.output()


@needs_postgresql
@pytest.mark.committed
def test_a_worker_killed_mid_tick_loses_and_duplicates_nothing(app, committed, redis_server, start_celery):
    """SIGKILL the whole worker mid-tick, then tick again elsewhere: every timer fires exactly once."""
    from webapp import jobs
    from webapp.extensions import db
    from webapp.models import ProcessInstance

    instance_ids = waiting_reviews(100, "KILL", reminder="PT1S")
    worker = start_celery("worker", redis_server.url)
    time.sleep(1)
    _publisher(redis_server.url).send_task(TICK_TIMERS)

    at_kill = wait_for(lambda: _fired_count(instance_ids), 20, "the worker never fired a timer", interval=0.01)
    worker.kill()
    assert 0 < at_kill < len(instance_ids), "the tick ended before the kill; give it more instances"

    # The killed worker's open transaction is rolled back once PostgreSQL sees its connection gone; until then
    # its row is skipped (SKIP LOCKED), so tick until everything has fired.
    def tick_rest() -> bool:
        jobs.tick_timers()
        return _fired_count(instance_ids) >= len(instance_ids)

    wait_for(tick_rest, 10, "some timers never fired", interval=0.1)
    assert fired_per_instance(instance_ids) == dict.fromkeys(instance_ids, 1)
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance).where(
        ProcessInstance.id.in_(instance_ids), ProcessInstance.next_timer_at.is_not(None)))
    assert waiting == 0


# -- notifications survive a Redis outage ------------------------------------------------------------------------

def _complete_submit(client, task_id: int, token: str, title: str):
    response = client.post(f"/inbox/tasks/{task_id}", data={"title": title, "hours": "12", "category": "training",
                                                            "csrf_token": token})
    response.close()  # the response has gone out: this is when the email job is handed over
    assert response.status_code == 302
    return response


@needs_postgresql
@pytest.mark.committed
def test_with_redis_down_tasks_complete_and_emails_follow_when_it_is_back(app, committed, redis_server,
                                                                        start_celery, caplog):
    """Queued after commit while Redis is up; while it is down the UI works on and the emails wait in the outbox;
    when it is back the worker reconnects and beat's sweep sends them."""
    from tests.conftest import TEST_PASSWORD
    from tests.workflow_support import hours_review_files
    from webapp import background, create_app
    from webapp.extensions import db
    from webapp.models import HumanTask, Notification, Role
    from webapp.services import definitions, instances
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code="OUT-C", name="停电市", type="city")
    school = create_org(code="OUT-S", name="停电学校", type="school", parent=city)
    teacher = create_user(login="out_teacher", password=TEST_PASSWORD, display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    officer = create_user(login="out_officer", password=TEST_PASSWORD, display_name="专干", email="officer@out.test")
    assign_role(officer, Role.SCHOOL_OFFICER, school)
    definitions.deploy(hours_review_files(), None)
    before, during = (instances.start("hours_review", subject_org=school, initiator=teacher, title=title)
                      for title in ("停电之前", "停电期间"))
    db.session.commit()
    submits = {instance.title: instances.open_tasks(instance)[0].id for instance in (before, during)}
    officer_id, during_id = officer.id, during.id
    db.session.remove()

    def emailed() -> list[str]:
        notes = db.session.scalars(sa.select(Notification).where(Notification.user_id == officer_id)
                                   .order_by(Notification.id)).all()
        db.session.rollback()
        return [note.emailed_at is not None for note in notes]

    with SmtpSink() as sink:
        smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_SECURITY": "none",
                "SMTP_FROM": "yanxun@out.test", "PUBLIC_BASE_URL": "https://yanxun.test"}
        web = create_app({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
                          "TESTING": True, "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                          "REDIS_URL": redis_server.url, **smtp})
        web.test_client_class = IsolatedClient
        try:
            worker = start_celery("worker", redis_server.url, smtp)
            client = web.test_client()
            client.login("out_teacher")
            token = client.csrf_token("/inbox/")

            _complete_submit(client, submits["停电之前"], token, "停电之前提交")
            wait_for(lambda: len(sink.messages) == 1, 10, f"the queued job sent nothing:\n{worker.output()}")
            assert emailed() == [True]

            redis_server.stop()
            started = time.monotonic()
            with caplog.at_level(logging.WARNING, logger="webapp.background"):
                _complete_submit(client, submits["停电期间"], token, "停电期间提交")
            assert time.monotonic() - started < 5, "an unreachable Redis must not hold the request up"
            assert "could not queue yanxun.deliver_notifications" in caplog.text
            assert db.session.scalar(sa.select(HumanTask.id).where(HumanTask.instance_id == during_id,
                                                                   HumanTask.bpmn_id == "review")), \
                "the task was completed and the process moved on"
            assert emailed() == [True, False], "the notification waits in the outbox"

            redis_server.start()  # same port, empty: the worker reconnects and declares its queue again
            start_celery("beat", redis_server.url, {**smtp, "NOTIFICATION_SWEEP_SECONDS": 1, "TIMER_TICK_SECONDS": 0,
                                                    "DIGEST_HOUR": "off"})
            wait_for(lambda: len(sink.messages) == 2, 20,
                     f"the sweep did not send the email after Redis came back:\n{worker.output()}")
            assert [recipients for _, recipients, _ in sink.messages] == [["officer@out.test"]] * 2
            assert emailed() == [True, True]
            assert background.enqueue(web, DELIVER_NOTIFICATIONS), "the web app hands jobs over again"
        finally:
            with web.app_context():
                db.engine.dispose()
