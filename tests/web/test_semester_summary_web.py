"""The semester summary's pages through the Flask client (users read English): each step's task page, the
validation messages on the form, a stale form, the collection page with 截止收集, and the teacher's list."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest

from tests.services.test_semester_summary import (  # noqa: F401  (fixtures)
    CST,
    PDF,
    SELF_CHECK,
    evidence_dir,
    launch,
    school,
    task_of,
)
from webapp.models import TaskStatus
from webapp.processes.semester_summary.stages import COMPILE, PERSONAL, REVIEW, SIGN, SUBGROUP


@pytest.fixture
def people(school, db):  # noqa: F811
    for value in school.values():
        if hasattr(value, "locale"):
            value.locale = "en"
    db.session.commit()
    return school


def switch(client, login):
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    client.login(login)


def post(client, path, data, **kwargs):
    return client.post(path, data={**data, "csrf_token": client.csrf_token(path)}, **kwargs)


def test_the_teacher_writes_and_submits_on_the_task_page(client, db, people):
    instance = launch(people)
    task = task_of(instance, PERSONAL, people["t1"])
    client.login("tch1")
    page = client.get(f"/inbox/tasks/{task.id}").get_data(as_text=True)
    assert "Personal summary" in page and 'id="summary-hours"' in page and "研修活动" in page
    empty = post(client, f"/inbox/tasks/{task.id}", {"body": "", "action": "submit"})
    assert empty.status_code == 400 and "Write your personal summary." in empty.get_data(as_text=True)
    fake = post(client, f"/inbox/tasks/{task.id}", {"body": "总结", "action": "submit",
                                                    "paper": (io.BytesIO(b"MZ not a pdf"), "论文.pdf")},
                content_type="multipart/form-data")
    assert fake.status_code == 422 and "is not a real PDF file" in fake.get_data(as_text=True)
    draft = post(client, f"/inbox/tasks/{task.id}", {"body": "", "action": "save"})
    assert draft.status_code == 302
    done = post(client, f"/inbox/tasks/{task.id}", {"body": "本学期总结", "action": "submit",
                                                    "case_analysis": (io.BytesIO(PDF), "案例.pdf")},
                content_type="multipart/form-data")
    assert done.status_code == 302
    db.session.refresh(task)
    assert task.status is TaskStatus.COMPLETED
    stale = post(client, f"/inbox/tasks/{task.id}", {"body": "再交一次", "action": "submit"})
    assert stale.status_code == 302 and task.status is TaskStatus.COMPLETED
    mine = client.get("/summaries/mine").get_data(as_text=True)
    assert "2026–2027 school year, first semester" in mine and "Submitted" in mine


def test_the_school_watches_closes_compiles_and_the_county_reviews(client, db, people):
    from tests.services.test_semester_summary import submit

    deadline = datetime.now(CST) - timedelta(hours=1)
    instance = launch(people, deadline)
    submit(instance, people["t1"])
    client.login("officer1")
    watch = client.get(f"/summaries/instances/{instance.id}").get_data(as_text=True)
    assert "1 of 4 submitted" in watch and "Close the collection" in watch and "Missing" not in watch
    closed = post(client, f"/summaries/instances/{instance.id}/close", {})
    assert closed.status_code == 302
    watch = client.get(f"/summaries/instances/{instance.id}").get_data(as_text=True)
    assert watch.count("Missing") == 3 and "Close the collection" not in watch

    switch(client, "lead1")
    leader = task_of(instance, SUBGROUP, people["l1"])
    page = client.get(f"/inbox/tasks/{leader.id}").get_data(as_text=True)
    assert "数学备课组" in page and 'id="subgroup-members"' in page
    assert post(client, f"/inbox/tasks/{leader.id}", {"body": "组总结"}).status_code == 302

    switch(client, "officer1")
    compile_task = task_of(instance, COMPILE)
    page = client.get(f"/inbox/tasks/{compile_task.id}").get_data(as_text=True)
    assert 'id="summary-aggregates"' in page and "No leader" in page and "语文备课组" in page
    form = {code: item["status"] for code, item in SELF_CHECK.items()}
    bad = post(client, f"/inbox/tasks/{compile_task.id}", {**form, "newsletters": "-1", "body": ""})
    assert bad.status_code == 400 and "Enter the number of newsletters, 0 or more." in bad.get_data(as_text=True)
    assert post(client, f"/inbox/tasks/{compile_task.id}", {**form, "newsletters": "2", "body": "学校总结"}
                ).status_code == 302

    switch(client, "principal1")
    sign = task_of(instance, SIGN)
    refused = post(client, f"/inbox/tasks/{sign.id}", {"decision": "return", "comment": ""})
    assert refused.status_code == 400 and "Give the reason for returning it." in refused.get_data(as_text=True)
    assert post(client, f"/inbox/tasks/{sign.id}", {"decision": "sign"}).status_code == 302

    switch(client, "county1")
    review = task_of(instance, REVIEW)
    page = client.get(f"/inbox/tasks/{review.id}").get_data(as_text=True)
    assert 'id="school-summary"' in page and "学校总结" in page
    assert post(client, f"/inbox/tasks/{review.id}", {"decision": "return", "comment": "请补充研修简报"}
                ).status_code == 302
    switch(client, "officer1")
    again = client.get(f"/inbox/tasks/{task_of(instance, COMPILE).id}").get_data(as_text=True)
    assert "请补充研修简报" in again and "学校总结" in again


def test_closing_before_the_deadline_is_refused_on_the_page(client, db, people):
    instance = launch(people, datetime.now(CST) + timedelta(days=3))
    client.login("officer1")
    response = post(client, f"/summaries/instances/{instance.id}/close", {})
    assert response.status_code == 302
    page = client.get(f"/summaries/instances/{instance.id}").get_data(as_text=True)
    assert "has not passed" in page
    switch(client, "tch2")
    assert client.get(f"/summaries/instances/{instance.id}").status_code == 404  # a teacher sees their own only


def test_the_officer_finds_the_collection_page_from_the_navigation(client, db, people):
    instance = launch(people)
    client.login("officer1")
    assert 'href="/summaries/school"' in client.get("/").get_data(as_text=True)
    listing = client.get("/summaries/school").get_data(as_text=True)
    assert f'href="/summaries/instances/{instance.id}"' in listing
