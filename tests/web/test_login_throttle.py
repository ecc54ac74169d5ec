"""Wrong passwords slow a login name down (2^(n−5) s, at most 15 min) instead of locking it; the holder is told."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import TEST_PASSWORD
from webapp.models import LoginThrottle, Notification, Role

WRONG = "wrong-pass1"


def attempt(client, login: str = "teacher1", password: str = WRONG, address: str = "10.0.0.1"):
    return client.post_form("/auth/login", {"login": login, "password": password},
                            environ_base={"REMOTE_ADDR": address})


def teacher(make_user, region, login: str = "teacher1"):
    return make_user(login, roles=((Role.TEACHER, region["school"]),))


def test_each_attempt_after_five_failures_waits_twice_as_long_up_to_fifteen_minutes(app, client, db, make_user,
                                                                                     region, clock):
    teacher(make_user, region)
    for _ in range(5):
        assert attempt(client).status_code == 401
    waits = []
    for failures in range(5, 17):
        refused = attempt(client, password=TEST_PASSWORD)
        assert refused.status_code == 429, f"after {failures} failures even the right password waits"
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(waits[-1] - 0.5)
        assert attempt(client, password=TEST_PASSWORD).status_code == 429, "not a moment too early"
        clock.advance(0.5)
        assert attempt(client).status_code == 401, "after the wait the password is checked again"
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    page = attempt(client).get_data(as_text=True)
    assert "尝试次数过多，请在 15 分钟后再试" in page
    clock.advance(900)
    client.login("teacher1")
    assert db.session.get(LoginThrottle, "teacher1") is None, "a log-in clears the count"


def test_the_count_is_forgotten_after_a_quiet_quarter_of_an_hour(app, client, db, make_user, region, clock):
    teacher(make_user, region)
    for _ in range(4):
        assert attempt(client).status_code == 401
    clock.advance(15 * 60)
    for _ in range(4):
        assert attempt(client).status_code == 401, "the earlier four no longer count"
    client.login("teacher1")


def test_the_account_holder_is_told_when_log_ins_start_to_wait(app, client, db, make_user, region, clock):
    holder = teacher(make_user, region)
    for _ in range(5):
        attempt(client)
    clock.advance(1)
    for _ in range(3):
        attempt(client)
        clock.advance(60)
    for _ in range(6):
        attempt(client, login="nobody-has-this")
    notes = list(db.session.scalars(sa.select(Notification).where(Notification.kind == "auth.login_slowed")))
    assert [note.user_id for note in notes] == [holder.id]
    assert "5" in notes[0].body and notes[0].link == "/auth/security"
    assert "10.0.0.1" not in notes[0].title + notes[0].body

    def next_episode(after_seconds: float) -> int:
        clock.advance(after_seconds)
        for _ in range(5):
            assert attempt(client).status_code == 401
        return db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.kind == "auth.login_slowed"))

    assert next_episode(3600) == 1, "at most one notice a day: nobody can flood the holder with them"
    assert next_episode(24 * 3600) == 2


def test_unknown_names_are_slowed_down_like_real_ones(app, client, db, clock):
    for _ in range(5):
        assert attempt(client, login="ghost").status_code == 401
    assert attempt(client, login="ghost").status_code == 429, "the answer does not tell who has an account"


def test_a_schools_shared_address_survives_many_teachers_typos(app, client, db, make_user, region, clock):
    """Thirty failures from one address (the old limit) no longer lock everybody behind it out."""
    for number in range(10):
        teacher(make_user, region, f"t{number:02d}")
    for _ in range(3):
        for number in range(10):
            assert attempt(client, login=f"t{number:02d}").status_code == 401
    teacher(make_user, region, "late")
    response = attempt(client, login="late", password=TEST_PASSWORD)
    assert response.status_code == 302


def test_an_address_with_very_many_failures_still_has_to_wait(app, client, db, make_user, region, clock,
                                                             monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "LOGIN_MAX_FAILURES_PER_IP", 3)
    teacher(make_user, region)
    for name in ("a1", "a2", "a3"):
        assert attempt(client, login=name, address="10.9.9.9").status_code == 401
    refused = attempt(client, password=TEST_PASSWORD, address="10.9.9.9")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) == 15 * 60
    assert attempt(client, password=TEST_PASSWORD, address="10.0.0.2").status_code == 302, "others are not affected"
