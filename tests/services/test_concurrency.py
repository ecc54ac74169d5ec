"""Twenty people press "complete" on the same task at the same moment: exactly one wins (PostgreSQL)."""

import threading

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.workflow_support import hours_review_files

pytestmark = [pytest.mark.committed,
              pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)")]

THREADS = 20


@pytest.fixture
def committed(app):
    """Real commits (no rollback wrapper); every table is emptied afterwards."""
    from webapp.extensions import db
    from webapp.models import Base

    with app.app_context():
        yield db
        db.session.remove()
        names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


def test_simultaneous_completions_exactly_one_wins(app, committed):
    from webapp.extensions import db
    from webapp.models import AuditEvent, HumanTask, ProcessInstance, Role, TaskStatus, User
    from webapp.services import definitions, instances, tasks
    from webapp.services.errors import Conflict
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code="CC", name="并发市", type="city")
    school = create_org(code="CC-S", name="并发学校", type="school", parent=city)
    teacher = create_user(login="racer_teacher", password="Passw0rd!x", display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    officers = []
    for n in range(THREADS):
        officer = create_user(login=f"racer{n:02d}", password="Passw0rd!x", display_name=f"专干{n}")
        assign_role(officer, Role.SCHOOL_OFFICER, school)
        officers.append(officer.id)
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=school, initiator=teacher)
    db.session.commit()
    submit_task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
    instances.complete_task(submit_task, teacher, {"title": "并发测试", "hours": 8}, tasks.authorise_complete)
    db.session.commit()
    review_id = db.session.scalar(sa.select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                              HumanTask.status == TaskStatus.OPEN))
    instance_id = instance.id
    db.session.remove()

    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def press(user_id: int) -> None:
        barrier.wait()  # before touching the pool: 20 threads share at most 15 connections
        with app.app_context():
            try:
                user = db.session.get(User, user_id)
                task = db.session.get(HumanTask, review_id)
                instances.complete_task(task, user, {"approved": True}, tasks.authorise_complete)
                db.session.commit()
                outcome = "won"
            except Conflict:
                db.session.rollback()
                outcome = "conflict"
            except Exception as error:  # anything else is a bug; keep it for the assertion message
                db.session.rollback()
                outcome = f"error: {type(error).__name__}: {error}"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=press, args=(user_id,)) for user_id in officers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["conflict"] * (THREADS - 1) + ["won"], outcomes
    instance = db.session.get(ProcessInstance, instance_id)
    assert instance.status.value == "completed"
    review = db.session.get(HumanTask, review_id)
    assert review.status is TaskStatus.COMPLETED
    completions = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.instance_id == instance_id, AuditEvent.action == "task.complete"))
    assert completions == 2, "the submit and exactly one review"
    assert instance.lock_version == 3, "start, submit, one review: three writes"
