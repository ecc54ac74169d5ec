"""Several workers run the same service jobs at once: every handler runs exactly once (PostgreSQL)."""

import threading

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.workflow_support import async_check, hours_review_async_files

pytestmark = [pytest.mark.committed,
              pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)")]

INSTANCES = 12
WORKERS = 4


def test_workers_racing_for_service_jobs_run_each_once(app, committed):
    from webapp import jobs
    from webapp.extensions import db
    from webapp.models import AuditEvent, HumanTask, Role, ServiceJob, ServiceJobStatus, TaskStatus
    from webapp.services import definitions, instances, tasks
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    async_check.update(failures=0, calls=0)
    city = create_org(code="SJR-C", name="并发市", type="city")
    school = create_org(code="SJR-S", name="并发学校", type="school", parent=city)
    teacher = create_user(login="sjr_teacher", password="Passw0rd!x", display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    definitions.deploy(hours_review_async_files(), None)
    db.session.commit()
    for n in range(INSTANCES):
        instance = instances.start("hours_review_async", subject_org=school, initiator=teacher, data={},
                                   title=f"并发{n}")
        db.session.commit()
        task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
        instances.complete_task(task, teacher, {"title": "信息技术培训", "hours": 8, "category": "training"},
                                tasks.authorise_complete)
        db.session.commit()
    job_ids = list(db.session.scalars(sa.select(ServiceJob.id)))
    assert len(job_ids) == INSTANCES
    db.session.remove()

    barrier = threading.Barrier(WORKERS)
    errors: list[str] = []

    def worker(number: int) -> None:
        barrier.wait()
        with app.app_context():
            try:
                if number % 2:  # half take the jobs one by one as their messages arrive, half sweep
                    for job_id in job_ids:
                        jobs.run_service_job(job_id)
                else:
                    jobs.run_due_service_jobs()
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert async_check["calls"] == INSTANCES, "each handler ran exactly once"
    statuses = db.session.scalars(sa.select(ServiceJob.status)).all()
    assert statuses == [ServiceJobStatus.DONE] * INSTANCES
    reviews = db.session.scalar(sa.select(sa.func.count()).select_from(HumanTask).where(
        HumanTask.bpmn_id == "review", HumanTask.status == TaskStatus.OPEN))
    assert reviews == INSTANCES
    done = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "service.complete"))
    assert done == INSTANCES
