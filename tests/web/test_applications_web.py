"""The application pages and the review on the task page, through the Flask client (users read English)."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from tests.services.test_applications import PDF, PNG, chain, evidence_dir  # noqa: F401  (fixtures)
from webapp.models import HumanTask, TaskStatus
from webapp.processes.credit_application.models import Application, ApplicationStatus


@pytest.fixture
def people(chain, db):  # noqa: F811
    for user in chain.values():
        user.locale = "en"
    db.session.commit()
    return chain


def form(**overrides):
    data = {"category": "online", "item_code": "remote_course", "level": "province", "organiser": "省教育厅",
            "start_date": "2026-10-01", "end_date": "2026-10-05", "hours_requested": "30", "description": "远程研修"}
    data.update(overrides)
    return data


def files(*items):
    return [(io.BytesIO(data), name) for name, data in items]


def submit(client, **overrides):
    payload = form(**overrides)
    payload.setdefault("evidence", files(("certificate.pdf", PDF)))
    payload["csrf_token"] = client.csrf_token("/applications/new")
    return client.post("/applications/new", data=payload, content_type="multipart/form-data")


def count(db):
    return db.session.scalar(sa.select(sa.func.count()).select_from(Application))


def open_task(db, application_id):
    return db.session.scalar(sa.select(HumanTask).join(Application, Application.instance_id == HumanTask.instance_id)
                             .where(Application.id == application_id, HumanTask.status == TaskStatus.OPEN))


def test_apply_with_evidence_and_see_it(client, db, people):
    client.login("teacher1")
    page = client.get("/applications/new").get_data(as_text=True)
    assert "Apply for credit hours" in page and "远程研修课程" in page and 'accept=".pdf,.jpg,.png,.docx"' in page
    response = submit(client, evidence=files(("certificate.pdf", PDF), ("photo.png", PNG)))
    assert response.status_code == 302
    application = db.session.scalar(sa.select(Application))
    assert response.headers["Location"].endswith(f"/applications/{application.id}")
    shown = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "Under review" in shown and "certificate.pdf" in shown and "photo.png" in shown and "Withdraw" in shown
    pdf = client.get(f"/applications/{application.id}/evidence/{application.evidence[0].id}")
    assert pdf.status_code == 200 and pdf.data == PDF and pdf.mimetype == "application/pdf"
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    pdf.close()
    listing = client.get("/applications/").get_data(as_text=True)
    assert "省教育厅" in listing


@pytest.mark.parametrize(("name", "data", "message"), [
    ("huge.pdf", PDF + b"x" * 500, "is larger than"),
    ("virus.exe", b"MZ\x90\x00", "only these file types are accepted"),
    ("renamed.png", b"GIF89a", "is not a real PNG file"),
])
def test_bad_files_are_refused_and_nothing_is_saved(client, db, people, app, monkeypatch, evidence_dir,  # noqa: F811
                                                    name, data, message):
    monkeypatch.setitem(app.config["YANXUN"], "EVIDENCE_MAX_BYTES", 200)
    client.login("teacher1")
    response = submit(client, evidence=files((name, data)))
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert message in text and name in text
    assert 'value="省教育厅"' in text, "what the teacher typed is kept"
    assert count(db) == 0
    assert not evidence_dir.exists() or not any(p.is_file() for p in evidence_dir.rglob("*"))


def test_missing_fields_are_reported(client, db, people):
    client.login("teacher1")
    response = submit(client, organiser="", hours_requested="0", end_date="2026-09-01", evidence=[])
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Name the organiser." in text and "The end date must not be before the start date." in text
    assert count(db) == 0


def test_double_submit_is_harmless(client, db, people):
    client.login("teacher1")
    first = submit(client)
    second = submit(client)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert count(db) == 1


def test_task_page_shows_the_application_and_takes_the_review(client, db, people):
    client.login("teacher1")
    submit(client, evidence=files(("certificate.pdf", PDF), ("photo.png", PNG)))
    application = db.session.scalar(sa.select(Application))
    task = open_task(db, application.id)
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})

    client.login("leader1")
    page = client.get(f"/inbox/tasks/{task.id}").get_data(as_text=True)
    assert "省教育厅" in page and "certificate.pdf" in page and "<img" in page and 'name="decision"' in page
    assert 'max="30"' in page
    token = client.csrf_token(f"/inbox/tasks/{task.id}")
    fewer = client.post(f"/inbox/tasks/{task.id}", data={"decision": "approve", "approved_hours": "20",
                                                          "comment": "", "csrf_token": token})
    assert fewer.status_code == 400
    assert "Give the reason for your decision." in fewer.get_data(as_text=True)
    done = client.post(f"/inbox/tasks/{task.id}", data={"decision": "approve", "approved_hours": "20",
                                                         "comment": "证书只写20学时", "csrf_token": token})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, application.id).hours_approved == 20
    assert open_task(db, application.id).bpmn_id == "school_review"


def test_outsiders_get_404_everywhere(client, db, people):
    client.login("teacher1")
    submit(client)
    application = db.session.scalar(sa.select(Application))
    task = open_task(db, application.id)
    evidence_id = application.evidence[0].id
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    for login in ("teacher2", "leader2", "officer2", "county2"):
        client.login(login)
        assert client.get(f"/applications/{application.id}").status_code == 404
        assert client.get(f"/applications/{application.id}/evidence/{evidence_id}").status_code == 404
        assert client.get(f"/inbox/tasks/{task.id}").status_code == 404
        token = client.csrf_token("/inbox/")
        assert client.post(f"/applications/{application.id}/withdraw", data={"csrf_token": token}).status_code == 404
        client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    assert db.session.get(Application, application.id).status is ApplicationStatus.SUBMITTED


def test_return_revise_and_withdraw(client, db, people):
    client.login("teacher1")
    submit(client)
    application = db.session.scalar(sa.select(Application))
    task = open_task(db, application.id)
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    client.login("leader1")
    token = client.csrf_token(f"/inbox/tasks/{task.id}")
    returned = client.post(f"/inbox/tasks/{task.id}", data={"decision": "return", "comment": "请补充签到表",
                                                             "csrf_token": token})
    assert returned.status_code == 302
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})

    client.login("teacher1")
    revise = open_task(db, application.id)
    page = client.get(f"/inbox/tasks/{revise.id}").get_data(as_text=True)
    assert "Revise and resubmit" in page and "请补充签到表" in page
    edit = client.get(f"/applications/{application.id}/edit").get_data(as_text=True)
    assert "请补充签到表" in edit and "certificate.pdf" in edit
    payload = form(hours_requested="28")
    payload["evidence"] = files(("sign-in.png", PNG))
    payload["csrf_token"] = client.csrf_token(f"/applications/{application.id}/edit")
    resubmitted = client.post(f"/applications/{application.id}/edit", data=payload, content_type="multipart/form-data")
    assert resubmitted.status_code == 302
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    assert application.status is ApplicationStatus.SUBMITTED and len(application.evidence) == 2
    assert open_task(db, application.id).bpmn_id == "leader_review"

    withdrawn = client.post(f"/applications/{application.id}/withdraw",
                            data={"csrf_token": client.csrf_token(f"/applications/{application.id}")})
    assert withdrawn.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, application.id).status is ApplicationStatus.WITHDRAWN
    assert open_task(db, application.id) is None


def test_the_application_page_shows_each_decision_in_words(client, db, people):
    """The record says who decided what (with the hours and the comment), by step names, never by BPMN ids."""
    client.login("teacher1")
    submit(client)
    application = db.session.scalar(sa.select(Application))
    task = open_task(db, application.id)
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    client.login("leader1")
    token = client.csrf_token(f"/inbox/tasks/{task.id}")
    client.post(f"/inbox/tasks/{task.id}", data={"decision": "approve", "approved_hours": "20",
                                                 "comment": "证书只写20学时", "csrf_token": token})
    client.post_form("/auth/logout", {"csrf_token": client.csrf_token("/inbox/")})
    client.login("teacher1")
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert task.name in page and "Approved" in page and "证书只写20学时" in page
    assert "Asked 30 hours → approved 20 hours" in page, "the changed value, as the timeline says it"
    assert "Submitted the application" in page
    assert page.count(task.name) == 1, "the step's name on its completion only"
    for code in ("leader_review", "application.submit", "task.complete"):
        assert code not in page
