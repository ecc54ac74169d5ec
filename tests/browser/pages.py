"""What the browser stories do on a phone: log in as a demo person, fill in a credit application."""

from __future__ import annotations

from playwright.sync_api import expect

from webapp.services.demo import DEMO_PASSWORD

PHONE = {"width": 390, "height": 844}


def log_in(browser, live_server, login: str):
    """A new phone-sized page, logged in as ``login`` (a demo person), on the home page."""
    context = browser.new_context(viewport=PHONE, base_url=live_server, locale="zh-CN")
    page = context.new_page()
    page.goto("/auth/login")
    page.fill("#login", login)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("您好")
    return page


def fill_application(page, evidence, *, hours: str = "10", description: str = "区级骨干教师集中培训") -> None:
    """The form of a county-level city/county training of 12–14 October 2026, with ``evidence`` (a path, or a
    Playwright file payload)."""
    page.goto("/applications/new")
    page.select_option("#category", "centralized")
    page.select_option("#item_code", "city_training")
    page.select_option("#level", "county")
    page.fill("#organiser", "北湖区教师发展中心")
    page.fill("#start_date", "2026-10-12")
    page.fill("#end_date", "2026-10-14")
    page.fill("#hours_requested", hours)
    page.fill("#description", description)
    page.set_input_files("#evidence", evidence)


def decide(page, decision: str, comment: str = "", hours: str | None = None) -> None:
    """Fill in the review form of the open task page and wait until the decision is saved."""
    page.check(f"input[name=decision][value={decision}]")
    if hours is not None:
        page.fill("#approved_hours", hours)
    if comment:
        page.fill("#comment", comment)
    page.locator("#review-form button[type=submit]").click()
    expect(page.get_by_role("alert").first).to_be_visible()  # saved before anyone goes on
