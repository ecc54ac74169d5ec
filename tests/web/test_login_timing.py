"""A log-in with a name nobody has costs the same Argon2 work, hence the same time, as a wrong password."""

from __future__ import annotations

import statistics
import time

import pytest
from argon2 import Parameters, PasswordHasher, extract_parameters, profiles

from tests.conftest import TEST_PASSWORD
from webapp.models import Role
from webapp.services import passwords

WRONG = "wrong-pass1"


@pytest.fixture
def teacher(make_user, region):
    return make_user("teacher1", roles=((Role.TEACHER, region["school"]),))


@pytest.fixture
def unthrottled(app, monkeypatch):
    """Enough tries for a measurement (the throttle has its own tests)."""
    monkeypatch.setitem(app.config["YANXUN"], "LOGIN_MAX_FAILURES", 1000)
    monkeypatch.setitem(app.config["YANXUN"], "LOGIN_MAX_FAILURES_PER_IP", 1000)


def use_hasher(monkeypatch, hasher: PasswordHasher, *users) -> None:
    """Hash with ``hasher`` from now on, the users' passwords included (the suite otherwise hashes cheaply)."""
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(passwords, "_dummy_hash", hasher.hash("the dummy's parameters follow the hasher's"),
                        raising=False)
    for user in users:
        user.password_hash = passwords.hash_password(TEST_PASSWORD)


def wrong_login(client, login: str) -> float:
    """Seconds the server took to refuse ``login`` with a wrong password."""
    token = client.csrf_token()
    started = time.perf_counter()
    response = client.post("/auth/login", data={"login": login, "password": WRONG, "csrf_token": token})
    took = time.perf_counter() - started
    assert response.status_code == 401
    return took


def test_unknown_and_known_logins_take_the_same_time(client, db, teacher, unthrottled, monkeypatch):
    """With the production parameters, medians of five interleaved tries each are within 20 % of each other
    (before the fix: ~18 ms for a name nobody has, ~310 ms for a real one)."""
    use_hasher(monkeypatch, PasswordHasher(), teacher)
    db.session.commit()
    wrong_login(client, "teacher1"), wrong_login(client, "ghost-warm-up")  # caches, connections
    known, unknown = [], []
    for attempt in range(5):
        known.append(wrong_login(client, "teacher1"))
        unknown.append(wrong_login(client, f"ghost{attempt}"))
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    assert known_median > 0.02, "the production parameters cost real work"
    assert abs(known_median - unknown_median) <= 0.2 * max(known_median, unknown_median), (known, unknown)


class CountingHasher(PasswordHasher):
    """Argon2 as configured, noting the parameters of every hash it verifies against."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.verified: list[Parameters] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(extract_parameters(hash if isinstance(hash, str) else hash.decode()))
        return super().verify(hash, password)


@pytest.mark.parametrize("login", ["teacher1", "ghost", "inactive1"])
def test_every_refused_login_verifies_one_hash_with_the_configured_parameters(client, db, teacher, make_user,
                                                                             monkeypatch, login):
    inactive = make_user("inactive1") if login == "inactive1" else None
    if inactive is not None:
        inactive.active = False
    hasher = CountingHasher.from_parameters(profiles.CHEAPEST)
    use_hasher(monkeypatch, hasher, *(user for user in (teacher, inactive) if user is not None))
    db.session.commit()
    hasher.verified.clear()
    token = client.csrf_token()
    password = TEST_PASSWORD if login == "inactive1" else WRONG
    response = client.post("/auth/login", data={"login": login, "password": password, "csrf_token": token})
    assert response.status_code == 401
    assert hasher.verified == [extract_parameters(hasher.hash("x"))]
