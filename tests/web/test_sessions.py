"""Log-in sessions live on the server: logging out, a password change or the security page ends them for good."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_PASSWORD
from webapp.models import ApiToken, AuditEvent, Role, UserSession
from webapp.models.base import utcnow
from webapp.services.api_tokens import issue

NEW_PASSWORD = "NewPass123"


@pytest.fixture
def teacher(make_user, region):
    return make_user("teacher1", display_name="王老师", roles=((Role.TEACHER, region["school"]),))


def logged_in(app, login: str = "teacher1", *, remember: bool = False, agent: str = "pytest"):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = agent
    data = {"login": login, "password": TEST_PASSWORD}
    if remember:
        data["remember"] = "y"
    client.post_form("/auth/login", data)
    assert client.get("/").status_code == 200
    return client


def with_cookies(app, **cookies: str):
    """A browser that has only these cookies (copied from another one, say by someone who got hold of them)."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value)
    return client


def log_out(client) -> None:
    response = client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/")})
    assert response.status_code == 302


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_session_cookie_captured_before_logout_is_refused_after_it(app, db, teacher):
    client = logged_in(app)
    captured = client.get_cookie("session").value
    assert with_cookies(app, session=captured).get("/").status_code == 200, "a copy works while logged in"
    log_out(client)
    thief = with_cookies(app, session=captured)
    response = thief.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0


def test_a_remember_cookie_is_refused_after_logout(app, db, teacher):
    client = logged_in(app, remember=True)
    cookie = client.get_cookie("remember_token")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert timedelta(days=29) < cookie.expires - utcnow() <= timedelta(days=30), "30 days, not 365"
    captured = cookie.value
    assert with_cookies(app, remember_token=captured).get("/").status_code == 200, "it logs in without a session"
    log_out(client)
    assert client.get_cookie("remember_token") is None, "the browser is told to forget it"
    assert with_cookies(app, remember_token=captured).get("/").status_code == 302, "a copy of it no longer works"


def test_logging_in_rotates_the_session_key_and_the_csrf_token(app, db, teacher):
    client = app.test_client()
    before = client.csrf_token()
    client.login("teacher1")
    after = client.csrf_token("/")
    assert after != before, "a token planted before the log-in is worthless after it"
    first_key = db.session.scalars(sa.select(UserSession.key_hash)).one()
    log_out(client)
    client.login("teacher1")
    assert db.session.scalars(sa.select(UserSession.key_hash)).one() != first_key
    stale = client.post("/auth/logout", data={"csrf_token": before})
    assert stale.status_code == 400 and client.get("/").status_code == 200


def test_a_session_idle_too_long_ends(app, db, teacher):
    client = logged_in(app)
    record = db.session.scalars(sa.select(UserSession)).one()
    assert record.expires_at - record.created_at == timedelta(hours=app.config["YANXUN"]["SESSION_IDLE_HOURS"])
    record.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/").status_code == 302


def test_use_is_noted_at_most_once_a_minute_and_moves_an_idle_sessions_end(app, db, teacher):
    client = logged_in(app)
    record = db.session.scalars(sa.select(UserSession)).one()
    an_hour_ago = utcnow() - timedelta(hours=1)
    record.last_seen_at, record.expires_at = an_hour_ago, an_hour_ago + timedelta(hours=12)
    db.session.commit()
    client.get("/")
    db.session.refresh(record)
    assert record.last_seen_at > an_hour_ago + timedelta(minutes=59)
    assert record.expires_at > utcnow() + timedelta(hours=11)


def test_each_request_looks_the_session_up_with_one_query(app, db, teacher):
    client = logged_in(app)
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    engine = db.engines[None].engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        assert client.get("/notifications/").status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    lookups = [s for s in statements if "user_session" in s]
    assert len(lookups) == 1, lookups
    assert "key_hash" in lookups[0] and "user_account" in lookups[0], "the user comes with it"


def test_a_password_change_ends_other_sessions_and_revokes_api_tokens(app, db, teacher):
    phone = logged_in(app, agent="phone")
    laptop = logged_in(app, agent="laptop")
    _, plain = issue(teacher, "成绩脚本")
    db.session.commit()
    assert laptop.get("/api/v1/tasks", headers=bearer(plain)).status_code == 200

    changed = phone.post_form("/auth/password", {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD,
                                                 "confirm": NEW_PASSWORD, "csrf_token": phone.csrf_token("/")})
    assert changed.status_code == 302
    assert phone.get("/").status_code == 200, "the session that changed it goes on"
    assert laptop.get("/").status_code == 302, "every other session ended"
    refused = app.test_client().get("/api/v1/tasks", headers=bearer(plain))
    assert refused.status_code == 401, "the token someone may have made with the old password no longer works"
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.password_changed")).one()
    assert event.after == {"sessions_ended": 1, "api_tokens_revoked": 1}
    assert db.session.scalar(sa.select(ApiToken.revoked_at)) is not None


def test_an_administrators_password_reset_ends_the_users_sessions_and_tokens(app, db, teacher, make_user, region):
    make_user("admin1", roles=((Role.ADMIN, region["city"]),))
    victim = logged_in(app)
    _, plain = issue(teacher, "脚本")
    db.session.commit()
    admin = logged_in(app, "admin1")
    reset = admin.post_form(f"/admin/users/{teacher.id}/password",
                            {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": admin.csrf_token("/")})
    assert reset.status_code == 302
    assert victim.get("/").status_code == 302
    assert app.test_client().get("/api/v1/tasks", headers=bearer(plain)).status_code == 401
    assert admin.get("/").status_code == 200


def test_the_security_page_lists_my_sessions_and_tokens_and_revokes_them(app, db, teacher, make_user):
    other_person = make_user("teacher2")
    here = logged_in(app, agent="Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36")
    there = logged_in(app, agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                                 "Mobile/15E148 MicroMessenger/8.0.49")
    token, plain = issue(teacher, "成绩导出脚本")
    _, theirs = issue(other_person, "别人的脚本")
    db.session.commit()

    page = here.get("/auth/security").get_data(as_text=True)
    assert "账号安全" in page and "Chrome · Android" in page and "微信 · iPhone" in page and "本设备" in page
    assert "成绩导出脚本" in page and "别人的脚本" not in page
    assert 'href="/auth/security"' in page, "it is in the account menu"

    there_id = db.session.scalar(sa.select(UserSession.id).where(UserSession.user_agent.contains("MicroMessenger")))
    assert here.post(f"/auth/security/sessions/{there_id}/end").status_code == 400, "CSRF-protected"
    ended = here.post_form(f"/auth/security/sessions/{there_id}/end", {"csrf_token": here.csrf_token("/")})
    assert ended.status_code == 302
    assert there.get("/").status_code == 302, "the other phone is logged out"
    assert here.get("/").status_code == 200

    revoked = here.post_form(f"/auth/security/tokens/{token.id}/revoke", {"csrf_token": here.csrf_token("/")})
    assert revoked.status_code == 302
    assert app.test_client().get("/api/v1/tasks", headers=bearer(plain)).status_code == 401
    other_token = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.user_id == other_person.id))
    assert here.post_form(f"/auth/security/tokens/{other_token}/revoke",
                          {"csrf_token": here.csrf_token("/")}).status_code == 404, "only my own"
    assert app.test_client().get("/api/v1/tasks", headers=bearer(theirs)).status_code == 200

    actions = set(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.actor_id == teacher.id)))
    assert {"auth.session_revoke", "api_token.revoke"} <= actions
    page = here.get("/auth/security").get_data(as_text=True)
    assert "微信" not in page and "成绩导出脚本" not in page


def test_log_out_everywhere_else_from_the_security_page(app, db, teacher):
    here, there, elsewhere = logged_in(app), logged_in(app), logged_in(app)
    response = here.post_form("/auth/security/sessions/end-others", {"csrf_token": here.csrf_token("/")})
    assert response.status_code == 302
    assert there.get("/").status_code == 302 and elsewhere.get("/").status_code == 302
    assert here.get("/").status_code == 200
    page = here.get("/auth/security").get_data(as_text=True)
    assert len(re.findall(r'/auth/security/sessions/\d+/end', page)) == 1


def test_a_deactivated_user_is_logged_out(app, db, teacher):
    client = logged_in(app)
    teacher.active = False
    db.session.commit()
    assert client.get("/").status_code == 302


def test_users_compare_by_account_not_by_session(db, make_user, teacher):
    """Flask-Login's UserMixin compares get_id(), the session key here: two accounts loaded without one must
    still differ, and one account is equal to itself however it was loaded."""
    from webapp.models import User

    other = make_user("teacher2")
    assert teacher != other and len({teacher, other}) == 2
    db.session.expunge(teacher)
    assert db.session.get(User, teacher.id) == teacher
