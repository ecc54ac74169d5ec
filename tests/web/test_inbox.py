"""The task inbox in the browser's terms: tabs, counts, the generated form, claim, complete, history."""

import re

import pytest
import sqlalchemy as sa

from tests.workflow_support import hours_review_files
from webapp.models import HumanTask, Role, TaskStatus


@pytest.fixture
def flow(db, region, make_user):
    from webapp.services import definitions, instances

    teacher = make_user("teacher1", display_name="王老师", org=region["school"],
                        roles=((Role.TEACHER, region["school"]),))
    make_user("officer1", display_name="李专干", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    make_user("officer2", display_name="赵专干", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    make_user("outsider", display_name="外校专干", roles=((Role.SCHOOL_OFFICER, region["school2"]),))
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=teacher, title="王老师的学时申请")
    db.session.commit()
    return instance


def open_task(db, instance):
    return db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.status == TaskStatus.OPEN))


def test_teacher_fills_the_generated_form(client, db, flow):
    client.login("teacher1")
    inbox = client.get("/inbox/").get_data(as_text=True)
    assert "提交申请" in inbox
    task = open_task(db, flow)
    page = client.get(f"/inbox/tasks/{task.id}").get_data(as_text=True)
    assert 'name="hours"' in page and 'min="1"' in page and 'max="40"' in page
    bad = client.post_form(f"/inbox/tasks/{task.id}", {"title": "ab", "hours": "99", "category": "training",
                                                       "csrf_token": client.csrf_token("/inbox/")})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "至少需要 3 个字符" in text
    assert "不能超过 40" in text
    good = client.post_form(f"/inbox/tasks/{task.id}", {"title": "信息技术培训", "hours": "12", "category": "training",
                                                        "csrf_token": client.csrf_token("/inbox/")})
    assert good.status_code == 302
    assert open_task(db, flow).bpmn_id == "review"


def test_officer_claims_and_approves(client, app, db, flow):
    from webapp.services import instances, tasks

    teacher_task = open_task(db, flow)
    instances.complete_task(teacher_task, flow.initiator, {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    db.session.commit()
    review = open_task(db, flow)

    client.login("officer1")
    claimable = client.get("/inbox/?tab=claimable").get_data(as_text=True)
    assert "学校审核" in claimable
    assert re.search(r"待认领\s*<span[^>]*>1<", claimable)
    client.post_form(f"/inbox/tasks/{review.id}/claim", {"csrf_token": client.csrf_token("/inbox/")})
    assert "学校审核" in client.get("/inbox/?tab=assigned").get_data(as_text=True)

    other = app.test_client()
    other.login("officer2")
    page = other.get(f"/inbox/tasks/{review.id}").get_data(as_text=True)
    assert "其他人正在处理" in page
    refused = other.post_form(f"/inbox/tasks/{review.id}", {"approved": "true",
                                                             "csrf_token": other.csrf_token("/inbox/")},
                              follow_redirects=True)
    assert "李专干" in refused.get_data(as_text=True)

    done = client.post_form(f"/inbox/tasks/{review.id}", {"approved": "true", "comment": "同意",
                                                          "csrf_token": client.csrf_token("/inbox/")})
    assert done.status_code == 302
    db.session.refresh(flow)
    assert flow.status.value == "completed"
    history = client.get(f"/inbox/instances/{flow.id}").get_data(as_text=True)
    assert "已完成" in history and "认领" in history


def test_outsider_never_sees_the_task(app, db, flow):
    from webapp.services import instances, tasks

    instances.complete_task(open_task(db, flow), flow.initiator, {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    db.session.commit()
    review = open_task(db, flow)
    outsider = app.test_client()
    outsider.login("outsider")
    assert "学校审核" not in outsider.get("/inbox/?tab=claimable").get_data(as_text=True)
    assert outsider.get(f"/inbox/tasks/{review.id}").status_code == 404
    assert outsider.get(f"/inbox/instances/{flow.id}").status_code == 404


def test_empty_inbox_explains_itself(client, make_user, region):
    make_user("lonely", roles=((Role.TEACHER, region["school"]),))
    client.login("lonely")
    page = client.get("/inbox/").get_data(as_text=True)
    assert "暂无待办" in page


def test_task_actions_never_redirect_off_site(client, db, flow):
    client.login("teacher1")
    task = open_task(db, flow)
    response = client.post_form(f"/inbox/tasks/{task.id}/comment",
                                {"body": "看一下", "next": "https://evil.example/x",
                                 "csrf_token": client.csrf_token("/inbox/")})
    assert response.headers["Location"] == f"/inbox/tasks/{task.id}"


def test_onlookers_may_not_comment(app, client, db, flow, make_user, region):
    from webapp.models import TaskComment
    from webapp.services import instances, tasks

    instances.complete_task(open_task(db, flow), flow.initiator, {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    make_user("principal1", display_name="校长", roles=((Role.PRINCIPAL, region["school"]),))
    db.session.commit()
    review = open_task(db, flow)
    principal = app.test_client()
    principal.login("principal1")
    page = principal.get(f"/inbox/tasks/{review.id}")
    assert page.status_code == 200, "the principal may look"
    assert "comment-body" not in page.get_data(as_text=True), "but is shown no comment box"
    refused = principal.post_form(f"/inbox/tasks/{review.id}/comment",
                                  {"body": "看一下", "csrf_token": principal.csrf_token("/inbox/")})
    assert refused.status_code == 403
    assert "只有本流程的参与者可以发表评论" in refused.get_data(as_text=True)
    client.login("officer1")
    assert "comment-body" in client.get(f"/inbox/tasks/{review.id}").get_data(as_text=True)
    assert client.post_form(f"/inbox/tasks/{review.id}/comment",
                            {"body": "材料齐全", "csrf_token": client.csrf_token("/inbox/")}).status_code == 302
    assert [c.body for c in db.session.scalars(sa.select(TaskComment))] == ["材料齐全"]
