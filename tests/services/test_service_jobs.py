"""Async service tasks: queued with the step, run by a job, retried with back-off, then an incident to retry."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.workflow_support import async_check, hours_review_async_files
from webapp import jobs
from webapp.models import (
    AuditEvent,
    HumanTask,
    Incident,
    InstanceStatus,
    Role,
    ServiceJob,
    ServiceJobStatus,
    TaskStatus,
)
from webapp.models.base import utcnow
from webapp.services import definitions, instances, service_jobs, service_queue, tasks


@pytest.fixture
def people(region, make_user):
    return {
        "teacher": make_user("sj_teacher", org=region["school"], roles=((Role.TEACHER, region["school"]),)),
        "officer": make_user("sj_officer", roles=((Role.SCHOOL_OFFICER, region["school"]),)),
        "admin": make_user("sj_admin", roles=((Role.ADMIN, region["city"]),)),
    }


@pytest.fixture(autouse=True)
def reliable_service():
    async_check.update(failures=0, calls=0, bad_result=False)
    yield
    async_check.update(failures=0, calls=0, bad_result=False)


def open_tasks(db, instance):
    return list(db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                              HumanTask.status == TaskStatus.OPEN)))


@pytest.fixture
def submitted(db, region, people):
    """An instance whose async check waits for a worker (committed, as after the teacher's request)."""
    definitions.deploy(hours_review_async_files(), None)
    instance = instances.start("hours_review_async", subject_org=region["maths"], initiator=people["teacher"],
                               data={}, title="异步核查")
    db.session.commit()
    (task,) = open_tasks(db, instance)
    instances.complete_task(task, people["teacher"], {"title": "信息技术培训", "hours": 12, "category": "training"},
                            tasks.authorise_complete)
    db.session.commit()
    return instance


def only_job(db):
    (job,) = db.session.scalars(sa.select(ServiceJob))
    return job


def test_async_task_waits_for_a_worker_then_the_instance_moves_on(db, submitted):
    job = only_job(db)
    assert job.status is ServiceJobStatus.PENDING
    assert job.topic == "test.check_hours_later"
    assert service_queue.take_committed() == [job.id], "handed to the queue after the commit"
    assert open_tasks(db, submitted) == [], "nothing to review before the check has run"
    assert async_check["calls"] == 0, "the web request does not run the handler"

    assert jobs.run_service_job(job.id) == service_jobs.Outcome.DONE
    db.session.refresh(job)
    assert job.status is ServiceJobStatus.DONE and job.attempts == 1
    (review,) = open_tasks(db, submitted)
    assert review.bpmn_id == "review"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.instance_id == submitted.id, AuditEvent.action == "service.complete")) == 1
    assert jobs.run_service_job(job.id) == service_jobs.Outcome.SKIPPED, "a job runs once"
    assert async_check["calls"] == 1


def test_failures_retry_with_back_off_then_succeed(db, submitted):
    job = only_job(db)
    async_check["failures"] = 2
    start = utcnow()
    assert jobs.run_service_job(job.id, start) == service_jobs.Outcome.RETRY
    db.session.refresh(job)
    assert job.attempts == 1 and job.status is ServiceJobStatus.PENDING
    assert "rule service timed out" in job.last_error
    assert job.next_attempt_at == start + timedelta(seconds=30)
    assert open_tasks(db, submitted) == [], "the failed attempt left nothing behind"

    assert jobs.run_service_job(job.id, start + timedelta(seconds=5)) == service_jobs.Outcome.SKIPPED, "not due"
    report = jobs.run_due_service_jobs(start + timedelta(seconds=31))
    assert report.outcomes == {"retry": 1}
    db.session.refresh(job)
    assert job.next_attempt_at == start + timedelta(seconds=31 + 60), "the wait doubles"
    assert jobs.run_due_service_jobs(start + timedelta(seconds=40)).outcomes == {}, "nothing due yet"
    assert jobs.run_due_service_jobs(start + timedelta(minutes=2)).outcomes == {"done": 1}
    assert [t.bpmn_id for t in open_tasks(db, submitted)] == ["review"]
    failed = db.session.scalars(sa.select(AuditEvent.after).where(
        AuditEvent.instance_id == submitted.id, AuditEvent.action == "service.attempt_failed")).all()
    assert [entry["attempt"] for entry in failed] == [1, 2]


def test_a_handler_that_keeps_failing_becomes_an_incident_an_admin_retry_resolves(app, db, client, submitted,
                                                                                  people, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "SERVICE_MAX_ATTEMPTS", 3)
    job = only_job(db)
    async_check["failures"] = 99
    moment = utcnow()
    outcomes = []
    for _ in range(3):
        outcomes.append(jobs.run_service_job(job.id, moment))
        db.session.refresh(job)
        moment = job.next_attempt_at
    assert outcomes == ["retry", "retry", "failed"]
    assert job.status is ServiceJobStatus.FAILED
    (incident,) = db.session.scalars(sa.select(Incident).where(Incident.instance_id == submitted.id))
    assert incident.action == "service" and "rule service timed out" in incident.message
    assert incident.details["task_id"] == job.task_guid
    db.session.refresh(submitted)
    assert submitted.status is InstanceStatus.RUNNING
    assert instances.service_task_state(submitted, job.task_guid) == "ERROR", "the engine task is in ERROR"

    officer = app.test_client()
    officer.login(people["officer"].login)
    assert officer.get("/admin/incidents").status_code == 403
    client.login(people["admin"].login)
    page = client.get("/admin/incidents")
    assert page.status_code == 200
    assert "rule service timed out" in page.text and "已尝试 3 次" in page.text

    async_check["failures"] = 0
    response = client.post_form(f"/admin/incidents/{incident.id}/retry", {})
    assert response.status_code == 302
    db.session.refresh(job)
    db.session.refresh(incident)
    assert incident.resolved_at is not None and incident.resolved_by_id == people["admin"].id
    # Without Redis the job runs in-process once the response is sent; with Redis a worker takes it.
    db.session.refresh(job)
    if job.status is ServiceJobStatus.PENDING:
        assert jobs.run_service_job(job.id) == service_jobs.Outcome.DONE
    assert [t.bpmn_id for t in open_tasks(db, submitted)] == ["review"]
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.instance_id == submitted.id)).all()
    assert "incident.retry" in actions and "service.retry" in actions
    again = client.post_form(f"/admin/incidents/{incident.id}/retry", {}, follow_redirects=True)
    assert "already been dealt with" in again.text or "该故障已经处理过了" in again.text



def test_an_administrators_retry_gives_the_job_its_whole_budget_again(app, db, submitted, people, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "SERVICE_MAX_ATTEMPTS", 3)
    job = only_job(db)
    async_check["failures"] = 3
    moment = utcnow()
    for _ in range(3):
        jobs.run_service_job(job.id, moment)
        db.session.refresh(job)
        moment = job.next_attempt_at
    assert (job.status, job.attempts) == (ServiceJobStatus.FAILED, 3)
    (incident,) = db.session.scalars(sa.select(Incident).where(Incident.instance_id == submitted.id))

    async_check["failures"] = 2  # the rule service is back, still flaky
    retried = service_jobs.retry_incident(incident.id, people["admin"])
    db.session.commit()
    assert retried.id == job.id
    assert (job.status, job.attempts, job.last_error) == (ServiceJobStatus.PENDING, 0, None)
    outcomes = []
    for _ in range(3):
        outcomes.append(jobs.run_service_job(job.id, job.next_attempt_at))
        db.session.refresh(job)
    assert outcomes == ["retry", "retry", "done"], "three attempts again, not what was left of the first three"
    assert [t.bpmn_id for t in open_tasks(db, submitted)] == ["review"]

def test_resolve_only_marks_the_incident(db, client, submitted, people, monkeypatch, app):
    monkeypatch.setitem(app.config["YANXUN"], "SERVICE_MAX_ATTEMPTS", 1)
    job = only_job(db)
    async_check["failures"] = 1
    assert jobs.run_service_job(job.id) == "failed"
    (incident,) = db.session.scalars(sa.select(Incident))
    client.login(people["admin"].login)
    assert client.post_form(f"/admin/incidents/{incident.id}/resolve", {}).status_code == 302
    db.session.refresh(incident)
    db.session.refresh(job)
    assert incident.resolved_at is not None
    assert job.status is ServiceJobStatus.FAILED, "nothing re-runs"
    page = client.get("/admin/incidents?state=resolved")
    assert "rule service timed out" in page.text
    assert "No open incidents" in client.get("/admin/incidents").text or "没有未处理的故障" in client.get(
        "/admin/incidents").text


def test_a_job_whose_task_no_longer_waits_is_cancelled(db, submitted):
    job = only_job(db)
    instance = instances.lock_instance(submitted.id)
    instance.status = InstanceStatus.CANCELLED
    db.session.commit()
    assert jobs.run_service_job(job.id) == service_jobs.Outcome.CANCELLED
    assert async_check["calls"] == 0


def test_the_single_process_ticker_runs_due_service_jobs(db, submitted):
    """Without Redis there is no worker: every beat of the embedded ticker runs what is due."""
    job = only_job(db)
    async_check["failures"] = 1
    jobs.embedded_round()
    db.session.refresh(job)
    assert (job.status, job.attempts) == (ServiceJobStatus.PENDING, 1), "failed once, waiting for its retry"
    jobs.embedded_round(job.next_attempt_at)
    db.session.refresh(job)
    assert job.status is ServiceJobStatus.DONE
    assert [t.bpmn_id for t in open_tasks(db, submitted)] == ["review"]


def test_a_result_the_process_cannot_take_fails_at_once_without_calling_again(db, client, submitted, people):
    job = only_job(db)
    async_check["bad_result"] = True
    assert jobs.run_service_job(job.id) == "failed"
    assert async_check["calls"] == 1, "re-running the handler would not help"
    db.session.refresh(job)
    assert job.status is ServiceJobStatus.FAILED and "returned a str" in job.last_error
    (incident,) = db.session.scalars(sa.select(Incident).where(Incident.instance_id == submitted.id))
    assert incident.details["service_task_id"] == job.task_guid
    assert instances.service_task_state(submitted, job.task_guid) == "ERROR", "given up: stopped at the task"
    assert open_tasks(db, submitted) == [], "nothing of the step after it happened"
    assert service_jobs.can_retry(incident)

    async_check["bad_result"] = False
    client.login(people["admin"].login)
    response = client.post_form(f"/admin/incidents/{incident.id}/retry", {})
    response.close()
    db.session.refresh(job)
    if job.status is ServiceJobStatus.PENDING:
        assert jobs.run_service_job(job.id) == "done"
    assert [t.bpmn_id for t in open_tasks(db, submitted)] == ["review"]


def test_an_instance_stopped_by_an_incident_keeps_its_service_job_waiting(db, submitted):
    job = only_job(db)
    instance = instances.lock_instance(submitted.id)
    instance.status = InstanceStatus.INCIDENT
    db.session.commit()
    assert jobs.run_service_job(job.id) == "skipped"
    db.session.refresh(job)
    assert job.status is ServiceJobStatus.PENDING and async_check["calls"] == 0
    instance = instances.lock_instance(submitted.id)
    instance.status = InstanceStatus.RUNNING  # what an administrator's retry of that incident does
    db.session.commit()
    assert jobs.run_service_job(job.id, job.next_attempt_at) == "done"


def test_unexpected_errors_count_as_attempts_and_end_in_an_incident(app, db, submitted, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "SERVICE_MAX_ATTEMPTS", 2)
    job = only_job(db)

    def broken(*args, **kwargs):
        raise RuntimeError("template on fire")

    monkeypatch.setattr(instances, "complete_service_task", broken)
    moment = utcnow()
    assert jobs.run_service_job(job.id, moment) == "retry"
    db.session.refresh(job)
    assert job.attempts == 1 and "template on fire" in job.last_error
    jobs.run_service_job(job.id, job.next_attempt_at)
    db.session.refresh(job)
    assert job.status is ServiceJobStatus.FAILED
    (incident,) = db.session.scalars(sa.select(Incident).where(Incident.instance_id == submitted.id))
    assert "template on fire" in incident.message and service_jobs.can_retry(incident)
