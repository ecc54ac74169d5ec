"""The bell in the browser's terms: the list, marking read, opening one, the partial, email after the response."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import render_template_string
from flask_login import login_user

from tests.workflow_support import hours_review_files
from webapp.models import HumanTask, Notification, Role, TaskStatus
from webapp.services import notifications as service


@pytest.fixture
def person(make_user):
    """An English-speaking user (``users.create_user`` does not take the locale, so it is set here)."""

    def _person(login: str, **values):
        user = make_user(login, **values)
        user.locale = "en"
        return user

    return _person


@pytest.fixture
def reader(db, person):
    user = person("reader", display_name="Reader")
    db.session.commit()
    return user


def write(db, user, title: str, link: str | None = "/inbox/") -> Notification:
    note = service.notify(user, "test", title=title, link=link)
    db.session.commit()
    return note


def test_empty_list_explains_itself(client, reader):
    client.login("reader")
    page = client.get("/notifications/").get_data(as_text=True)
    assert "No notifications yet." in page
    assert "Mark all as read" not in page


def test_list_newest_first_unread_highlighted_and_paginated(app, client, db, reader, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "PAGE_SIZE", 2)
    first = write(db, reader, "First news")
    write(db, reader, "Second news")
    write(db, reader, "Third news")
    service.mark_read(reader, [first.id])
    db.session.commit()
    client.login("reader")
    page = client.get("/notifications/").get_data(as_text=True)
    assert page.index("Third news") < page.index("Second news")
    assert "First news" not in page  # on page 2
    assert "2 unread" in page and "list-group-item-primary" in page
    assert "First news" in client.get("/notifications/?page=2").get_data(as_text=True)


def test_opening_marks_read_and_follows_only_local_links(client, db, reader, person):
    task_note = write(db, reader, "A task", link="/inbox/tasks/42")
    evil = Notification(user_id=reader.id, kind="test", title="Evil", body="", link="https://evil.example/x")
    sneaky = Notification(user_id=reader.id, kind="test", title="Sneaky", body="", link="//evil.example/x")
    db.session.add_all([evil, sneaky])
    someone_else = write(db, person("other"), "Not yours")
    db.session.commit()
    client.login("reader")

    response = client.get(f"/notifications/{task_note.id}")
    assert response.status_code == 302 and response.headers["Location"] == "/inbox/tasks/42"
    for note in (evil, sneaky):
        refused = client.get(f"/notifications/{note.id}")
        assert refused.status_code == 302 and refused.headers["Location"] == "/notifications/"
    assert client.get(f"/notifications/{someone_else.id}").status_code == 404
    db.session.expire_all()
    assert task_note.read_at is not None and evil.read_at is not None
    assert someone_else.read_at is None


def test_mark_one_and_all_read(client, db, reader, person):
    one = write(db, reader, "One")
    two = write(db, reader, "Two")
    theirs = write(db, person("other"), "Theirs")
    client.login("reader")
    token = client.csrf_token("/notifications/")

    assert client.post("/notifications/read", data={"id": str(one.id)}).status_code == 400  # no CSRF token
    response = client.post("/notifications/read", data={"id": str(one.id), "csrf_token": token,
                                                         "next": "https://evil.example/"})
    assert response.headers["Location"] == "/notifications/"
    db.session.expire_all()
    assert one.read_at is not None and two.read_at is None
    client.post("/notifications/read", data={"id": str(theirs.id), "csrf_token": token})
    db.session.expire_all()
    assert theirs.read_at is None

    done = client.post("/notifications/read", data={"csrf_token": token}, follow_redirects=True)
    assert "1 notifications marked as read." in done.get_data(as_text=True)
    assert service.unread_count(reader) == 0 and service.unread_count(theirs.user) == 1


def test_bell_partial_shows_the_unread_count_with_an_accessible_label(app, db, reader):
    write(db, reader, "One")
    write(db, reader, "Two")
    template = '<ul class="navbar-nav">{% include "notifications/_bell.html" %}</ul>'
    with app.test_request_context("/"):
        login_user(reader)
        html = render_template_string(template)
    assert 'aria-label="Notifications, 2 unread"' in html
    assert re.search(r'text-bg-danger[^>]*>2<', html)
    assert 'href="/notifications/"' in html
    service.mark_read(reader)
    with app.test_request_context("/"):
        login_user(reader)
        html = render_template_string(template)
    assert 'aria-label="Notifications"' in html and "text-bg-danger" not in html


def submit_hours_and_catch_the_email(app, client, db, person, region, monkeypatch, *, base_url, headers=None):
    """The teacher submits (with ``headers`` on the request); returns the email sent to the officer and the
    review task it is about."""
    from tests.services.test_notifications import SmtpSink
    from webapp.services import definitions, instances

    school = region["school"]
    teacher = person("teacher1", roles=((Role.TEACHER, school),))
    person("officer1", email="officer@school.test", roles=((Role.SCHOOL_OFFICER, school),))
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=school, initiator=teacher, title="Hours for Wang")
    db.session.commit()
    submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))

    with SmtpSink() as sink:
        for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_SECURITY": "none",
                           "SMTP_FROM": "yanxun@school.test", "PUBLIC_BASE_URL": base_url}.items():
            monkeypatch.setitem(app.config["YANXUN"], key, value)
        client.login("teacher1")
        token = client.csrf_token("/inbox/")
        host = (headers or {}).get("Host")
        if host:  # the browser of someone who opened the site under that name
            client.set_cookie("session", client.get_cookie("session").value, domain=host)
        response = client.post_form(f"/inbox/tasks/{submit.id}",
                                    {"title": "IT training", "hours": "12", "category": "training",
                                     "csrf_token": token}, headers=headers or {})
        assert response.status_code == 302
        assert sink.messages == []  # not while the response is on its way
        response.close()  # the server has sent the response: now the email goes
        assert [recipients for _, recipients, _ in sink.messages] == [["officer@school.test"]]
    review = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                          HumanTask.status == TaskStatus.OPEN))
    return sink.messages[0][2], review


def test_a_completed_task_notifies_the_reviewers_and_emails_them_after_the_response(app, client, db, region, person,
                                                                                    monkeypatch):
    message, review = submit_hours_and_catch_the_email(app, client, db, person, region, monkeypatch,
                                                       base_url="https://yanxun.test")
    assert "A task waits for you" in str(message["Subject"])
    assert f"https://yanxun.test/inbox/tasks/{review.id}" in message.as_string()  # the configured address
    officer_client = app.test_client()
    officer_client.login("officer1")
    page = officer_client.get("/notifications/").get_data(as_text=True)
    assert "A task waits for you: 学校审核 – Hours for Wang" in page
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "task.opened"))
    assert note.emailed_at is not None
    opened = officer_client.get(f"/notifications/{note.id}")
    assert opened.headers["Location"] == f"/inbox/tasks/{review.id}"
    assert officer_client.get(opened.headers["Location"]).status_code == 200


@pytest.mark.parametrize("behind_proxy", [False, True], ids=["host", "x-forwarded-host"])
@pytest.mark.parametrize("base_url", ["https://yanxun.test", None], ids=["public-base-url", "none"])
def test_links_in_emails_never_come_from_the_request(app, client, db, region, person, monkeypatch, behind_proxy,
                                                     base_url):
    """A poisoned ``Host`` (or, behind the documented proxy setting, ``X-Forwarded-Host``) never reaches an email:
    links are on PUBLIC_BASE_URL, and without it (which the configuration refuses with SMTP on) there is none."""
    if behind_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1))  # TRUSTED_PROXIES=1
        headers = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
    else:
        headers = {"Host": "evil.example"}
    message, review = submit_hours_and_catch_the_email(app, client, db, person, region, monkeypatch,
                                                       base_url=base_url, headers=headers)
    from tests.services.test_notifications import body_text

    for text in (body_text(message, "plain"), body_text(message, "html")):
        assert "evil.example" not in text
        if base_url:
            assert f"https://yanxun.test/inbox/tasks/{review.id}" in text
        else:
            assert "://" not in text and "/inbox/tasks/" not in text, "no link at all"
            assert "Log in to YanXun to see it." in text


def test_no_email_after_the_response_when_switched_off(app, client, db, region, person, monkeypatch):
    from tests.services.test_notifications import SmtpSink
    from webapp.services import definitions, instances

    school = region["school"]
    teacher = person("teacher1", roles=((Role.TEACHER, school),))
    person("officer1", email="officer@school.test", roles=((Role.SCHOOL_OFFICER, school),))
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=school, initiator=teacher)
    db.session.commit()
    submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
    with SmtpSink() as sink:
        for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_SECURITY": "none",
                           "SMTP_FROM": "yanxun@school.test", "SMTP_SEND_AFTER_REQUEST": False}.items():
            monkeypatch.setitem(app.config["YANXUN"], key, value)
        client.login("teacher1")
        response = client.post_form(f"/inbox/tasks/{submit.id}",
                                    {"title": "IT training", "hours": "12", "category": "training",
                                     "csrf_token": client.csrf_token("/inbox/")})
        assert response.status_code == 302
        response.close()
        assert sink.messages == []
        assert service.deliver_pending_emails().sent == 1  # cron / the job queue sends it instead
        assert [recipients for _, recipients, _ in sink.messages] == [["officer@school.test"]]
