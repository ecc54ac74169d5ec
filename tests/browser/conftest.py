"""A real server (the embedded default: SQLite, demo data) driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The live server's log, shown under a failing browser test (a wait that timed out says little by itself).
SERVER_LOGS: list[Path] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and SERVER_LOGS and SERVER_LOGS[-1].exists():
        lines = SERVER_LOGS[-1].read_text(errors="replace").splitlines()[-80:]
        report.sections.append(("live server log (last 80 lines)", "\n".join(lines)))


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """``make run`` in miniature: migrate a fresh SQLite database, seed the demo region, serve it."""
    instance = tmp_path_factory.mktemp("instance")
    env = {**os.environ, "YANXUN_DATABASE_URL": f"sqlite:///{instance / 'yanxun.db'}",
           "YANXUN_SECRET_KEY": "browser-test-secret-" + "x" * 20,
           "YANXUN_EVIDENCE_DIR": str(instance / "evidence")}
    env.pop("YANXUN_REDIS_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "webapp"]
    for step in (["db", "upgrade"], ["rules", "load", "rules"], ["rubrics", "load", "rubrics"],
                 ["workflows", "deploy", "workflows"],
                 ["seed-demo-if-empty"]):  # what `make run` does
        subprocess.run([*flask, *step], cwd=ROOT, env=env, check=True, capture_output=True)
    port = _free_port()
    log_path = instance / "server.log"
    SERVER_LOGS.append(log_path)
    log = log_path.open("wb")
    server = subprocess.Popen([*flask, "run", "--port", str(port), "--no-reload"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)  # noqa: S310 (local test server)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                log.close()
                pytest.fail("the test server did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("Chromium is missing; .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield instance
        instance.close()


@pytest.fixture
def phone(browser, live_server):
    """A phone-sized page (390×844) in a fresh browser context."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()
