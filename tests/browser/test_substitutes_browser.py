"""My substitutes on a phone: reached from the user menu, name one, revoke it after the confirmation."""

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from webapp.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def test_a_school_officer_names_and_revokes_a_substitute_on_a_phone(phone, tmp_path):
    phone.goto("/auth/login")
    phone.fill("#login", "liufang")
    phone.fill("#password", DEMO_PASSWORD)
    phone.click("button[type=submit]")
    phone.click(".navbar-toggler")
    phone.click("a.dropdown-toggle")
    phone.click("a[href='/auth/substitutes']")
    expect(phone.locator("h1")).to_be_visible()
    given = phone.locator("section").first
    expect(given).to_contain_text("王磊")  # the demo's substitution, set up by an administrator

    phone.select_option("#to_user", label="曾文飞 · 北湖区实验小学")
    phone.select_option("#role", value="teacher")
    tomorrow = date.today() + timedelta(days=1)
    phone.fill("#valid_from", tomorrow.isoformat())
    phone.fill("#valid_to", (tomorrow + timedelta(days=2)).isoformat())
    phone.fill("#reason", "外出培训")
    phone.click("form.card button[type=submit]")
    expect(phone.locator(".alert-success")).to_contain_text("曾文飞")
    item = given.locator("li", has_text="曾文飞")
    expect(item).to_contain_text("外出培训")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider than the phone"
    phone.screenshot(path=str(tmp_path / "substitutes.png"), full_page=True)

    questions = []
    phone.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    item.locator("button[data-confirm]").click()
    expect(item).to_be_visible()
    assert questions and "曾文飞" in questions[0], "asked first; cancelling sends nothing"
    phone.once("dialog", lambda dialog: dialog.accept())
    item.locator("button[data-confirm]").click()
    expect(phone.locator(".alert-success")).to_contain_text("曾文飞")
    expect(phone.locator("section").first.locator("li", has_text="曾文飞")).to_have_count(0)
