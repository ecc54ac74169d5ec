"""Async service tasks through real Celery processes: the web request hands the job to a worker, failures are
retried by beat's sweep with back-off, then become an incident that an administrator's retry resolves."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_PASSWORD, IsolatedClient
from tests.jobs.conftest import needs_postgresql, wait_for
from tests.workflow_support import SERVICE_DOWN_FILE, hours_review_async_files

SETTINGS = {"SERVICE_MAX_ATTEMPTS": 3, "SERVICE_RETRY_SECONDS": 1}


@needs_postgresql
@pytest.mark.committed
def test_a_failing_async_handler_retries_then_an_admin_retry_resolves_it(app, committed, redis_server,
                                                                        start_celery, tmp_path):
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import AuditEvent, HumanTask, Incident, Role, ServiceJob, ServiceJobStatus, TaskStatus
    from webapp.services import definitions, instances
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    down = tmp_path / "rule-service-down"
    down.touch()
    city = create_org(code="SW-C", name="异步市", type="city")
    school = create_org(code="SW-S", name="异步学校", type="school", parent=city)
    teacher = create_user(login="sw_teacher", password=TEST_PASSWORD, display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    officer = create_user(login="sw_officer", password=TEST_PASSWORD, display_name="专干")
    assign_role(officer, Role.SCHOOL_OFFICER, school)
    admin = create_user(login="sw_admin", password=TEST_PASSWORD, display_name="管理员")
    assign_role(admin, Role.ADMIN, city)
    definitions.deploy(hours_review_async_files(), None)
    instance = instances.start("hours_review_async", subject_org=school, initiator=teacher, title="异步核查")
    db.session.commit()
    instance_id, submit_id = instance.id, instances.open_tasks(instance)[0].id
    db.session.remove()

    def job() -> ServiceJob | None:
        row = db.session.scalar(sa.select(ServiceJob).where(ServiceJob.instance_id == instance_id))
        db.session.rollback()
        return row

    def actions() -> list[str]:
        names = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.instance_id == instance_id)
                                   .order_by(AuditEvent.id)).all()
        db.session.rollback()
        return names

    web = create_app({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
                      "TESTING": True, "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                      "REDIS_URL": redis_server.url, **SETTINGS})
    web.test_client_class = IsolatedClient
    try:
        worker = start_celery("worker", redis_server.url, SETTINGS, preload="tests.workflow_support",
                              environ={SERVICE_DOWN_FILE: str(down)})
        start_celery("beat", redis_server.url, {**SETTINGS, "TIMER_TICK_SECONDS": 1, "NOTIFICATION_SWEEP_SECONDS": 0,
                                                "DIGEST_HOUR": "off"})
        teacher_client = web.test_client()
        teacher_client.login("sw_teacher")
        response = teacher_client.post_form(f"/inbox/tasks/{submit_id}",
                                            {"title": "异步核查课程", "hours": "12", "category": "training"})
        response.close()  # the response has gone out: the job is handed to the worker now
        assert response.status_code == 302

        wait_for(lambda: (job() or ServiceJob()).status is ServiceJobStatus.FAILED, 40,
                 f"the job was not given up after its attempts:\n{worker.output()}", interval=0.2)
        failed = job()
        assert failed.attempts == 3 and "rule service unreachable" in failed.last_error
        assert actions().count("service.attempt_failed") == 3
        incident = db.session.scalar(sa.select(Incident).where(Incident.instance_id == instance_id))
        assert incident is not None and incident.resolved_at is None
        db.session.rollback()

        down.unlink()  # the rule service is back
        admin_client = web.test_client()
        admin_client.login("sw_admin")
        retried = admin_client.post_form(f"/admin/incidents/{incident.id}/retry", {})
        retried.close()
        assert retried.status_code == 302
        wait_for(lambda: (job() or ServiceJob()).status is ServiceJobStatus.DONE, 20,
                 f"the retried job did not run:\n{worker.output()}", interval=0.2)
        review = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                              HumanTask.status == TaskStatus.OPEN))
        assert review is not None and review.bpmn_id == "review"
        resolved = db.session.get(Incident, incident.id)
        assert resolved.resolved_at is not None and resolved.resolved_by_id is not None
        assert actions()[-3:] == ["service.retry", "incident.retry", "service.complete"]
    finally:
        with web.app_context():
            db.engine.dispose()




@needs_postgresql
@pytest.mark.committed
def test_with_redis_down_the_step_completes_and_the_sweep_runs_the_job_later(app, committed):
    """The job row is written with the step; handing it over fails fast; the sweep finds it in the database."""
    import time

    from tests.process_support import free_port
    from webapp import create_app, jobs
    from webapp.extensions import db
    from webapp.models import HumanTask, Role, ServiceJob, ServiceJobStatus, TaskStatus
    from webapp.services import definitions, instances
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code="SWD-C", name="断网市", type="city")
    school = create_org(code="SWD-S", name="断网学校", type="school", parent=city)
    teacher = create_user(login="swd_teacher", password=TEST_PASSWORD, display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    assign_role(create_user(login="swd_officer", password=TEST_PASSWORD, display_name="专干"),
                Role.SCHOOL_OFFICER, school)
    definitions.deploy(hours_review_async_files(), None)
    instance = instances.start("hours_review_async", subject_org=school, initiator=teacher, title="断网核查")
    db.session.commit()
    instance_id, submit_id = instance.id, instances.open_tasks(instance)[0].id
    db.session.remove()

    web = create_app({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": app.config["SECRET_KEY"],
                      "TESTING": True, "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                      "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})  # nobody listens there
    web.test_client_class = IsolatedClient
    try:
        client = web.test_client()
        client.login("swd_teacher")
        began = time.monotonic()
        response = client.post_form(f"/inbox/tasks/{submit_id}",
                                    {"title": "断网核查课程", "hours": "12", "category": "training"})
        response.close()
        assert response.status_code == 302 and time.monotonic() - began < 5, "Redis being down costs little"
        job = db.session.scalar(sa.select(ServiceJob).where(ServiceJob.instance_id == instance_id))
        assert job.status is ServiceJobStatus.PENDING, "kept in the database, nothing lost"
        db.session.rollback()

        assert jobs.run_due_service_jobs().outcomes == {"done": 1}, "beat's sweep once Redis is back"
        review = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                              HumanTask.status == TaskStatus.OPEN))
        assert review.bpmn_id == "review"
    finally:
        with web.app_context():
            db.engine.dispose()
