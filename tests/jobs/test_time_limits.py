"""The job time limits in real Celery workers: a tick stuck in a step ends, its instance gets a "time limit"
incident, its row lock is released, and the other instances' timers still fire.

The workers run with tiny limits (YANXUN_JOB_SOFT_TIME_LIMIT_SECONDS / YANXUN_JOB_TIME_LIMIT_SECONDS) so that
each test takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import sqlalchemy as sa
from celery import Celery

from tests.conftest import TEST_PASSWORD
from tests.jobs.conftest import CELERY, ROOT, fired_per_instance, needs_postgresql, wait_for
from tests.jobs.looping_support import (
    LOOP_LATER_TOPIC,
    LOOP_TOPIC,
    REMIND_NAME,
    STUBBORN_TOPIC,
    checked_later_diagram,
    reminder_diagram,
    script_step,
    service_step,
)
from tests.process_support import free_port
from tests.workflow_support import async_check, hours_review_async_files
from webapp.background import RUN_SERVICE_JOB, TICK_TIMERS

SUPPORT = "tests.jobs.looping_support"


def test_the_worker_refuses_a_pool_that_does_not_enforce_the_time_limits(tmp_path):
    """``--pool=solo`` (like ``threads``) would accept the limits and never apply them."""
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "YANXUN_SECRET_KEY": "p" * 40,
               "YANXUN_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
               "YANXUN_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # never reached
    result = subprocess.run([CELERY, "-A", "webapp.worker", "worker", "--pool=solo"], cwd=ROOT, env=environ,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "YanXun workers run with the prefork pool" in result.stderr


def _waiting(prefix: str, diagrams: dict[str, bytes]) -> dict[str, int]:
    """Deploy ``diagrams`` and commit one instance of each, submitted in this order (so their reminders fall
    due in this order, a second later); returns the instance ids by process id."""
    from webapp.extensions import db
    from webapp.models import Role
    from webapp.services import definitions, instances, tasks
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code=f"{prefix}-C", name=f"{prefix}市", type="city")
    school = create_org(code=f"{prefix}-S", name=f"{prefix}学校", type="school", parent=city)
    teacher = create_user(login=f"{prefix}_teacher".lower(), password=TEST_PASSWORD, display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    officer = create_user(login=f"{prefix}_officer".lower(), password=TEST_PASSWORD, display_name="专干")
    assign_role(officer, Role.SCHOOL_OFFICER, school)
    definitions.deploy(diagrams, None)
    ids = {}
    for name in diagrams:
        key = name.removesuffix(".bpmn")
        instance = instances.start(key, subject_org=school, initiator=teacher)
        submit = instances.open_tasks(instance)[0]
        instances.complete_task(submit, teacher, {"title": "超时测试", "hours": 2}, tasks.authorise_complete)
        db.session.commit()
        ids[key] = instance.id
    return ids


def _tick(redis_url: str) -> None:
    """What beat does every YANXUN_TIMER_TICK_SECONDS."""
    Celery("test-beat", broker=redis_url, set_as_current=False).send_task(TICK_TIMERS)


def _lockable(instance_id: int) -> bool:
    """Can another transaction lock the instance's row right now?"""
    from webapp.extensions import db

    with db.engine.connect() as connection:
        try:
            connection.execute(sa.text("SELECT id FROM process_instance WHERE id = :id FOR UPDATE NOWAIT"),
                               {"id": instance_id})
        except sa.exc.OperationalError:
            return False
        finally:
            connection.rollback()
    return True


def _state(instance_id: int):
    """(status, incidents) of the instance, as committed."""
    from webapp.extensions import db
    from webapp.models import Incident, ProcessInstance

    status = db.session.scalar(sa.select(ProcessInstance.status).where(ProcessInstance.id == instance_id))
    incidents = db.session.scalars(sa.select(Incident).where(Incident.instance_id == instance_id)).all()
    db.session.rollback()
    return status, incidents


def _fired(instance_id: int) -> bool:
    fired = fired_per_instance([instance_id])[instance_id] > 0
    from webapp.extensions import db

    db.session.rollback()
    return fired


@needs_postgresql
@pytest.mark.committed
@pytest.mark.parametrize("step", [service_step(LOOP_TOPIC)], ids=["looping-handler"])
def test_a_tick_stuck_in_a_step_ends_at_the_soft_limit_and_stops_that_instance(app, committed, redis_server,
                                                                              start_celery, step):
    """A service handler (our own code, not sandboxed) that never returns: the soft limit ends it."""
    from webapp.models import InstanceStatus

    ids = _waiting("SOFT", {**reminder_diagram("stuck_review", step), **reminder_diagram("fine_review")})
    stuck, fine = ids["stuck_review"], ids["fine_review"]
    worker = start_celery("worker", redis_server.url, {"JOB_SOFT_TIME_LIMIT_SECONDS": 1, "JOB_TIME_LIMIT_SECONDS": 4},
                          preload=SUPPORT)
    (process,) = worker.pool_children()
    time.sleep(1)  # both reminders are due
    sent = time.monotonic()
    _tick(redis_server.url)

    wait_for(lambda: _state(stuck)[1], 4, f"no incident before the hard limit:\n{worker.output()}", interval=0.05)
    took = time.monotonic() - sent
    status, (incident,) = _state(stuck)
    assert status is InstanceStatus.INCIDENT, "stopped: no longer due, the next tick will not pick it again"
    assert incident.action == "timer" and incident.details["code"] == "time_limit"
    assert incident.bpmn_id == "remind" and incident.error_type == "SoftTimeLimitExceeded"
    assert "soft time limit of 1 s" in incident.message and REMIND_NAME in incident.message
    wait_for(lambda: _lockable(stuck), 2, "the row lock was not released")
    wait_for(lambda: "raised unexpected: SoftTimeLimitExceeded" in worker.output(), 2, worker.output())
    assert "Hard time limit" not in worker.output() and worker.pool_children() == [process], "nothing was killed"
    assert not _fired(fine), "the job ended with the time limit: it did not go on with the next instance"

    _tick(redis_server.url)
    wait_for(lambda: _fired(fine), 5, f"the next tick did not fire the other timer:\n{worker.output()}")
    assert _state(stuck)[0] is InstanceStatus.INCIDENT and len(_state(stuck)[1]) == 1
    print(f"incident {took:.2f} s after the tick was sent (soft limit 1 s)")


@needs_postgresql
@pytest.mark.committed
def test_a_looping_script_in_a_worker_tick_ends_at_the_engine_budget_and_the_tick_goes_on(app, committed,
                                                                                          redis_server, start_celery):
    """The probe's diagram (a timer leading to an endless script; ``while True: pass`` itself is refused at
    deploy): the engine's step budget stops the script long before the job's time limits, that instance stops
    with an incident naming the step, and the same tick fires the other instance."""
    from webapp.models import InstanceStatus

    ids = _waiting("BUDGET", {**reminder_diagram("spin_review", script_step("n = 1\nwhile n > 0:\n    n = n + 1")),
                              **reminder_diagram("calm_review")})
    spin, calm = ids["spin_review"], ids["calm_review"]
    worker = start_celery("worker", redis_server.url, {"JOB_SOFT_TIME_LIMIT_SECONDS": 20, "JOB_TIME_LIMIT_SECONDS": 30,
                                                       "ENGINE_STEP_SECONDS": 1}, preload=SUPPORT)
    (process,) = worker.pool_children()
    time.sleep(1)  # both reminders are due
    sent = time.monotonic()
    _tick(redis_server.url)
    wait_for(lambda: _state(spin)[1], 10, f"no incident:\n{worker.output()}", interval=0.05)
    took = time.monotonic() - sent
    status, (incident,) = _state(spin)
    assert status is InstanceStatus.INCIDENT and incident.details["code"] == "budget_time"
    assert incident.bpmn_id == "remind" and incident.action == "timer"
    wait_for(lambda: _fired(calm), 5, f"the same tick did not go on:\n{worker.output()}")
    assert "time limit" not in worker.output().lower() and worker.pool_children() == [process]
    print(f"budget incident {took:.2f} s after the tick was sent (engine budget 1 s)")


@needs_postgresql
@pytest.mark.committed
def test_a_step_the_soft_limit_cannot_stop_is_cut_off_then_stopped_without_holding_up_the_others(
        app, committed, redis_server, start_celery):
    """A step that swallows SoftTimeLimitExceeded (or loops in C code) only ends when the hard limit kills the
    process, which rolls back everything, the failure included; the next tick must not take it first again."""
    from webapp.models import InstanceStatus

    ids = _waiting("HARD", {**reminder_diagram("stubborn_review", service_step(STUBBORN_TOPIC)),
                            **reminder_diagram("fine_review")})
    stuck, fine = ids["stubborn_review"], ids["fine_review"]
    worker = start_celery("worker", redis_server.url, {"JOB_SOFT_TIME_LIMIT_SECONDS": 1, "JOB_TIME_LIMIT_SECONDS": 2},
                          preload=SUPPORT)
    (first_process,) = worker.pool_children()
    time.sleep(1)
    began = time.monotonic()
    _tick(redis_server.url)
    wait_for(lambda: not _lockable(stuck), 2, "the tick never took the stuck instance")
    wait_for(lambda: _lockable(stuck), 4, f"the lock outlived the hard limit:\n{worker.output()}")
    released = time.monotonic() - began
    assert "Hard time limit (2s) exceeded" in worker.output()
    assert _state(stuck) == (InstanceStatus.RUNNING, []), "the kill rolled back everything"
    assert not _fired(fine), "the stuck instance came first"

    _tick(redis_server.url)  # the stuck instance now comes last: the other timer fires first
    wait_for(lambda: _fired(fine), 10, f"the other timer did not fire on the next tick:\n{worker.output()}")
    fired = time.monotonic() - began
    wait_for(lambda: worker.output().count("Hard time limit") == 2, 10,
             f"the stuck instance was not tried again after the others:\n{worker.output()}")

    _tick(redis_server.url)  # cut off twice: stopped instead of a third try
    wait_for(lambda: _state(stuck)[1], 10, f"no incident after two cut-offs:\n{worker.output()}")
    stopped = time.monotonic() - began
    status, (incident,) = _state(stuck)
    assert status is InstanceStatus.INCIDENT and incident.details["code"] == "time_limit"
    assert "cut off 2 times" in incident.message and "hard time limit of 2 s" in incident.message
    assert "48小时提醒" in incident.message, "names the timer"
    assert _lockable(stuck)
    assert worker.output().count("Hard time limit") == 2 and first_process not in worker.pool_children()
    print(f"lock released {released:.1f} s, other timer fired {fired:.1f} s, stopped {stopped:.1f} s after the "
          "first tick (hard limit 2 s)")


@needs_postgresql
@pytest.mark.committed
def test_an_instance_cut_off_once_comes_last_and_fires_normally(app, committed, redis_server):
    """In-process, with the workers' journal in Redis: one cut-off (a worker killed while firing) is retried,
    after the others; a second one stops the instance."""
    from webapp import jobs
    from webapp.background import RedisJournal
    from webapp.extensions import db
    from webapp.models import AuditEvent, InstanceStatus

    ids = _waiting("JRN", {**reminder_diagram("first_review"), **reminder_diagram("second_review"),
                           **reminder_diagram("third_review")})
    first, second, third = ids["first_review"], ids["second_review"], ids["third_review"]
    journal = RedisJournal(redis_server.url, "timers")
    journal.begin(first)  # a tick began on it and its worker died
    journal.begin(third)
    journal.begin(third)  # twice
    time.sleep(1)

    report = jobs.tick_timers(journal=journal)
    assert (report.ticked, report.fired) == (3, 2)
    order = db.session.scalars(sa.select(AuditEvent.instance_id).where(AuditEvent.action == "timer.fire")
                               .order_by(AuditEvent.id)).all()
    assert order == [second, first], "the instance cut off once comes last, and fires"
    assert report.failures and report.failures[0][0] == third and "cut off 2 times" in report.failures[0][1]
    assert _state(third)[0] is InstanceStatus.INCIDENT
    assert journal.unfinished() == {}, "every tick finished"
    assert jobs.tick_timers(journal=journal).ticked == 0


# -- service jobs (async topics) --------------------------------------------------------------------------------

def _service_job(instance_id: int):
    from webapp.extensions import db
    from webapp.models import ServiceJob

    job = db.session.scalar(sa.select(ServiceJob).where(ServiceJob.instance_id == instance_id))
    db.session.rollback()
    return job


@needs_postgresql
@pytest.mark.committed
def test_a_service_job_stuck_in_its_handler_counts_a_failed_attempt_and_ends_at_the_soft_limit(
        app, committed, redis_server, start_celery):
    from webapp.models import AuditEvent, ServiceJobStatus

    (instance_id,) = _waiting("SVC", checked_later_diagram("looping_check", LOOP_LATER_TOPIC)).values()
    job_id = _service_job(instance_id).id
    worker = start_celery("worker", redis_server.url, {"JOB_SOFT_TIME_LIMIT_SECONDS": 1, "JOB_TIME_LIMIT_SECONDS": 4},
                          preload=SUPPORT)
    (process,) = worker.pool_children()
    Celery("test-web", broker=redis_server.url, set_as_current=False).send_task(RUN_SERVICE_JOB,
                                                                                kwargs={"job_id": job_id})

    wait_for(lambda: _service_job(instance_id).attempts == 1, 4, f"no attempt counted:\n{worker.output()}")
    job = _service_job(instance_id)
    assert job.status is ServiceJobStatus.PENDING and job.next_attempt_at > job.created_at, "retried after back-off"
    assert "Time limit" in job.last_error and "soft time limit of 1 s" in job.last_error
    wait_for(lambda: "raised unexpected: SoftTimeLimitExceeded" in worker.output(), 2, worker.output())
    assert "Hard time limit" not in worker.output() and worker.pool_children() == [process]
    from webapp.extensions import db

    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.instance_id == instance_id, AuditEvent.action == "service.attempt_failed")) == 1
    db.session.rollback()


def test_a_service_job_attempt_cut_off_counts_as_failed_instead_of_running_again_at_once(db, region, make_user,
                                                                                       redis_server):
    """In-process, with the workers' journal in Redis: an attempt began and its job was killed (nothing of it
    in the database); the next time the job comes up it counts as a failed attempt, with back-off."""
    from webapp import jobs
    from webapp.background import RedisJournal
    from webapp.models import Role, ServiceJob, ServiceJobStatus
    from webapp.services import definitions, instances, tasks

    teacher = make_user("cut_teacher", roles=((Role.TEACHER, region["school"]),))
    make_user("cut_officer", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    definitions.deploy(hours_review_async_files(), None)
    instance = instances.start("hours_review_async", subject_org=region["school"], initiator=teacher)
    submit = instances.open_tasks(instance)[0]
    instances.complete_task(submit, teacher, {"title": "中断测试", "hours": 2}, tasks.authorise_complete)
    db.session.commit()
    job_id = db.session.scalar(sa.select(ServiceJob.id).where(ServiceJob.instance_id == instance.id))
    journal = RedisJournal(redis_server.url, "service_jobs")
    journal.begin(job_id)  # the attempt whose job was killed
    calls = async_check["calls"]

    assert jobs.run_service_job(job_id, journal=journal) == "retry"
    job = db.session.get(ServiceJob, job_id)
    assert async_check["calls"] == calls, "the handler did not run again at once"
    assert job.attempts == 1 and job.status is ServiceJobStatus.PENDING and "never finished" in job.last_error
    assert journal.unfinished() == {}

    assert jobs.run_service_job(job_id, job.next_attempt_at, journal=journal) == "done", "after the back-off"
    assert async_check["calls"] == calls + 1 and journal.unfinished() == {}
