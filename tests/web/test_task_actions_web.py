"""Transfer (转交), urge (催办) and copy-to (抄送) in the browser: the forms on the task and instance pages, who may
post them (others get 403 or 404), and what they change (users read English)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.services.test_applications import apply, chain, evidence_dir  # noqa: F401  (fixtures)
from tests.workflow_support import hours_review_files
from webapp.models import AuditEvent, HumanTask, InstanceWatcher, Notification, Role


@pytest.fixture
def flow(db, region, make_user):
    """The teacher's hours_review, submitted: the review waits for the school's two officers."""
    from webapp.services import definitions, instances, tasks

    school = region["school"]
    people = {
        "teacher": make_user("teacher1", display_name="张老师", org=school, roles=((Role.TEACHER, school),)),
        "officer": make_user("officer1", display_name="王专干", org=school, roles=((Role.SCHOOL_OFFICER, school),)),
        "colleague": make_user("officer3", display_name="赵专干", org=school,
                               roles=((Role.SCHOOL_OFFICER, school),)),
        "outsider": make_user("officer2", display_name="李专干", org=region["school2"],
                              roles=((Role.SCHOOL_OFFICER, region["school2"]),)),
        "county": make_user("county1", display_name="曹老师", roles=((Role.COUNTY_OFFICER, region["county"]),)),
        "peer": make_user("teacher3", display_name="刘老师", org=school, roles=((Role.TEACHER, school),)),
        "far": make_user("teacher9", display_name="杨老师", org=region["school2"],
                         roles=((Role.TEACHER, region["school2"]),)),
    }
    for user in people.values():
        user.locale = "en"
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=people["teacher"],
                               title="信息技术培训")
    (submit,) = instances.open_tasks(instance)
    instances.complete_task(submit, people["teacher"], {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    db.session.commit()
    (review,) = instances.open_tasks(instance)
    return {"instance": instance, "review": review, **people}


def as_(client, login):
    client.login(login)
    return client


def post(client, path, data=None):
    return client.post_form(path, {**(data or {}), "csrf_token": client.csrf_token("/inbox/")})


def count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def flashed(client, path):
    return client.get(path).get_data(as_text=True)


# -- transfer ----------------------------------------------------------------------------------------------------

def test_the_task_page_offers_transfer_to_colleagues_only_to_who_may_act(client, db, flow):
    review = flow["review"]
    page = as_(client, "officer1").get(f"/inbox/tasks/{review.id}").get_data(as_text=True)
    form = page[page.index('id="transfer"'):page.index('id="copy-to"')]
    assert f'action="/inbox/tasks/{review.id}/transfer"' in form
    assert re.findall(r'<option value="(\d+)">', form) == [str(flow["colleague"].id)]
    assert 'name="reason"' in form and 'maxlength="200"' in form and "data-confirm=" in form
    assert 'name="csrf_token"' in form
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    teacher_page = as_(client, "teacher1").get(f"/inbox/tasks/{review.id}").get_data(as_text=True)
    assert 'id="transfer"' not in teacher_page


def test_transfer_by_form_goes_to_the_colleague(client, db, flow):
    review, colleague = flow["review"], flow["colleague"]
    response = post(as_(client, "officer1"), f"/inbox/tasks/{review.id}/transfer",
                    {"to_user": str(colleague.id), "reason": "下周外出培训"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox/")
    assert "“学校审核” has been transferred to 赵专干." in flashed(client, "/inbox/")
    db.session.expire_all()
    assert db.session.get(HumanTask, review.id).assignee_id == colleague.id
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "task.transfer"))
    assert event.after["reason"] == "下周外出培训"
    assert count(db, Notification, Notification.kind == "task.transferred", Notification.user_id == colleague.id) == 1


@pytest.mark.parametrize(("data", "message"), [
    ({"reason": "外出"}, "Choose the colleague to transfer the task to."),
    ({"to_user": "officer3", "reason": "外出"}, "Choose the colleague to transfer the task to."),
    ({"to_user": "COLLEAGUE", "reason": ""}, "Give the reason for the transfer."),
    ({"to_user": "OUTSIDER", "reason": "外出"}, "李专干 does not hold the role this task needs."),
    ({"to_user": "OFFICER", "reason": "外出"}, "Choose a colleague other than yourself."),
])
def test_transfer_by_form_refuses_bad_input(client, db, flow, data, message):
    review = flow["review"]
    if data.get("to_user", "").isupper():
        data = {**data, "to_user": str(flow[data["to_user"].lower()].id)}
    response = post(as_(client, "officer1"), f"/inbox/tasks/{review.id}/transfer", data)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/inbox/tasks/{review.id}")
    assert message in flashed(client, f"/inbox/tasks/{review.id}")
    db.session.expire_all()
    assert db.session.get(HumanTask, review.id).assignee_id is None
    assert count(db, AuditEvent, AuditEvent.action == "task.transfer") == 0


def test_transfer_by_someone_who_cannot_act_is_refused(client, db, flow):
    review, colleague = flow["review"], flow["colleague"]
    data = {"to_user": str(colleague.id), "reason": "外出"}
    assert post(as_(client, "officer2"), f"/inbox/tasks/{review.id}/transfer", data).status_code == 404
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    refused = post(as_(client, "county1"), f"/inbox/tasks/{review.id}/transfer", data)  # sees it, may not act
    assert refused.status_code == 403
    assert "You may not act on this task." in refused.get_data(as_text=True)
    assert post(client, f"/inbox/tasks/{review.id}/transfer", {"reason": "外出"}).status_code == 403, \
        "refused before the form is looked at"
    without_token = client.post(f"/inbox/tasks/{review.id}/transfer", data=data)
    assert without_token.status_code == 400
    db.session.expire_all()
    assert db.session.get(HumanTask, review.id).assignee_id is None


# -- urge --------------------------------------------------------------------------------------------------------

def test_the_initiator_urges_from_the_instance_page_once_a_day(client, db, flow):
    instance = flow["instance"]
    page = as_(client, "teacher1").get(f"/inbox/instances/{instance.id}").get_data(as_text=True)
    assert f'action="/inbox/instances/{instance.id}/urge"' in page
    response = post(client, f"/inbox/instances/{instance.id}/urge")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/inbox/instances/{instance.id}")
    after = flashed(client, f"/inbox/instances/{instance.id}")
    assert "Urged: 2 people have been reminded." in after
    assert f'action="/inbox/instances/{instance.id}/urge"' not in after
    assert re.search(r'<button type="button" class="[^"]*" disabled>Urge</button>', after)
    assert "Urged already; you can urge again after" in after
    assert sorted(db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "task.urged"))) \
        == sorted([flow["officer"].id, flow["colleague"].id])

    again = post(client, f"/inbox/instances/{instance.id}/urge")
    assert again.status_code == 302
    assert "You have urged this already; you can urge again after" in flashed(client, f"/inbox/instances/{instance.id}")
    assert count(db, AuditEvent, AuditEvent.action == "task.urge") == 1


def test_only_the_initiator_may_urge_from_the_page(client, db, flow):
    instance = flow["instance"]
    page = as_(client, "officer1").get(f"/inbox/instances/{instance.id}").get_data(as_text=True)
    assert "/urge" not in page
    refused = post(client, f"/inbox/instances/{instance.id}/urge")
    assert refused.status_code == 403
    assert "Only the person who started this process may urge it." in refused.get_data(as_text=True)
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    assert post(as_(client, "officer2"), f"/inbox/instances/{instance.id}/urge").status_code == 404
    assert count(db, AuditEvent, AuditEvent.action == "task.urge") == 0
    assert count(db, Notification, Notification.kind == "task.urged") == 0


# -- copy-to -----------------------------------------------------------------------------------------------------

def test_a_reviewer_copies_a_colleague_who_may_then_read_the_record(client, app, db, flow):
    instance, review = flow["instance"], flow["review"]
    reader = app.test_client()
    reader.login("teacher3")
    assert reader.get(f"/inbox/instances/{instance.id}").status_code == 404

    page = as_(client, "officer1").get(f"/inbox/tasks/{review.id}").get_data(as_text=True)
    form = page[page.index('id="copy-to"'):]
    assert f'action="/inbox/instances/{instance.id}/watchers"' in form
    assert f'name="user_id" value="{flow["colleague"].id}"' in form, "the school's other officer is suggested"
    response = post(client, f"/inbox/instances/{instance.id}/watchers",
                    {"user_id": str(flow["colleague"].id), "logins": "teacher3，COUNTY1",
                     "next": f"/inbox/tasks/{review.id}"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/inbox/tasks/{review.id}")
    shown = flashed(client, f"/inbox/tasks/{review.id}")
    assert "Copied to 赵专干、刘老师、曹老师." in shown
    assert "Copied to: 赵专干、刘老师、曹老师" in shown
    assert sorted(db.session.scalars(sa.select(InstanceWatcher.user_id))) == sorted(
        [flow["colleague"].id, flow["peer"].id, flow["county"].id])

    record = reader.get(f"/inbox/instances/{instance.id}")
    assert record.status_code == 200 and "信息技术培训" in record.get_data(as_text=True)
    assert 'id="urge"' not in record.get_data(as_text=True)


@pytest.mark.parametrize(("logins", "message"), [
    ("teacher9", "These people cannot be copied on this process (not active, or outside its region): 杨老师."),
    ("nobody", "There is no such user: nobody."),
    ("", "Choose the people to copy."),
    (" ".join(f"x{n}" for n in range(21)), "Copy at most 20 people at a time."),
])
def test_copying_refuses_people_out_of_scope_and_too_many(client, db, flow, logins, message):
    instance = flow["instance"]
    response = post(as_(client, "officer1"), f"/inbox/instances/{instance.id}/watchers", {"logins": logins})
    assert response.status_code == 302
    assert message in flashed(client, f"/inbox/instances/{instance.id}")
    assert count(db, InstanceWatcher) == 0


def test_copying_is_for_those_who_act_on_the_process(client, db, flow):
    instance = flow["instance"]
    refused = post(as_(client, "county1"), f"/inbox/instances/{instance.id}/watchers", {"logins": "teacher3"})
    assert refused.status_code == 403
    assert post(client, f"/inbox/instances/{instance.id}/watchers", {"logins": "nobody"}).status_code == 403, \
        "refused before any login is looked up"
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    hidden = post(as_(client, "officer2"), f"/inbox/instances/{instance.id}/watchers", {"logins": "teacher3"})
    assert hidden.status_code == 404
    assert count(db, InstanceWatcher) == 0


def test_a_copied_teacher_may_read_the_credit_application(client, app, db, chain):  # noqa: F811
    """The application page follows the instance: once copied, a colleague reads the application."""
    from webapp.processes.credit_application import applications

    application = apply(chain["teacher"])
    task = applications.open_task(application)
    assert task.bpmn_id == "leader_review"
    reader = app.test_client()
    reader.login("teacher2")
    assert reader.get(f"/applications/{application.id}").status_code == 404

    response = post(as_(client, "leader1"), f"/inbox/instances/{application.instance_id}/watchers",
                    {"logins": "teacher2"})
    assert response.status_code == 302
    shown = reader.get(f"/applications/{application.id}")
    assert shown.status_code == 200 and "省级远程研修" in shown.get_data(as_text=True)
