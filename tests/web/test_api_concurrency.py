"""Ten officers press "complete" on one task through the API at the same moment: one 200, nine 409s."""

import threading

import pytest

from tests.conftest import PG_URL
from tests.workflow_support import review_waiting_for

pytestmark = [pytest.mark.committed,
              pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)")]

THREADS = 10


def test_simultaneous_api_completions_exactly_one_wins(app, committed):
    from webapp.extensions import db
    from webapp.models import InstanceStatus, ProcessInstance
    from webapp.services.api_tokens import issue

    instance_id, review_id, officers = review_waiting_for(THREADS, "APIRACE")
    tokens = [issue(officer, "race")[1] for officer in officers]
    db.session.commit()
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
