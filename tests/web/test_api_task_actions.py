"""The API of transfer (转交), urge (催办) and copy-to (抄送): rules, errors and what each call changes."""

from __future__ import annotations

import sqlalchemy as sa

from tests.web.test_api import (  # noqa: F401  (fixtures)
    Api,
    as_user,
    deployed,
    error_of,
    people,
    review,
    started,
)
from webapp.models import AuditEvent, InstanceWatcher, Notification, Role


def count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_transfer_by_login_with_a_reason(db, as_user, review, people):  # noqa: F811
    review_id, _ = review
    officer = as_user("officer")
    response = officer.post(f"/tasks/{review_id}/transfer", {"to_user": "OFFICER3", "reason": "出差一周"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["assignee"]["login"] == "officer3"
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "task.transfer"))
    assert event.after == {"task": "review", "to_user_id": people["colleague"].id, "to_name": "赵专干",
                           "reason": "出差一周"}
    assert as_user("colleague").get(f"/tasks/{review_id}").get_json()["permissions"]["complete"] is True
    assert officer.post(f"/tasks/{review_id}/complete", {"data": {"approved": True}}).status_code == 403


def test_transfer_refusals(db, as_user, review, people):  # noqa: F811
    review_id, _ = review
    officer = as_user("officer")
    missing = officer.post(f"/tasks/{review_id}/transfer", {"to_user": "officer3", "reason": " "})
    assert missing.status_code == 422 and list(error_of(missing)["fields"]) == ["reason"]
    too_long = officer.post(f"/tasks/{review_id}/transfer", {"to_user": "officer3", "reason": "理" * 201})
    assert too_long.status_code == 400 and error_of(too_long)["field"] == "reason"
    itself = officer.post(f"/tasks/{review_id}/transfer", {"to_user": "officer1", "reason": "出差"})
    assert itself.status_code == 400 and error_of(itself)["message"] == "Choose a colleague other than yourself."
    wrong = officer.post(f"/tasks/{review_id}/transfer", {"to_user": "officer2", "reason": "出差"})
    assert wrong.status_code == 400 and "does not hold the role" in error_of(wrong)["message"]
    hidden = as_user("other_officer").post(f"/tasks/{review_id}/transfer", {"to_user": "officer3", "reason": "出差"})
    assert hidden.status_code == 404
    teacher = as_user("teacher").post(f"/tasks/{review_id}/transfer", {"to_user": "officer3", "reason": "出差"})
    assert teacher.status_code == 403, "she sees her own process, but may not act on its review"
    assert count(db, AuditEvent, AuditEvent.action == "task.transfer") == 0


def test_urge_a_task_then_the_instance(db, as_user, review, people):  # noqa: F811
    review_id, instance_id = review
    teacher = as_user("teacher")
    urged = teacher.post(f"/tasks/{review_id}/urge")
    assert urged.status_code == 200, urged.get_json()
    body = urged.get_json()
    assert (body["task"]["id"], body["recipients"]) == (review_id, 2)
    assert body["next_urge_at"] is not None
    assert sorted(db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "task.urged"))) \
        == sorted([people["officer"].id, people["colleague"].id])

    again = teacher.post(f"/tasks/{review_id}/urge")
    assert again.status_code == 409
    assert "you can urge again after" in error_of(again)["message"]
    whole = teacher.post(f"/instances/{instance_id}/urge")
    assert whole.status_code == 409, "its only open task was urged today"
    assert count(db, AuditEvent, AuditEvent.action == "task.urge") == 1


def test_urge_the_instance_and_who_may_not(db, as_user, review, people):  # noqa: F811
    review_id, instance_id = review
    for name, status in (("officer", 403), ("admin", 403), ("other_officer", 404)):
        assert as_user(name).post(f"/instances/{instance_id}/urge").status_code == status, name
        assert as_user(name).post(f"/tasks/{review_id}/urge").status_code == status, name
    response = as_user("teacher").post(f"/instances/{instance_id}/urge")
    assert response.status_code == 200
    assert [(item["task"]["id"], item["recipients"]) for item in response.get_json()["urged"]] == [(review_id, 2)]
    assert count(db, AuditEvent, AuditEvent.action == "task.urge") == 1


def test_watchers_list_and_add(app, db, as_user, review, people, make_user, region):  # noqa: F811
    _, instance_id = review
    reader = make_user("teacher5", display_name="孙老师", org=region["school"], locale="en",
                       roles=((Role.TEACHER, region["school"]),))
    db.session.commit()
    assert as_user("officer").get(f"/instances/{instance_id}/watchers").get_json() == {"items": [], "may_add": True}
    assert as_user("other_officer").get(f"/instances/{instance_id}/watchers").status_code == 404

    officer = as_user("officer")
    added = officer.post(f"/instances/{instance_id}/watchers", {"users": ["teacher5", people["colleague"].id]})
    assert added.status_code == 200, added.get_json()
    body = added.get_json()
    assert [ref["login"] for ref in body["added"]] == ["teacher5", "officer3"]
    assert [(item["user"]["login"], item["added_by"]["login"]) for item in body["items"]] == [
        ("teacher5", "officer1"), ("officer3", "officer1")]
    again = officer.post(f"/instances/{instance_id}/watchers", {"users": ["teacher5"]})
    assert again.get_json()["added"] == [] and len(again.get_json()["items"]) == 2
    assert count(db, AuditEvent, AuditEvent.action == "instance.copy") == 1

    copied = Api(app.test_client()).login(reader.login)
    assert copied.get(f"/instances/{instance_id}").status_code == 200
    watching = copied.get(f"/instances/{instance_id}/watchers").get_json()
    assert watching["may_add"] is False and len(watching["items"]) == 2


def test_adding_watchers_refusals(db, as_user, review, people, make_user, region):  # noqa: F811
    _, instance_id = review
    make_user("far1", org=region["school2"], roles=((Role.TEACHER, region["school2"]),))
    db.session.commit()
    officer = as_user("officer")
    for body in ({}, {"users": []}, {"users": "teacher1"}, {"users": [True]}, {"users": [{"id": 1}]}):
        response = officer.post(f"/instances/{instance_id}/watchers", body)
        assert response.status_code == 422 and list(error_of(response)["fields"]) == ["users"], body
    far = officer.post(f"/instances/{instance_id}/watchers", {"users": ["far1"]})
    assert far.status_code == 400 and error_of(far)["field"] == "users"
    assert "outside its region" in error_of(far)["message"]
    crowd = officer.post(f"/instances/{instance_id}/watchers", {"users": [f"u{n}" for n in range(21)]})
    assert crowd.status_code == 400 and "at most 20" in error_of(crowd)["message"]
    stranger = as_user("other_officer").post(f"/instances/{instance_id}/watchers", {"users": ["officer3"]})
    assert stranger.status_code == 404
    onlooker = as_user("admin").post(f"/instances/{instance_id}/watchers", {"users": ["officer3"]})
    assert onlooker.status_code == 403, "an administrator sees the instance but takes no part in it"
    assert count(db, InstanceWatcher) == 0
