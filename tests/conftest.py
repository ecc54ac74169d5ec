"""Shared fixtures: one app and schema per run, one rolled-back transaction per test.

The suite runs on PostgreSQL when ``YANXUN_TEST_DATABASE_URL`` is set (each run gets its own schema, so
parallel runs on one database do not collide) and on a temporary SQLite file otherwise. Under CI
(``CI=true``) both ``YANXUN_TEST_DATABASE_URL`` and ``YANXUN_TEST_REDIS_URL`` are required.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

# The app counts days in its time zone (create_app sets the process's zone); so do the tests, from the start, so
# that a date computed when a test module is imported is the app's "today" too.
os.environ["TZ"] = os.environ.get("YANXUN_TIMEZONE", "Asia/Shanghai")
time.tzset()

PG_URL = os.environ.get("YANXUN_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("YANXUN_TEST_REDIS_URL", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_PASSWORD = "Passw0rd!test"


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not (PG_URL and REDIS_URL):
        raise pytest.UsageError("CI must set YANXUN_TEST_DATABASE_URL and YANXUN_TEST_REDIS_URL; "
                                "PostgreSQL and Redis tests are never skipped in CI.")


def _server(url: str, name: str, variable: str, missing: str) -> tuple[str, bool]:
    """One line of the summary about a server the suite uses, and whether it is missing."""
    if not url:
        return f"{name}: NONE ({variable} is not set): {missing}", True
    where = urlsplit(url)
    started = name in os.environ.get("YANXUN_TEST_THROWAWAY", "").split(",")
    source = "a throw-away server started for this run (tests/servers.py)" if started else variable
    return f"{name}: {where.hostname}:{where.port}{where.path} from {source}", False


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say what the run tested against, and loudly how many tests were skipped and why: a green run that
    skipped the PostgreSQL tests has tested no row locking at all."""
    lines = [_server(PG_URL, "PostgreSQL", "YANXUN_TEST_DATABASE_URL",
                     "the suite ran on SQLite, which has no row locks; the concurrency and worker tests did not run"),
             _server(REDIS_URL, "Redis", "YANXUN_TEST_REDIS_URL", "the tests that need Redis did not run")]
    terminalreporter.write_sep("=", "test servers")
    for line, missing in lines:
        terminalreporter.write_line(line, red=missing, bold=missing)
    if any(missing for _, missing in lines):
        terminalreporter.write_line("`make test` starts throw-away PostgreSQL and Redis servers when they are "
                                    "installed (tests/servers.py).", yellow=True)
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.write_sep("!", f"{sum(reasons.values())} TESTS SKIPPED", red=True, bold=True)
        for reason, count in reasons.most_common():
            terminalreporter.write_line(f"{count:4d} × {reason}", red=True)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """(url, engine options) of an empty database for this run."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}", {}
        return
    from webapp.config import normalise_database_url

    url = normalise_database_url(PG_URL)
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield url, {"connect_args": {"options": f"-csearch_path={schema}"}, "pool_pre_ping": True}
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


class IsolatedClient(FlaskClient):
    """Runs every request in its own app context, as in production (fresh ``g``, fresh session)."""

    def open(self, *args: Any, **kwargs: Any):
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def csrf_token(self, path: str = "/auth/login") -> str:
        page = self.get(path, follow_redirects=True).get_data(as_text=True)
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post_form(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any):
        """POST like a browser would: with the CSRF token of the current session."""
        payload = dict(data or {})
        payload.setdefault("csrf_token", self.csrf_token())
        return self.post(path, data=payload, **kwargs)

    def login(self, login: str, password: str = TEST_PASSWORD):
        response = self.post_form("/auth/login", {"login": login, "password": password})
        assert response.status_code == 302, f"login of {login} failed: {response.status_code}"
        return response


@pytest.fixture(scope="session")
def app(database_url):
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.services.passwords import use_cheap_hashing

    use_cheap_hashing()
    url, engine_options = database_url
    application = create_app({
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "TESTING": True,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        # The embedded default: jobs run in-process (eager). Tests of the Redis set-up build their own app.
        "REDIS_URL": None,
    })
    application.test_client_class = IsolatedClient
    with application.app_context():
        upgrade()
    yield application
    from webapp.extensions import db as database

    with application.app_context():
        for engine in database.engines.values():
            engine.dispose()


@pytest.fixture
def db(app) -> Iterator[Any]:
    """The database inside a transaction that is rolled back after the test.

    Every session binds to one connection that sits in a SAVEPOINT, so the application's own
    ``commit()`` calls release nested savepoints and the final rollback undoes everything.
    """
    from webapp.extensions import db as database

    with app.app_context():
        engines = database.engines
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        connection.begin_nested()
        engines[None] = connection
        try:
            yield database
        finally:
            database.session.remove()
            engines[None] = engine
            transaction.rollback()
            connection.close()


@pytest.fixture
def committed(app):
    """Real commits, for tests of concurrent transactions; every table is emptied afterwards."""
    from webapp.extensions import db as database
    from webapp.models import Base

    with app.app_context():
        yield database
        database.session.remove()
        names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        with database.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def client(app, db) -> IsolatedClient:
    return app.test_client()


@pytest.fixture
def make_org(db):
    from webapp.services.orgs import create_org

    counter = iter(range(1, 10_000))

    def _make_org(type: str = "school", parent=None, **values: Any):
        number = next(counter)
        values.setdefault("code", f"T{type[:3].upper()}{number:04d}")
        values.setdefault("name", f"测试{type}{number}")
        return create_org(type=type, parent=parent, **values)

    return _make_org


@pytest.fixture
def make_user(db):
    from webapp.services.users import assign_role, create_user

    counter = iter(range(1, 10_000))

    def _make_user(login: str | None = None, *, roles: tuple[tuple[str, Any], ...] = (), **profile: Any):
        login = login or f"user{next(counter):04d}"
        profile.setdefault("display_name", f"测试用户{login}")
        user = create_user(login=login, password=TEST_PASSWORD, **profile)
        for role, org in roles:
            assign_role(user, role, org)
        return user

    return _make_user


@pytest.fixture
def region(make_org):
    """A small tree: city → county → school → two subgroups, plus a second county and school."""
    city = make_org("city", code="C1", name="测试市")
    county = make_org("county", city, code="C1-K1", name="一县")
    school = make_org("school", county, code="C1-K1-S1", name="一县一中", stage="senior")
    maths = make_org("subgroup", school, code="C1-K1-S1-MATH", name="数学备课组")
    chinese = make_org("subgroup", school, code="C1-K1-S1-CHN", name="语文备课组")
    county2 = make_org("county", city, code="C1-K2", name="二县")
    school2 = make_org("school", county2, code="C1-K2-S1", name="二县实验小学", stage="primary")
    return {"city": city, "county": county, "school": school, "maths": maths, "chinese": chinese,
            "county2": county2, "school2": school2}


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("YANXUN_TEST_REDIS_URL is not set")
    return REDIS_URL
