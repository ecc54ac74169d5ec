"""Fresh install → log in as a teacher, a school officer and an admin on a phone; switch to English."""

import pytest
from playwright.sync_api import expect

from webapp.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def log_in(page, login: str) -> None:
    page.goto("/auth/login")
    page.get_by_label("用户名").fill(login)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("您好")


def test_teacher_sees_her_reviewers_in_chinese(phone, tmp_path):
    log_in(phone, "zhaoxue")
    expect(phone.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(phone.get_by_role("heading", name="我的学时申请由谁审核")).to_be_visible()
    expect(phone.get_by_text("学校师训专干").first).to_be_visible()
    phone.screenshot(path=str(tmp_path / "teacher.png"), full_page=True)


def test_school_officer_sees_the_school_in_scope(phone):
    log_in(phone, "tangyun")
    expect(phone.get_by_role("heading", name="我负责的范围")).to_be_visible()
    expect(phone.get_by_text("临江县城关小学").first).to_be_visible()


def test_admin_sees_administration_and_can_switch_to_english(phone):
    log_in(phone, "admin")
    expect(phone.get_by_role("heading", name="系统管理")).to_be_visible()
    phone.get_by_role("button", name="English").click()
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    expect(phone.get_by_role("heading", name="My roles")).to_be_visible()
    phone.reload()
    expect(phone.get_by_role("heading", name="My roles")).to_be_visible()
    phone.get_by_role("button", name="简体中文").click()
    expect(phone.get_by_role("heading", name="我的角色")).to_be_visible()


def test_wrong_password_is_explained(phone):
    phone.goto("/auth/login")
    phone.get_by_label("用户名").fill("zhaoxue")
    phone.get_by_label("密码").fill("not-the-password1")
    phone.get_by_role("button", name="登录").click()
    expect(phone.get_by_role("alert")).to_contain_text("用户名或密码错误")
