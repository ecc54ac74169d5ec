"""The whole credit-hour story in Chromium on a phone-sized screen, as the issue tells it.

A teacher applies with an evidence file → her subgroup leader returns it → she revises → the leader,
the school officer (through bulk approval) and the county officer approve → her ledger shows the hours.
"""

import re

import pytest
from playwright.sync_api import expect

from webapp.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def log_in(browser, live_server, login: str):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server, locale="zh-CN")
    page = context.new_page()
    page.goto("/auth/login")
    page.fill("#login", login)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("您好")
    return page


def open_first_task(page, tab: str, name: str, number: str = "") -> None:
    """The task ``name`` of application ``number`` (the inbox search: the demo has applications of its own)."""
    page.goto(f"/inbox/?tab={tab}&q={number}")
    page.locator("#inbox-rows").get_by_role("link", name=re.compile(name)).first.click()
    expect(page.locator("h1")).to_contain_text(re.compile(name))


def review(page, decision: str, comment: str = "", hours: str | None = None) -> None:
    page.check(f"input[name=decision][value={decision}]")
    if hours is not None:
        page.fill("#approved_hours", hours)
    if comment:
        page.fill("#comment", comment)
    page.locator("#main form[method=post] button[type=submit]").first.click()
    expect(page.get_by_role("alert").first).to_be_visible()  # the decision was saved before anyone goes on


def test_apply_return_revise_approve_and_see_the_ledger(browser, live_server, tmp_path):
    certificate = tmp_path / "结业证书.pdf"
    certificate.write_bytes(b"%PDF-1.4\n% YanXun browser test certificate\n")

    teacher = log_in(browser, live_server, "limin")
    teacher.goto("/applications/new")
    teacher.select_option("#category", "centralized")
    teacher.select_option("#item_code", "city_training")
    teacher.select_option("#level", "county")
    teacher.fill("#organiser", "北湖区教师发展中心")
    teacher.fill("#start_date", "2026-10-12")
    teacher.fill("#end_date", "2026-10-14")
    teacher.fill("#hours_requested", "10")
    teacher.fill("#description", "区级骨干教师集中培训")
    teacher.set_input_files("#evidence", str(certificate))
    teacher.locator("#main form[method=post] button[type=submit]").first.click()
    expect(teacher.get_by_text("结业证书.pdf")).to_be_visible()
    application_url = teacher.url
    number = application_url.rstrip("/").rsplit("/", 1)[1]

    leader = log_in(browser, live_server, "chenjing")
    open_first_task(leader, "claimable", "教研组长审核|组长审核", number)
    expect(leader.get_by_text("结业证书.pdf")).to_be_visible()
    review(leader, "return", "请补充培训通知文件")

    teacher.goto(f"/inbox/?tab=assigned&q={number}")
    teacher.locator("#inbox-rows").get_by_role("link", name=re.compile("修改")).first.click()
    if "/applications/" not in teacher.url:
        teacher.locator("#main").get_by_role("link", name=re.compile("修改")).first.click()
    teacher.fill("#hours_requested", "12")
    teacher.locator("#main form[method=post] button[type=submit]").first.click()
    expect(teacher.get_by_role("alert").first).to_be_visible()
    teacher.goto(application_url)
    expect(teacher.locator("body")).to_contain_text("12")

    open_first_task(leader, "claimable", "教研组长审核|组长审核", number)
    review(leader, "approve", hours="12")

    officer = log_in(browser, live_server, "liufang")
    officer.goto(f"/inbox/?tab=claimable&q={number}")
    officer.locator("input[name=task_id]").first.check()
    officer.fill("#bulk-comment", "材料齐全，同意")
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    officer.once("dialog", answer)
    officer.get_by_role("button", name=re.compile("批量|同意所选|Approve selected")).click()
    expect(officer.get_by_role("alert").first).to_contain_text("1")
    assert asked and "1" in asked[0], "bulk approval asks first, naming how many"

    county = log_in(browser, live_server, "caojing")
    open_first_task(county, "claimable", "县", number)
    review(county, "approve", hours="12")

    teacher.goto("/ledger/")
    expect(teacher.locator("body")).to_contain_text("市、县级集中培训")
    entry = teacher.locator("[data-entry]").filter(has_text="市、县级集中培训")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("12")  # the demo's own recognised lesson (4 h) is in the totals too
    teacher.screenshot(path=str(tmp_path / "ledger.png"), full_page=True)
