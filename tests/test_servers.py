"""``make test`` runs the PostgreSQL and Redis tests on a developer's machine too, and never skips quietly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.servers import postgresql_binaries, postgresql_user

ROOT = Path(__file__).resolve().parents[1]
#: One test that needs PostgreSQL (row locks) and one that needs Redis.
NEEDS_BOTH = ["tests/services/test_concurrency.py", "tests/web/test_health.py::test_healthz_checks_real_redis"]


def run_make_test(**variables: str) -> subprocess.CompletedProcess:
    """What ``make test`` runs after the linters, on a machine where no YANXUN_TEST_* variable is set."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("YANXUN_TEST_") and key != "CI"}
    env.update(variables)
    return subprocess.run([sys.executable, "-m", "tests.servers", "-q", "-p", "no:cacheprovider", *NEEDS_BOTH],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_throw_away_servers_run_the_postgresql_and_redis_tests():
    installed = postgresql_binaries() is not None and postgresql_user() is not None and shutil.which("redis-server")
    if not installed:
        if IN_CI:
            pytest.fail("CI has PostgreSQL and Redis installed: tests/servers.py must be able to start them")
        pytest.skip("PostgreSQL or Redis is not installed here: make test runs without them (and says so)")
    run = run_make_test()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PostgreSQL: started a throw-away server" in run.stderr and "Redis: started a throw-away" in run.stderr
    assert "PostgreSQL: 127.0.0.1:" in run.stdout and "from a throw-away server started for this run" in run.stdout
    assert "2 passed" in run.stdout and "skipped" not in run.stdout.lower()


def test_a_run_without_servers_says_loudly_what_it_skipped():
    run = run_make_test(YANXUN_TEST_SERVERS="off")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PostgreSQL: NONE (YANXUN_TEST_DATABASE_URL is not set): the suite ran on SQLite" in run.stdout
    assert "Redis: NONE (YANXUN_TEST_REDIS_URL is not set)" in run.stdout
    assert "2 TESTS SKIPPED" in run.stdout
    assert "1 × row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)" in run.stdout
    assert "1 × YANXUN_TEST_REDIS_URL is not set" in run.stdout
