"""Twenty wrong passwords for one login at the same moment: exactly five are checked, fifteen have to wait."""

import threading

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL

pytestmark = [pytest.mark.committed,
              pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)")]

THREADS = 20


def test_simultaneous_wrong_passwords_never_get_past_the_limit(app, committed, clock):
    """Before: each attempt counted the earlier failures with a plain SELECT, so 7–8 of 20 were checked.

    The clock stands still, so the first wait (1 s after the fifth failure) cannot run out during the race."""
    from webapp.extensions import db
    from webapp.models import LoginFailure, LoginThrottle, Notification
    from webapp.services.users import create_user

    limit = app.config["YANXUN"]["LOGIN_MAX_FAILURES"]
    holder = create_user(login="racer", password="Passw0rd!x", display_name="被攻击的老师")
    db.session.commit()
    holder_id = holder.id
    db.session.remove()

    clients = [app.test_client() for _ in range(THREADS)]
    tokens = [client.csrf_token() for client in clients]
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(client, token: str) -> None:
        barrier.wait()
        response = client.post("/auth/login", data={"login": "racer", "password": "wrong-pass1", "csrf_token": token})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(statuses) == [401] * limit + [429] * (THREADS - limit), statuses
    assert db.session.get(LoginThrottle, "racer").failures == limit
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == limit
    told = db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "auth.login_slowed")).all()
    assert told == [holder_id], "the holder is told exactly once"
