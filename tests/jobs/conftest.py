"""Helpers of the background-job tests: waiting instances, a private Redis server, real Celery workers.

The worker tests start ``celery -A webapp.worker worker`` as a subprocess on this run's PostgreSQL schema (the
search path travels in the database URL) and on a Redis server of their own, so parallel runs and other
tests' workers never take each other's jobs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests.conftest import IN_CI, PG_URL, TEST_PASSWORD
from tests.process_support import free_port, redis_answers, redis_command
from tests.workflow_support import HOURS_REVIEW

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))

needs_postgresql = pytest.mark.skipif(not PG_URL, reason="row locks and worker processes need PostgreSQL "
                                                         "(YANXUN_TEST_DATABASE_URL)")


def wait_for(check: Callable[[], object], timeout: float, message: str, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message)


def fired_per_instance(instance_ids: list[int]) -> dict[int, int]:
    """How many ``timer.fire`` audit events each instance has."""
    from webapp.extensions import db
    from webapp.models import AuditEvent

    rows = db.session.execute(sa.select(AuditEvent.instance_id, sa.func.count()).where(
        AuditEvent.action == "timer.fire", AuditEvent.instance_id.in_(instance_ids)).group_by(AuditEvent.instance_id))
    counts = dict.fromkeys(instance_ids, 0)
    counts.update({instance_id: n for instance_id, n in rows})
    return counts


def waiting_reviews(count: int, prefix: str, *, reminder: str = "PT48H") -> list[int]:
    """Commit ``count`` hours_review instances whose review waits with its reminder (``reminder``) armed."""
    from webapp.extensions import db
    from webapp.models import HumanTask, Role
    from webapp.services import definitions, instances, tasks
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code=f"{prefix}-C", name=f"{prefix}市", type="city")
    school = create_org(code=f"{prefix}-S", name=f"{prefix}学校", type="school", parent=city)
    teacher = create_user(login=f"{prefix}_teacher".lower(), password=TEST_PASSWORD, display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    officer = create_user(login=f"{prefix}_officer".lower(), password=TEST_PASSWORD, display_name="专干")
    assign_role(officer, Role.SCHOOL_OFFICER, school)
    diagram = HOURS_REVIEW.read_bytes().replace(b">PT48H<", f">{reminder}<".encode())
    definitions.deploy({HOURS_REVIEW.name: diagram}, None)
    ids = []
    for _ in range(count):
        instance = instances.start("hours_review", subject_org=school, initiator=teacher)
        submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
        instances.complete_task(submit, teacher, {"title": "计时测试", "hours": 2}, tasks.authorise_complete)
        ids.append(instance.id)
    db.session.commit()
    return ids


# -- a Redis server of our own ---------------------------------------------------------------------------------

class RedisServer:
    """``redis-server`` on a free local port, without persistence; :meth:`stop` and :meth:`start` keep the port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(redis_command(self.port, self.directory), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for(self.ping, 10, f"redis-server did not start on port {self.port}")

    def ping(self) -> bool:
        return redis_answers(self.url)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server is not installed; CI needs it for the Redis outage tests")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- real Celery workers -----------------------------------------------------------------------------------------

def subprocess_database_url(app) -> str:
    """The test app's database as a URL another process can use (the run's schema in ``options``)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("options")
    return f"{url}?options={quote(options)}" if options else url


class CeleryProcess:
    """A ``celery -A webapp.worker worker|beat`` process group; :meth:`kill` sends SIGKILL to all of it."""

    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def pool_children(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


#: What each program prints once it works.
_READY = {"worker": "ready.", "beat": "beat: Starting..."}


@pytest.fixture
def start_celery(app, tmp_path) -> Iterator[Callable[..., CeleryProcess]]:
    """Start ``celery -A webapp.worker worker`` (one pool process) or ``... beat`` on this run's database and
    ``redis_url``, with extra ``YANXUN_*`` settings; every process is killed afterwards."""
    started: list[CeleryProcess] = []

    def _start(program: str, redis_url: str, settings: Mapping[str, object] | None = None, *,
               preload: str | None = None, environ: Mapping[str, str] | None = None) -> CeleryProcess:
        """``preload``: a module imported before Celery starts (e.g. one registering test service handlers)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("YANXUN_")}
        env.update(environ or {})
        env.update({"YANXUN_DATABASE_URL": subprocess_database_url(app), "YANXUN_REDIS_URL": redis_url,
                    "YANXUN_SECRET_KEY": app.config["SECRET_KEY"], "PYTHONPATH": str(ROOT)})
        env.update({f"YANXUN_{key}": str(value) for key, value in (settings or {}).items()})
        number = len(started)
        command = [CELERY, "-A", "webapp.worker", program, "--loglevel=INFO"]
        if preload:
            command[:1] = [sys.executable, "-c", f"import {preload}; from celery.__main__ import main; main()"]
        if program == "worker":
            command += ["--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle",
                        "--without-heartbeat", f"--hostname=test{number}@%h"]
        else:
            command += ["--schedule", str(tmp_path / f"beat{number}-schedule")]
        log = tmp_path / f"{program}{number}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        celery = CeleryProcess(process, log)
        started.append(celery)
        wait_for(lambda: _READY[program] in celery.output() or process.poll() is not None, 30,
                 f"celery {program} did not start")
        assert process.poll() is None, celery.output()
        return celery

    try:
        yield _start
    finally:
        for celery in started:
            celery.kill()
