"""Twenty people press "complete" on the same task at the same moment: exactly one wins (PostgreSQL)."""

import threading

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.workflow_support import review_waiting_for

pytestmark = [pytest.mark.committed,
              pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)")]

THREADS = 20


def test_simultaneous_completions_exactly_one_wins(app, committed):
    from webapp.extensions import db
    from webapp.models import AuditEvent, HumanTask, ProcessInstance, TaskStatus, User
    from webapp.services import instances, tasks
    from webapp.services.errors import Conflict

    instance_id, review_id, officers = review_waiting_for(THREADS, "RACE")
    officers = [officer.id for officer in officers]
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
