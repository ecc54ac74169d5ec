"""The approval experience in Chromium on a 390 px phone, as DingTalk / Feishu users know it.

An application goes through claim, return (退回修改), urge (催办), transfer (转交) and approval (同意); at each
step the timeline says who did what in words, the inbox row says what the item is, and the print view
(打印审批单) carries the whole record. The demo region has applications of its own, so every page is found
through the inbox search by the application's number.
"""

import re

import pytest
from playwright.sync_api import expect

from webapp.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

#: Internal codes that must never reach a page (BPMN ids, audit actions, form keys).
CODES = ("leader_review", "school_review", "county_review", "task.complete", "task.transfer", "task.urge",
         "application.submit", "credit.review", "credit.application")


def log_in(browser, live_server, login: str):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server, locale="zh-CN")
    page = context.new_page()
    page.goto("/auth/login")
    page.fill("#login", login)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("您好")
    return page


def timeline_of(page):
    timeline = page.locator("#timeline")
    text = timeline.inner_text()
    for code in CODES:
        assert code not in text, f"{code} shown on {page.url}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{page.url} is wider than the phone"
    return timeline


def open_task(page, tab: str, number: str, step: str) -> None:
    page.goto(f"/inbox/?tab={tab}&q={number}")
    row = page.locator("#inbox-rows .list-group-item").filter(has_text=f"编号 {number}")
    expect(row).to_have_count(1)
    row.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text(step)


def accept_dialogs(page) -> list[str]:
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    return asked


def decide(page, decision: str, comment: str = "", hours: str | None = None) -> None:
    page.check(f"input[name=decision][value={decision}]")
    if hours is not None:
        page.fill("#approved_hours", hours)
    if comment:
        page.fill("#comment", comment)
    page.locator("#review-form button[type=submit]").click()
    expect(page.get_by_role("alert").first).to_be_visible()


def test_claim_return_urge_transfer_approve_with_the_timeline_at_each_step(browser, live_server, tmp_path):
    certificate = tmp_path / "结业证书.pdf"
    certificate.write_bytes(b"%PDF-1.4\n% YanXun approval story\n")

    # The teacher applies; her page says who the application waits for.
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
    number = teacher.url.rstrip("/").rsplit("/", 1)[1]
    application_url = teacher.url
    timeline = timeline_of(teacher)
    expect(timeline).to_contain_text("提交申请")
    expect(timeline).to_contain_text("当前：教研组长审核")
    expect(timeline).to_contain_text("陈静")  # who may take it, by name

    # The subgroup leader finds it by number; the row says what it is. She claims it, then returns it.
    leader = log_in(browser, live_server, "chenjing")
    leader.goto(f"/inbox/?tab=claimable&q={number}")
    row = leader.locator("#inbox-rows .list-group-item").filter(has_text=f"编号 {number}")
    expect(row).to_contain_text("市、县级集中培训")
    expect(row).to_contain_text("10 学时 · 李敏 · 北湖区实验小学")
    row.get_by_role("link").click()
    leader.get_by_role("button", name="认领").click()
    expect(leader.get_by_role("alert").first).to_be_visible()
    expect(timeline_of(leader)).to_contain_text("认领")
    expect(leader.locator("#timeline")).to_contain_text("由 陈静 办理")
    decide(leader, "return", "请补充培训通知文件")

    # The teacher sees the reason on her application, revises, and urges the reviewer (once a day).
    teacher.goto(application_url)
    timeline = timeline_of(teacher)
    expect(timeline).to_contain_text("已退回修改")
    expect(timeline).to_contain_text("请补充培训通知文件")
    open_task(teacher, "assigned", number, "修改后重新提交")
    teacher.locator("#main").get_by_role("link", name=re.compile("修改")).first.click()
    teacher.fill("#hours_requested", "12")
    teacher.locator("#main form[method=post] button[type=submit]").first.click()
    expect(teacher.get_by_role("alert").first).to_be_visible()
    teacher.goto(application_url)
    teacher.locator("#urge").get_by_role("button", name="催办").click()
    expect(teacher.get_by_role("alert").first).to_contain_text("已催办")
    expect(timeline_of(teacher)).to_contain_text("已催办")
    expect(teacher.locator("#urge button")).to_be_disabled()  # at most once a day

    # The leader approves the 12 hours asked.
    open_task(leader, "claimable", number, "教研组长审核")
    decide(leader, "approve", hours="12")

    # The school officer claims the school's review and transfers it to her substitute with a reason.
    officer = log_in(browser, live_server, "liufang")
    open_task(officer, "claimable", number, "学校审核认定")
    officer.get_by_role("button", name="认领").click()
    asked = accept_dialogs(officer)
    officer.locator("#transfer summary").click()
    colleague = officer.locator("#transfer-to option", has_text="王磊").get_attribute("value")
    officer.select_option("#transfer-to", colleague)
    officer.fill("#transfer-reason", "外出培训一个月，由王磊办理")
    officer.locator("#transfer").get_by_role("button", name="转交").click()
    expect(officer.get_by_role("alert").first).to_be_visible()
    assert asked, "transfer asks first"

    substitute = log_in(browser, live_server, "wanglei")
    open_task(substitute, "assigned", number, "学校审核认定")
    timeline = timeline_of(substitute)
    expect(timeline).to_contain_text("转交给 王磊")
    expect(timeline).to_contain_text("外出培训一个月，由王磊办理")
    decide(substitute, "approve", hours="12")

    # The county recognises it: the teacher's timeline is complete, and so is the print view.
    county = log_in(browser, live_server, "caojing")
    open_task(county, "claimable", number, "县")
    decide(county, "approve", hours="12")

    teacher.goto(application_url)
    timeline = timeline_of(teacher)
    for words in ("提交申请", "已退回修改", "修改后重新提交", "已催办", "转交给 王磊", "已同意", "同意 12 学时"):
        expect(timeline).to_contain_text(words)
    expect(timeline).to_contain_text("流程已结束")
    teacher.get_by_role("link", name="打印审批单").first.click()
    expect(teacher.locator("h1")).to_contain_text("审批单")
    sheet = teacher.locator("#approval-form")
    expect(sheet).to_contain_text(f"编号 {number}")
    expect(sheet).to_contain_text("12 学时 · 李敏 · 北湖区实验小学")
    expect(sheet).to_contain_text("转交给 王磊")
    expect(sheet).to_contain_text("曹静")
    teacher.emulate_media(media="print")
    expect(teacher.locator("nav.navbar")).to_be_hidden()  # the paper carries the record only
    teacher.screenshot(path=str(tmp_path / "print-390.png"), full_page=True)
