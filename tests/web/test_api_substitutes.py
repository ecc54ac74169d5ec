"""``/api/v1/me/substitutes``: list, name and revoke my own substitutes, with the page's rules."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, Delegation, Notification, Role
from webapp.services.api_tokens import issue

API = "/api/v1/me/substitutes"
TODAY = date.today()


def days(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


@pytest.fixture
def people(db, region, make_user):
    school = region["school"]
    made = {
        "officer": make_user("liufang", display_name="刘芳", org=school, locale="en",
                             roles=((Role.SCHOOL_OFFICER, school), (Role.TEACHER, school))),
        "colleague": make_user("wanglei", display_name="王磊", org=school, locale="en",
                               roles=((Role.TEACHER, school),)),
        "outsider": make_user("chenli", display_name="陈丽", org=region["school2"], locale="en",
                              roles=((Role.TEACHER, region["school2"]),)),
    }
    db.session.commit()
    return made


class Caller:
    """One user's API calls, with the session cookie and its CSRF token."""

    def __init__(self, app, login: str) -> None:
        self.client = app.test_client()
        self.client.login(login)
        self.headers = {"X-CSRFToken": self.client.csrf_token("/")}

    def get(self):
        return self.client.get(API, headers=self.headers)

    def post(self, path: str = "", body=None):
        return self.client.post(API + path, headers=self.headers, json=body)


def body(**changes):
    values = {"to_user": "wanglei", "role": "school_officer", "valid_from": days(0), "valid_to": days(4),
              "reason": "出差"}
    values.update(changes)
    return values


def test_name_list_and_revoke_a_substitute(app, db, people):
    officer = Caller(app, "liufang")
    empty = officer.get().get_json()
    assert (empty["given"], empty["received"], empty["given_past"], empty["received_past"]) == ([], [], [], [])
    assert empty["roles"] == ["school_officer", "teacher"] and empty["max_days"] == 90

    created = officer.post(body=body())
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert (item["from_user"]["login"], item["to_user"]["login"], item["role"]) == ("liufang", "wanglei",
                                                                                     "school_officer")
    assert (item["valid_from"], item["valid_to"], item["reason"]) == (days(0), days(4), "出差")
    assert (item["status"], item["self_service"], item["revoked_at"]) == ("current", True, None)
    assert [d["id"] for d in officer.get().get_json()["given"]] == [item["id"]]
    received = Caller(app, "wanglei").get().get_json()["received"]
    assert [(d["id"], d["from_user"]["login"], d["valid_to"]) for d in received] == [(item["id"], "liufang",
                                                                                      days(4))]
    assert db.session.scalar(sa.select(Notification.kind).where(Notification.user_id == people["colleague"].id)) == (
        "delegation.received")

    revoked = officer.post(f"/{item['id']}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert revoked.get_json()["revoked_at"] is not None
    listed = officer.get().get_json()
    assert listed["given"] == [] and [d["id"] for d in listed["given_past"]] == [item["id"]]
    again = officer.post(f"/{item['id']}/revoke")
    assert again.status_code == 409
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "delegation")
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["delegation.create", "delegation.revoke"]


def test_the_substitute_by_id_and_all_roles(app, db, people):
    created = Caller(app, "liufang").post(body=body(to_user=people["colleague"].id, role=None, reason=None))
    assert created.status_code == 201
    assert (created.get_json()["role"], created.get_json()["reason"]) == (None, None)


@pytest.mark.parametrize(("changes", "status", "field", "message"), [
    ({"valid_from": days(-1)}, 400, "valid_from", "The first day cannot be in the past"),
    ({"valid_to": days(-2), "valid_from": days(0)}, 400, "valid_to", "must not be before the start"),
    ({"valid_to": days(90)}, 400, "valid_to", "at most 90 days"),
    ({"to_user": "liufang"}, 400, "to_user", "You cannot be your own substitute"),
    ({"to_user": "chenli"}, 400, "to_user", "陈丽 does not work in your organisation"),
    ({"to_user": "ghost"}, 400, "to_user", "There is no such user."),
    ({"role": "principal"}, 400, "role", "You do not hold this role"),
    ({"role": "admin"}, 400, "role", "delegated by another administrator"),
    ({"reason": "出" * 201}, 400, "reason", "at most 200 characters"),
    ({"to_user": None}, 422, "to_user", "their user id or login"),
    ({"valid_to": "next friday"}, 422, "valid_to", "YYYY-MM-DD"),
    ({"role": 3}, 422, "role", "one role code"),
    ({"reason": ["出差"]}, 422, "reason", "as text"),
])
def test_bad_requests_name_their_field(app, db, people, changes, status, field, message):
    response = Caller(app, "liufang").post(body=body(**changes))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert message in " ".join(error["fields"][field])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delegation)) == 0


def test_only_my_own_substitutes_are_revoked(app, db, people):
    item = Caller(app, "liufang").post(body=body()).get_json()
    for login in ("wanglei", "chenli"):
        assert Caller(app, login).post(f"/{item['id']}/revoke").status_code == 404
    assert db.session.get(Delegation, item["id"]).active


def test_a_token_needs_no_csrf_and_a_cookie_does(app, db, people):
    _token, plain = issue(people["officer"], "手机")
    db.session.commit()
    script = app.test_client()
    created = script.post(API, json=body(), headers={"Authorization": f"Bearer {plain}"})
    assert created.status_code == 201
    cookie = Caller(app, "liufang")
    del cookie.headers["X-CSRFToken"]
    assert cookie.post(f"/{created.get_json()['id']}/revoke").status_code == 400
    assert app.test_client().get(API).status_code == 401
