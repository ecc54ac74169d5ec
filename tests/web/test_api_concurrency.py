"""Ten officers press "complete" on one task through the API at the same moment: one 200, nine 409s."""

import threading

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.workflow_support import hours_review_files

pytestmark = [pytest.mark.committed,
              pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)")]

THREADS = 10


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


def test_simultaneous_api_completions_exactly_one_wins(app, committed):
    from webapp.api.tokens import issue
    from webapp.extensions import db
    from webapp.models import HumanTask, InstanceStatus, ProcessInstance, Role, TaskStatus
    from webapp.services import definitions, instances, tasks
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code="AC", name="接口并发市", type="city")
    school = create_org(code="AC-S", name="接口并发学校", type="school", parent=city)
    teacher = create_user(login="api_racer_teacher", password="Passw0rd!x", display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    tokens = []
    for n in range(THREADS):
        officer = create_user(login=f"api_racer{n:02d}", password="Passw0rd!x", display_name=f"专干{n}")
        assign_role(officer, Role.SCHOOL_OFFICER, school)
        tokens.append(issue(officer, "race")[1])
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
    statuses: list[int] = []
    lock = threading.Lock()

    def press(token: str) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(f"/api/v1/tasks/{review_id}/complete", json={"data": {"approved": True}},
                               headers={"Authorization": f"Bearer {token}"})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=press, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] + [409] * (THREADS - 1), statuses
    assert db.session.get(ProcessInstance, instance_id).status is InstanceStatus.COMPLETED
