"""Log-in, throttling, CSRF, password change and the role-aware home page."""

import re

import pytest

from tests.conftest import TEST_PASSWORD
from webapp.models import Role
from webapp.services.users import delegate, set_user_active


@pytest.fixture
def teacher(make_user, region):
    return make_user("teacher1", display_name="王老师", org=region["school"],
                     roles=((Role.TEACHER, region["school"]),))


def test_login_page_is_chinese_by_default(client):
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in page
    assert "登录" in page


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_login_and_logout(client, teacher):
    response = client.login("teacher1")
    assert response.headers["Location"] == "/"
    assert "王老师" in client.get("/").get_data(as_text=True)
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/")})
    assert client.get("/").status_code == 302


def test_login_name_is_case_insensitive(client, teacher):
    client.login("Teacher1")


def test_wrong_password_is_refused_with_a_clear_message(client, teacher):
    response = client.post_form("/auth/login", {"login": "teacher1", "password": "nope-nope1"})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_unknown_user_gets_the_same_message(client):
    response = client.post_form("/auth/login", {"login": "ghost", "password": "whatever1"})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_inactive_user_cannot_log_in(client, teacher):
    set_user_active(teacher, False)
    response = client.post_form("/auth/login", {"login": "teacher1", "password": TEST_PASSWORD})
    assert response.status_code == 401


def test_throttling_after_repeated_failures(app, client, teacher, clock):
    limit = app.config["YANXUN"]["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert client.post_form("/auth/login", {"login": "teacher1", "password": "wrong-pass1"}).status_code == 401
    locked = client.post_form("/auth/login", {"login": "teacher1", "password": TEST_PASSWORD})
    assert locked.status_code == 429, "even the right password is refused while it has to wait"
    assert "尝试次数过多，请在 1 秒后再试" in locked.get_data(as_text=True), "the real wait, not a rounded-up minute"
    assert locked.headers["Retry-After"] == "1"
    clock.advance(1)
    client.login("teacher1")


def test_throttling_is_per_login(app, client, teacher, make_user, region):
    make_user("teacher2", roles=((Role.TEACHER, region["school"]),))
    for _ in range(app.config["YANXUN"]["LOGIN_MAX_FAILURES"]):
        client.post_form("/auth/login", {"login": "teacher1", "password": "wrong-pass1"})
    client.login("teacher2")


def test_successful_login_clears_earlier_failures(app, client, teacher):
    for _ in range(app.config["YANXUN"]["LOGIN_MAX_FAILURES"] - 1):
        client.post_form("/auth/login", {"login": "teacher1", "password": "wrong-pass1"})
    client.login("teacher1")
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/")})
    client.post_form("/auth/login", {"login": "teacher1", "password": "wrong-pass1"})
    client.login("teacher1")


def test_post_without_csrf_token_is_rejected(client, teacher):
    response = client.post("/auth/login", data={"login": "teacher1", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "已过期" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302, "not logged in"


def test_post_with_forged_csrf_token_is_rejected(client, teacher):
    client.login("teacher1")
    response = client.post("/auth/logout", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/").status_code == 200, "still logged in"


def test_next_parameter_cannot_leave_the_site(client, teacher):
    token = client.csrf_token()
    response = client.post("/auth/login?next=//evil.example/x",
                           data={"login": "teacher1", "password": TEST_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_next_parameter_keeps_local_paths(client, teacher):
    token = client.csrf_token()
    response = client.post("/auth/login?next=/auth/password",
                           data={"login": "teacher1", "password": TEST_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/auth/password"


def test_change_password(app, client, teacher):
    client.login("teacher1")
    other_device = app.test_client()
    other_device.login("teacher1")

    wrong = client.post_form("/auth/password", {"current_password": "bad", "new_password": "NewPass123",
                                                "confirm": "NewPass123", "csrf_token": client.csrf_token("/")})
    assert "当前密码错误" in wrong.get_data(as_text=True)
    weak = client.post_form("/auth/password", {"current_password": TEST_PASSWORD, "new_password": "12345678",
                                               "confirm": "12345678", "csrf_token": client.csrf_token("/")})
    assert "字母" in weak.get_data(as_text=True)
    mismatch = client.post_form("/auth/password", {"current_password": TEST_PASSWORD, "new_password": "NewPass123",
                                                   "confirm": "NewPass124", "csrf_token": client.csrf_token("/")})
    assert "不一致" in mismatch.get_data(as_text=True)

    done = client.post_form("/auth/password", {"current_password": TEST_PASSWORD, "new_password": "NewPass123",
                                               "confirm": "NewPass123", "csrf_token": client.csrf_token("/")})
    assert done.status_code == 302
    assert client.get("/").status_code == 200, "this session stays logged in"
    assert other_device.get("/").status_code == 302, "other sessions are logged out"
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/")})
    client.login("teacher1", "NewPass123")


def test_language_switch_to_english_and_back(client, teacher, db):
    client.login("teacher1")
    client.post_form("/auth/language", {"locale": "en", "next": "/", "csrf_token": client.csrf_token("/")})
    page = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in page and "My roles" in page
    db.session.refresh(teacher)
    assert teacher.locale == "en", "the choice is saved on the account"
    client.post_form("/auth/language", {"locale": "zh_CN", "csrf_token": client.csrf_token("/")})
    assert "我的角色" in client.get("/").get_data(as_text=True)


def test_unknown_language_is_ignored(client):
    client.post_form("/auth/language", {"locale": "xx"})
    assert 'lang="zh-CN"' in client.get("/auth/login").get_data(as_text=True)


def test_teacher_home_shows_reviewers_resolved_up_the_tree(client, teacher, make_user, region):
    make_user("officer", display_name="李专干", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    make_user("county_a", display_name="赵主任", org=region["county"], roles=((Role.COUNTY_OFFICER, region["county"]),))
    make_user("county_b", display_name="钱主任", roles=((Role.COUNTY_OFFICER, region["county2"]),))
    client.login("teacher1")
    page = client.get("/").get_data(as_text=True)
    assert "李专干" in page and "赵主任" in page
    assert "钱主任" not in page, "another county's officer is never shown"
    assert "尚未指定" in page, "no subgroup leader: the gap is visible"


def test_leader_home_shows_scope_and_substitute(client, make_user, region):
    officer = make_user("officer", display_name="李专干", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    make_user("teacher1", roles=((Role.TEACHER, region["school"]),))
    deputy = make_user("deputy", display_name="周老师")
    from datetime import date

    delegate(officer, deputy, role=Role.SCHOOL_OFFICER, valid_from=date.today(), valid_to=date.today())
    client.login("officer")
    page = client.get("/").get_data(as_text=True)
    assert "一县一中" in page and "1 名教师" in page
    assert "周老师" in page
    other = client.application.test_client()
    other.login("deputy")
    assert re.search("代理.*李专干", other.get("/").get_data(as_text=True))


def test_subgroup_leader_home_counts_the_subgroups_teachers(client, make_user, region):
    from webapp.services.users import set_primary_subgroup

    make_user("leader", roles=((Role.SUBGROUP_LEADER, region["maths"]),))
    for login, subgroup in (("teacher1", "maths"), ("teacher2", "maths"), ("teacher3", "chinese")):
        set_primary_subgroup(make_user(login, org=region["school"], roles=((Role.TEACHER, region["school"]),)),
                             region[subgroup])
    client.login("leader")
    page = client.get("/").get_data(as_text=True)
    assert "数学备课组" in page and "2 名教师" in page


def test_teacher_home_offers_to_apply_for_credit_hours(client, teacher, make_user, region):
    make_user("officer", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    client.login("teacher1")
    assert 'href="/applications/new"' in client.get("/").get_data(as_text=True)
    officer = client.application.test_client()
    officer.login("officer")
    assert 'href="/applications/new"' not in officer.get("/").get_data(as_text=True)


def test_admin_home_shows_counts(client, make_user, region):
    make_user("root", roles=((Role.ADMIN, region["city"]),))
    client.login("root")
    page = client.get("/").get_data(as_text=True)
    assert "系统管理" in page and "最近动态" in page


def test_user_without_role_sees_an_explanation(client, make_user):
    make_user("nobody")
    client.login("nobody")
    assert "尚未分配角色" in client.get("/").get_data(as_text=True)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_backslash_next_cannot_leave_the_site(client, teacher):
    token = client.csrf_token()
    response = client.post("/auth/login?next=/\\evil.example",
                           data={"login": "teacher1", "password": TEST_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_fields_without_help_have_no_dangling_description(client):
    """``aria-describedby="None"`` points screen readers at an element that does not exist."""
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'aria-describedby="None"' not in page
