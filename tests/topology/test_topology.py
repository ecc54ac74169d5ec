"""The production topology on this machine, driven over HTTP through a credit application's review reminder.

What docker-compose.yml runs, as local processes: gunicorn with 2 workers serving ``webapp:create_app()``,
2 Celery workers and 1 beat (``celery -A webapp.worker worker|beat``), on a database of their own in this
machine's PostgreSQL (migrated, rules and workflows loaded, demo region seeded, as ``make run`` does) and a
private ``redis-server``. The reminder fires after 5 s (``YANXUN_CREDIT_REMINDER_AFTER=PT5S``), beat ticks
every second (``YANXUN_TIMER_TICK_SECONDS=1``), so both workers race for every tick.

The teacher applies with an evidence file; beat and the workers fire the leader's reminder exactly once (one
``timer.fire`` event, one notification, which the leader reads on /notifications); the leader and the school
officer approve on their task pages; the hours land in the teacher's ledger. Only HTTP drives the story;
the database is read to check it.
"""

from __future__ import annotations

import contextlib
import html
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.conftest import PG_URL, REDIS_URL
from tests.process_support import free_port, redis_answers, redis_command

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "Demo@2026"
TEACHER, LEADER, OFFICER = "limin", "chenjing", "liufang"
HOURS = 4  # the demo rules' `open_lesson` item (公开课、示范课, school_based: the school recognises it)
ITEM_NAME = "公开课、示范课"
STARTUP_SECONDS = 60
REMINDER_WAIT_SECONDS = 60

pytestmark = pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="the topology test runs gunicorn, Celery workers and beat against PostgreSQL and Redis: set "
           "YANXUN_TEST_DATABASE_URL and YANXUN_TEST_REDIS_URL (CI sets both)")


# ---------------------------------------------------------------------------------------------------------
# The processes
# ---------------------------------------------------------------------------------------------------------

@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


@dataclass
class Stack:
    base_url: str
    database: sa.Engine
    processes: list[Process] = field(default_factory=list)

    def log(self, name: str) -> str:
        return "\n".join(p.text() for p in self.processes if p.name.startswith(name))

    def check_running(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                pytest.fail(f"{process.name} exited with {process.popen.returncode}")

    def scalar(self, statement: str, **params: Any) -> Any:
        with self.database.connect() as conn:
            return conn.execute(sa.text(statement), params).scalar()


def _start(name: str, command: list[str], env: dict[str, str], workdir: Path, processes: list[Process]) -> None:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        popen = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # its own process group: children die with it
    processes.append(Process(name, popen, log))


def _stop(process: Process) -> None:
    """SIGTERM to the process group (gunicorn's and Celery's children too), then SIGKILL to whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.popen.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.popen.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.popen.pid, signal.SIGKILL)
    process.popen.wait(timeout=5)


def _wait_for(what: str, ready: Callable[[], bool], stack: Stack, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        stack.check_running()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # noqa: S310 (local server)
            return response.status == 200
    except OSError:
        return False


def _redis(workdir: Path, processes: list[Process], stack: Stack) -> str:
    """A private redis-server without persistence, or the test Redis when the binary is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        return REDIS_URL
    port = free_port()
    _start("redis", redis_command(port, workdir, binary), dict(os.environ), workdir, processes)
    url = f"redis://127.0.0.1:{port}/0"
    _wait_for("redis-server", lambda: redis_answers(url), stack, 15)
    return url


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    from webapp.config import normalise_database_url

    workdir = tmp_path_factory.mktemp("topology")
    server = sa.engine.make_url(normalise_database_url(PG_URL))
    name = f"yanxun_topology_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    database_url = server.set(database=name)
    stack = Stack("", sa.create_engine(database_url, poolclass=NullPool))
    try:
        redis_url = _redis(workdir, stack.processes, stack)
        env = {key: value for key, value in os.environ.items() if not key.startswith("YANXUN_")}
        env.update({
            "PYTHONPATH": str(ROOT),
            "YANXUN_DATABASE_URL": database_url.render_as_string(hide_password=False),
            "YANXUN_REDIS_URL": redis_url,
            "YANXUN_SECRET_KEY": secrets.token_urlsafe(48),
            "YANXUN_EVIDENCE_DIR": str(workdir / "evidence"),  # shared by gunicorn and the workers
        })
        flask = [sys.executable, "-m", "flask", "--app", "webapp"]
        for step in (["db", "upgrade"], ["rules", "load", str(ROOT / "rules")],
                     ["workflows", "deploy", str(ROOT / "workflows")], ["seed-demo"]):  # as `make seed`
            result = subprocess.run([*flask, *step], cwd=workdir, env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, f"{' '.join(step)} failed:\n{result.stdout}\n{result.stderr}"
        env.update({"YANXUN_TIMER_TICK_SECONDS": "1", "YANXUN_CREDIT_REMINDER_AFTER": "PT5S",
                    "YANXUN_CREDIT_ESCALATE_AFTER": "PT1H"})
        port = free_port()
        stack.base_url = f"http://127.0.0.1:{port}"
        celery = [sys.executable, "-m", "celery", "-A", "webapp.worker"]
        _start("web", [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                       "--access-logfile", "-", "webapp:create_app()"], env, workdir, stack.processes)
        for n in (1, 2):
            _start(f"worker{n}", [*celery, "worker", "--loglevel=info", "--concurrency=1", "-n", f"w{n}@%h"],
                   env, workdir, stack.processes)
        _start("beat", [*celery, "beat", "--loglevel=info", "--schedule", str(workdir / "celerybeat-schedule")],
               env, workdir, stack.processes)
        _wait_for("gunicorn's /healthz", lambda: _healthy(stack.base_url), stack, STARTUP_SECONDS)
        for n in (1, 2):
            _wait_for(f"worker {n}", lambda n=n: f"w{n}@" in stack.log(f"worker{n}")
                      and " ready." in stack.log(f"worker{n}"), stack, STARTUP_SECONDS)
        _wait_for("beat", lambda: "beat: Starting" in stack.log("beat"), stack, STARTUP_SECONDS)
        yield stack
    finally:
        for process in reversed(stack.processes):
            _stop(process)
        for process in stack.processes:  # shown by pytest when the test failed
            lines = process.text().splitlines()
            print(f"\n===== {process.name} (exit {process.popen.returncode}), last {min(len(lines), 150)} lines "
                  f"=====\n" + "\n".join(lines[-150:]))
        stack.database.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# ---------------------------------------------------------------------------------------------------------
# A browser without a browser: cookies, CSRF tokens, forms and file uploads over urllib
# ---------------------------------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None  # a redirect comes back as the response, so its Location can be checked


@dataclass
class Page:
    status: int
    text: str
    location: str


class Browser:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _NoRedirect)

    def open(self, path: str, data: bytes | None = None, content_type: str | None = None) -> Page:
        request = urllib.request.Request(self.base_url + path, data=data)  # noqa: S310 (the local test server)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            return Page(response.status, response.read().decode("utf-8", errors="replace"),
                        response.headers.get("Location") or "")

    def get(self, path: str) -> Page:
        page = self.open(path)
        assert page.status == 200, f"GET {path}: {page.status}"
        return page

    def post(self, path: str, fields: dict[str, str], files: tuple[tuple[str, str, bytes, str], ...] = ()) -> Page:
        """Submit the form on ``path`` as a browser would: with the CSRF token of the page just loaded."""
        token = re.search(r'name="csrf-token" content="([^"]+)"', self.get(path).text)
        assert token, f"no CSRF token on {path}"
        fields = {**fields, "csrf_token": html.unescape(token.group(1))}
        if not files:
            return self.open(path, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")
        boundary = secrets.token_hex(16)
        body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
                        for key, value in fields.items())
        for key, filename, content, mimetype in files:
            body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
                     f"Content-Type: {mimetype}\r\n\r\n").encode() + content + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        return self.open(path, body, f"multipart/form-data; boundary={boundary}")

    def login(self, login: str) -> Browser:
        page = self.post("/auth/login", {"login": login, "password": DEMO_PASSWORD})
        assert page.status == 302, f"log-in of {login} failed: {page.status}"
        return self

    def review(self, decision: str, hours: int, application_id: int) -> None:
        """Find the review of ``application_id`` with the inbox search (the demo has others) and decide it."""
        inbox = self.get(f"/inbox/?tab=claimable&q={application_id}").text
        tasks = set(re.findall(r'href="/inbox/tasks/(\d+)"', inbox))
        assert len(tasks) == 1, f"expected one task to review, found {tasks}"
        (task,) = tasks
        page = self.post(f"/inbox/tasks/{task}", {"decision": decision, "approved_hours": str(hours),
                                                  "comment": "材料齐全，同意"})
        assert page.status == 302 and page.location.endswith("/inbox/"), (page.status, page.text[-2000:])


# ---------------------------------------------------------------------------------------------------------
# The story
# ---------------------------------------------------------------------------------------------------------

def test_credit_application_through_gunicorn_celery_and_beat(stack):
    started = time.monotonic()
    teacher = Browser(stack.base_url).login(TEACHER)
    day = (date.today() - timedelta(days=2)).isoformat()
    certificate = b"%PDF-1.4\n% YanXun topology test " + secrets.token_hex(8).encode() + b"\n%%EOF\n"
    page = teacher.post("/applications/new", {
        "category": "school_based", "item_code": "open_lesson", "level": "school", "organiser": "北湖区实验小学",
        "start_date": day, "end_date": day, "hours_requested": str(HOURS), "description": "公开课《春》"},
        files=(("evidence", "教学设计.pdf", certificate, "application/pdf"),))
    assert page.status == 302, page.text[-3000:]
    application_id = int(re.fullmatch(r".*/applications/(\d+)", page.location).group(1))
    instance_id = stack.scalar("SELECT instance_id FROM application WHERE id = :id", id=application_id)
    assert stack.scalar("SELECT status FROM application WHERE id = :id", id=application_id) == "submitted"

    fires = "SELECT count(*) FROM audit_event WHERE action = 'timer.fire' AND instance_id = :instance"
    reminders = ("SELECT count(*) FROM notification n JOIN user_account u ON u.id = n.user_id "
                 "WHERE u.login = :login AND n.kind = 'application.reminder' AND n.instance_id = :instance")
    _wait_for("the reminder (beat → worker → timer.fire → notification)",
              lambda: stack.scalar(reminders, login=LEADER, instance=instance_id) > 0, stack, REMINDER_WAIT_SECONDS)
    fired_after = time.monotonic() - started
    time.sleep(3)  # three more ticks by beat, raced for by both workers: nothing fires twice
    assert stack.scalar(fires, instance=instance_id) == 1
    assert stack.scalar(reminders, login=LEADER, instance=instance_id) == 1
    assert stack.scalar("SELECT count(*) FROM incident WHERE instance_id = :instance", instance=instance_id) == 0
    workers = stack.log("worker")
    assert "yanxun.tick_timers" in workers and "yanxun.tick_timers" not in stack.log("web"), \
        "the workers fire the timers, not the web processes"

    leader = Browser(stack.base_url).login(LEADER)
    with stack.database.connect() as conn:
        reminder, title = conn.execute(sa.text(
            "SELECT id, title FROM notification WHERE kind = 'application.reminder' AND instance_id = :instance"),
            {"instance": instance_id}).one()
    notifications = leader.get("/notifications/").text
    assert html.escape(title, quote=False) in notifications and f'href="/notifications/{reminder}"' in notifications
    opened = leader.open(f"/notifications/{reminder}")
    assert opened.status == 302 and opened.location.endswith(f"/applications/{application_id}")
    leader.review("approve", HOURS, application_id)

    Browser(stack.base_url).login(OFFICER).review("approve", HOURS, application_id)
    _wait_for("the application's recognition", lambda: stack.scalar(
        "SELECT status FROM application WHERE id = :id", id=application_id) == "recognised", stack, 30)

    ledger = teacher.get("/ledger/").text
    assert ITEM_NAME in ledger and "data-entry=" in ledger
    assert stack.scalar("SELECT count(*) FROM credit_entry e JOIN application a ON a.credit_entry_id = e.id "
                        "WHERE a.id = :application AND e.hours = :hours", application=application_id, hours=HOURS) == 1
    timers = stack.scalar("SELECT count(DISTINCT CAST(after AS TEXT)) = count(*) FROM audit_event "
                          "WHERE action = 'timer.fire' AND instance_id = :instance", instance=instance_id)
    assert timers, "every timer of the instance fired once (the school's reminder may have fired too)"
    print(f"reminder fired {fired_after:.1f} s after the teacher logged in; story done in "
          f"{time.monotonic() - started:.1f} s")
