"""The whole credit-hour story in Chromium on a phone-sized screen, as the issue tells it.

A teacher applies with an evidence file → her subgroup leader returns it → she revises → the leader,
the school officer (through bulk approval) and the county officer approve → her ledger shows the hours.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.pages import decide, fill_application, log_in

pytestmark = pytest.mark.browser


def open_first_task(page, tab: str, name: str, number: str = "") -> None:
    """The task ``name`` of application ``number`` (the inbox search: the demo has applications of its own)."""
    page.goto(f"/inbox/?tab={tab}&q={number}")
    page.locator("#inbox-rows").get_by_role("link", name=re.compile(name)).first.click()
    expect(page.locator("h1")).to_contain_text(re.compile(name))


def test_apply_return_revise_approve_and_see_the_ledger(browser, live_server, tmp_path):
    certificate = tmp_path / "结业证书.pdf"
    certificate.write_bytes(b"%PDF-1.4\n% YanXun browser test certificate\n")

    teacher = log_in(browser, live_server, "limin")
    teacher.goto("/ledger/")
    entries = teacher.locator("[data-entry]").filter(has_text="市、县级集中培训")
    before = entries.count()  # the live server is shared: another story may have posted one
    fill_application(teacher, str(certificate))
    teacher.locator("#main form[method=post] button[type=submit]").first.click()
    expect(teacher.get_by_text("结业证书.pdf")).to_be_visible()
    application_url = teacher.url
    number = application_url.rstrip("/").rsplit("/", 1)[1]

    leader = log_in(browser, live_server, "chenjing")
    open_first_task(leader, "claimable", "教研组长审核|组长审核", number)
    expect(leader.get_by_text("结业证书.pdf")).to_be_visible()
    decide(leader, "return", "请补充培训通知文件")

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
    decide(leader, "approve", hours="12")

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
    decide(county, "approve", hours="12")

    teacher.goto("/ledger/")
    expect(teacher.locator("body")).to_contain_text("市、县级集中培训")
    expect(entries).to_have_count(before + 1)
    expect(entries.last).to_contain_text("12")  # the demo's own recognised lesson (4 h) is in the totals too
    teacher.screenshot(path=str(tmp_path / "ledger.png"), full_page=True)
