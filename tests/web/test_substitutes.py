"""The "My substitutes" page: every role reaches it, names and revokes their own substitute, and nobody else's."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, Delegation, Notification, Role
from webapp.services.users import delegate

TODAY = date.today()
PAGE = "/auth/substitutes"


def days(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


@pytest.fixture
def people(region, make_user):
    school = region["school"]
    return {
        "officer": make_user("liufang", display_name="刘芳", org=school, locale="en",
                             roles=((Role.SCHOOL_OFFICER, school), (Role.TEACHER, school))),
        "colleague": make_user("wanglei", display_name="王磊", org=school, locale="en",
                               roles=((Role.TEACHER, school),)),
        "outsider": make_user("chenli", display_name="陈丽", org=region["school2"], locale="en",
                              roles=((Role.TEACHER, region["school2"]),)),
        "admin": make_user("admin1", display_name="管理员", org=region["city"], locale="en",
                           roles=((Role.ADMIN, region["city"]),)),
        "nobody": make_user("norole", display_name="无角色", org=school, locale="en"),
    }


def logged_in(app, login):
    client = app.test_client()
    client.login(login)
    return client


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def form(people, **changes):
    values = {"to_user": people["colleague"].id, "role": "school_officer", "valid_from": days(0),
              "valid_to": days(4), "reason": "出差"}
    values.update(changes)
    return values


def rows(db, model):
    return list(db.session.scalars(sa.select(model).order_by(model.id)))


def section(page: str, heading: str) -> str:
    """The HTML of the page's part under ``heading``, up to the next part."""
    start = page.index(heading)
    ends = [end for end in (page.find("<section", start), page.find("<details", start), page.find("<h3", start))
            if end != -1]
    return page[start:min(ends, default=len(page))]


@pytest.mark.parametrize("login", ["liufang", "wanglei", "admin1", "norole"])
def test_every_user_reaches_the_page_from_the_user_menu(app, db, people, login):
    client = logged_in(app, login)
    home = text(client.get("/"))
    assert f'href="{PAGE}"' in home and "My substitutes" in home
    page = text(client.get(PAGE))
    assert "<h1" in page and "My substitutes" in page
    assert "Nobody substitutes for you." in page and "Nobody has named you as their substitute." in page
    assert ("You hold no role, so there is nothing to hand over." in page) is (login == "norole")
    assert ("Your only role, system administrator, is delegated by another administrator" in page) is (
        login == "admin1")
    assert ("A substitute matters for roles that review or approve" in page) is (login == "wanglei")
    assert ('name="to_user"' in page) is (login in ("liufang", "wanglei"))


def test_the_page_needs_a_log_in(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_the_form_offers_colleagues_and_my_own_roles(app, db, people):
    page = text(logged_in(app, "liufang").get(PAGE))
    substitute = re.search(r'<select[^>]*name="to_user".*?</select>', page, re.S).group(0)
    school = people["colleague"].org.name
    assert f"王磊 · {school}" in substitute and f"无角色 · {school}" in substitute
    assert "wanglei" not in substitute, "colleagues by name and workplace, not by login"
    assert "陈丽" not in substitute and "刘芳" not in substitute and "管理员" not in substitute
    role = re.search(r'<select[^>]*name="role".*?</select>', page, re.S).group(0)
    assert re.findall(r"<option[^>]*>([^<]*)</option>", role) == ["All my roles", "School training officer", "Teacher"]
    assert 'type="date"' in page and f'min="{days(0)}"' in page and f'value="{days(0)}"' in page


def test_naming_a_substitute_who_then_sees_it(app, db, people):
    officer = logged_in(app, "liufang")
    response = officer.post_form(PAGE, form(people))
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    (delegation,) = rows(db, Delegation)
    assert (delegation.from_user_id, delegation.to_user_id, delegation.role) == (
        people["officer"].id, people["colleague"].id, Role.SCHOOL_OFFICER)
    assert delegation.created_by_id == people["officer"].id and delegation.reason == "出差"
    page = text(officer.get(PAGE))
    assert "王磊 substitutes for you from" in page, "the flash message"
    mine = section(page, "Who substitutes for me")
    assert "王磊" in mine and "In force" in mine and "Reason: 出差" in mine
    assert f'action="/auth/substitutes/{delegation.id}/revoke"' in mine
    assert 'data-confirm="Revoke now? 王磊 stops acting for you at once."' in mine

    theirs = text(logged_in(app, "wanglei").get(PAGE))
    received = section(theirs, "For whom I substitute</h2>")
    assert "刘芳" in received and "School training officer" in received and "/revoke" not in received
    (note,) = db.session.scalars(sa.select(Notification).where(Notification.user_id == people["colleague"].id))
    assert note.kind == "delegation.received" and note.link == PAGE
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "delegation.create"))
    assert event.actor_id == people["officer"].id and event.after["self_service"] is True


def test_an_upcoming_substitute_for_all_roles(app, db, people):
    officer = logged_in(app, "liufang")
    officer.post_form(PAGE, form(people, role="", valid_from=days(3), valid_to=days(5), reason=""))
    (delegation,) = rows(db, Delegation)
    assert delegation.role is None and delegation.reason is None
    mine = section(text(officer.get(PAGE)), "Who substitutes for me")
    assert "Upcoming" in mine and "All roles" in mine


BAD = {
    "start in the past": ({"valid_from": days(-1)}, "The first day cannot be in the past"),
    "end before start": ({"valid_from": days(2), "valid_to": days(1)}, "The end date must not be before the start"),
    "too long": ({"valid_to": days(90)}, "at most 90 days at a time"),
    "myself": ({"to_user": "officer"}, "You cannot be your own substitute"),
    "another school": ({"to_user": "outsider"}, "陈丽 does not work in your organisation"),
    "role not held": ({"role": "principal"}, "You do not hold this role on these days."),
    "administrator role": ({"role": "admin"}, "delegated by another administrator"),
    "nobody chosen": ({"to_user": ""}, "Choose your substitute."),
    "no such person": ({"to_user": "999999"}, "Choose your substitute."),
    "no last day": ({"valid_to": ""}, "Enter the last day."),
    "not a date": ({"valid_from": "明天"}, "Enter the first day."),
    "reason too long": ({"reason": "出" * 201}, "at most 200 characters"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_explained_and_nothing_is_saved(app, db, people, case):
    changes, message = BAD[case]
    if changes.get("to_user") in people:
        changes = {**changes, "to_user": people[changes["to_user"]].id}
    response = logged_in(app, "liufang").post_form(PAGE, form(people, **changes))
    assert response.status_code == 200
    page = text(response)
    assert message in page and "is-invalid" in page
    assert rows(db, Delegation) == [] and rows(db, Notification) == []


def test_a_deactivated_colleague_and_an_overlap_are_refused(app, db, people):
    officer = logged_in(app, "liufang")
    people["colleague"].active = False
    db.session.commit()
    assert "The substitute's account is deactivated." in text(officer.post_form(PAGE, form(people)))
    people["colleague"].active = True
    db.session.commit()
    assert officer.post_form(PAGE, form(people)).status_code == 302
    page = text(officer.post_form(PAGE, form(people, to_user=people["nobody"].id, valid_from=days(4),
                                                valid_to=days(6))))
    assert "王磊 already substitutes for you from" in page
    assert len(rows(db, Delegation)) == 1


def test_revoking_my_own_and_never_someone_elses(app, db, people):
    officer, colleague = logged_in(app, "liufang"), logged_in(app, "wanglei")
    officer.post_form(PAGE, form(people))
    (delegation,) = rows(db, Delegation)
    path = f"{PAGE}/{delegation.id}/revoke"
    for other in (colleague, logged_in(app, "admin1")):
        assert other.post_form(path, {"csrf_token": other.csrf_token("/")}).status_code == 404
    assert officer.post(path).status_code == 400, "CSRF-protected"
    db.session.refresh(delegation)
    assert delegation.active

    response = officer.post_form(path, {"csrf_token": officer.csrf_token("/")}, follow_redirects=True)
    assert "王磊 no longer substitutes for you." in text(response)
    db.session.refresh(delegation)
    assert not delegation.active
    assert "Revoked" in section(text(officer.get(PAGE)), "Who substituted for me")
    again = officer.post_form(path, {"csrf_token": officer.csrf_token("/")}, follow_redirects=True)
    assert "This substitute has already been revoked." in text(again)
    assert [e.actor_id for e in db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "delegation.revoke"))] == [people["officer"].id]
    ended = db.session.scalars(sa.select(Notification).where(Notification.kind == "delegation.ended")).all()
    assert [n.user_id for n in ended] == [people["colleague"].id]


def test_naming_needs_the_csrf_token(app, db, people):
    officer = logged_in(app, "liufang")
    assert officer.post(PAGE, data=form(people)).status_code == 400
    assert rows(db, Delegation) == []


def test_an_administrators_delegation_shows_and_the_admin_pages_still_work(app, db, people):
    admin = logged_in(app, "admin1")
    response = admin.post_form("/admin/delegations/new", {
        "from_user": "liufang", "to_user": "wanglei", "role": "school_officer", "valid_from": days(0),
        "valid_to": days(3), "reason": "病假"})
    assert response.status_code == 302
    (delegation,) = rows(db, Delegation)
    assert delegation.created_by_id == people["admin"].id
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "delegation.create"))
    assert event.actor_id == people["admin"].id and event.after["self_service"] is False
    assert admin.get("/admin/delegations").status_code == 200
    officer = logged_in(app, "liufang")
    mine = section(text(officer.get(PAGE)), "Who substitutes for me")
    assert "Set up by an administrator" in mine and "/revoke" in mine, "she may end it herself"
    officer.post_form(f"{PAGE}/{delegation.id}/revoke", {"csrf_token": officer.csrf_token("/")})
    db.session.refresh(delegation)
    assert not delegation.active


def test_the_substitute_sees_for_whom_and_until_when(app, db, people):
    delegate(people["officer"], people["colleague"], role=None, valid_from=TODAY, valid_to=TODAY + timedelta(days=2))
    delegate(people["outsider"], people["colleague"], role=None, valid_from=TODAY - timedelta(days=9),
             valid_to=TODAY - timedelta(days=3))
    db.session.commit()
    page = text(logged_in(app, "wanglei").get(PAGE))
    received = section(page, "For whom I substitute</h2>")
    assert "刘芳" in received and "All roles" in received and "陈丽" not in received
    assert "陈丽" in section(page, "For whom I substituted")
