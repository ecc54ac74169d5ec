"""The Content-Security-Policy in Chromium: the diagram, the evidence preview, the inbox filters and htmx's polling
all work on a phone, and the browser reports no violation (nor any other script error) on the way."""

from __future__ import annotations

import base64
import re

import pytest
from playwright.sync_api import expect

from webapp.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

#: A 1×1 PNG: the evidence preview shows pictures as thumbnails (from a blob: URL).
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAAB"
                         "JRU5ErkJggg==")
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " " + event.blockedURI);
});
"""


class Phone:
    """A logged-in phone-sized browser that keeps every script error and policy violation it saw."""

    def __init__(self, browser, live_server, login: str) -> None:
        self.context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server,
                                           locale="zh-CN")
        self.context.add_init_script(REPORT_VIOLATIONS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("response", self._response)
        self.page.goto("/auth/login")
        self.page.fill("#login", login)
        self.page.fill("#password", DEMO_PASSWORD)
        self.page.click("button[type=submit]")
        expect(self.page.locator("h1")).to_contain_text("您好")


    def _console(self, message) -> None:
        # A failed load is reported with its address by _response (a missing favicon is no error of ours).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.errors.append(f"{response.status} {response.url}")


@pytest.fixture
def phones(browser, live_server):
    opened: list[Phone] = []

    def open_phone(login: str) -> Phone:
        phone = Phone(browser, live_server, login)
        opened.append(phone)
        return phone

    yield open_phone
    for phone in opened:
        phone.context.close()
    problems = [error for phone in opened for error in phone.errors]
    assert not problems, "errors in the browser console:\n" + "\n".join(problems)


def test_pages_work_under_the_policy(phones, live_server, tmp_path):
    phones("limin")  # logged in on a second phone too: the security page lists both
    teacher = phones("limin").page
    response = teacher.goto("/applications/new")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    teacher.select_option("#category", "centralized")
    teacher.select_option("#item_code", "city_training")
    teacher.select_option("#level", "county")
    teacher.fill("#organiser", "北湖区教师发展中心")
    teacher.fill("#start_date", "2026-10-12")
    teacher.fill("#end_date", "2026-10-14")
    teacher.fill("#hours_requested", "10")
    teacher.set_input_files("#evidence", files=[{"name": "结业证书.png", "mimeType": "image/png", "buffer": PIXEL}])
    expect(teacher.locator("#evidence-preview img")).to_have_attribute("src", re.compile("^blob:"))
    teacher.locator("#main form[method=post] button[type=submit]").first.click()
    expect(teacher.get_by_text("结业证书.png").first).to_be_visible()
    teacher.goto("/auth/security")  # the account's sessions and tokens, on a phone
    expect(teacher.get_by_text("本设备")).to_be_visible()
    assert teacher.evaluate("document.documentElement.scrollWidth") <= 390, "nothing sticks out sideways"
    teacher.screenshot(path=str(tmp_path / "security-390.png"), full_page=True)

    leader = phones("chenjing").page
    leader.goto("/inbox/?tab=claimable")
    leader.get_by_role("button", name=re.compile("筛选")).click()  # folded away on a phone
    leader.select_option("#sort", "created")  # the filters submit themselves (no onchange= any more)
    expect(leader).to_have_url(re.compile(r"sort=created"))
    leader.get_by_role("link", name=re.compile("教研组长审核|组长审核")).first.click()
    diagram = leader.locator("#process-diagram")
    expect(diagram).to_have_attribute("data-diagram-ready", "1", timeout=15_000)
    expect(diagram.locator("svg .djs-element.yx-current").first).to_be_attached()
    leader.get_by_role("button", name="放大").click()
    leader.screenshot(path=str(tmp_path / "task-390.png"), full_page=True)

    admin = phones("admin")
    rows = "\n".join(f"csp{number:02d},测试{number},Chushi2025!" for number in range(8))
    polls: list[str] = []
    admin.page.on("request", lambda request: polls.append(request.url) if request.headers.get("hx-request") else None)
    admin.page.goto("/admin/import/users")
    admin.page.set_input_files("#file", files=[{"name": "csp.csv", "mimeType": "text/csv",
                                                "buffer": f"login,display_name,password\n{rows}\n".encode()}])
    admin.page.locator("#main form[method=post] button[type=submit]").first.click()
    if "/import/jobs/" in admin.page.url:  # still running: htmx polls the progress, then follows HX-Redirect
        expect(admin.page).to_have_url(re.compile("/admin/import/results/"), timeout=60_000)
        assert polls, "the progress was polled by htmx"
    expect(admin.page.get_by_role("alert").first).to_contain_text("8")
