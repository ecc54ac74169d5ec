"""Races on one application (PostgreSQL row locks): a double submit from two tabs creates one application,
and a withdrawal racing a review leaves one consistent outcome."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.services.test_applications import DIAGRAM, PDF, RULES, values

pytestmark = [pytest.mark.committed,
              pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)")]


@pytest.fixture
def setting(app, committed, tmp_path: Path, monkeypatch):
    from webapp.extensions import db
    from webapp.models import Role
    from webapp.services import definitions, rules
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    monkeypatch.setitem(app.config["YANXUN"], "EVIDENCE_DIR", str(tmp_path / "evidence"))
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(RULES, encoding="utf-8")
    rules.load_rule_files([rule_file])
    definitions.deploy({DIAGRAM.name: DIAGRAM.read_bytes()}, None)
    city = create_org(code="C1", name="测试市", type="city")
    school = create_org(code="C1-S", name="测试学校", type="school", parent=city)
    teacher = create_user(login="race_teacher", password="Passw0rd!x", display_name="教师", org=school)
    assign_role(teacher, Role.TEACHER, school)
    officer = create_user(login="race_officer", password="Passw0rd!x", display_name="专干", org=school)
    assign_role(officer, Role.SCHOOL_OFFICER, school)
    db.session.commit()
    ids = {"teacher": teacher.id, "officer": officer.id}
    db.session.remove()
    return ids


def run_together(app, actions):
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(action):
        barrier.wait()
        with app.app_context():
            from webapp.extensions import db
            from webapp.services.errors import ServiceError

            try:
                outcome = action()
                db.session.commit()
            except ServiceError as error:
                db.session.rollback()
                outcome = type(error).__name__
            except Exception as error:  # a bug: keep it for the assertion message
                db.session.rollback()
                outcome = f"error: {type(error).__name__}: {error}"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_double_submit_from_two_tabs_creates_one_application(app, setting):
    from webapp.extensions import db
    from webapp.models import User
    from webapp.processes.credit_application import applications
    from webapp.processes.credit_application.models import Application

    def submit():
        teacher = db.session.get(User, setting["teacher"])
        return applications.submit(teacher, values(), [applications.Upload("c.pdf", PDF)]).id

    outcomes = run_together(app, [submit] * 4)
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int), outcomes
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == 1


def test_withdraw_racing_the_final_review(app, setting):
    from webapp.extensions import db
    from webapp.models import CreditEntry, User
    from webapp.processes.credit_application import applications
    from webapp.processes.credit_application.models import Application, ApplicationStatus

    with app.app_context():
        teacher = db.session.get(User, setting["teacher"])
        application_id = applications.submit(teacher, values(category="school_based", item_code="open_lesson",
                                                             hours_requested=4, end_date=date(2026, 10, 5)),
                                             [applications.Upload("c.pdf", PDF)]).id
        db.session.commit()

    def withdraw():
        application = db.session.get(Application, application_id)
        applications.withdraw(application, db.session.get(User, setting["teacher"]))
        return "withdrawn"

    def approve():
        application = db.session.get(Application, application_id)
        task = applications.open_task(application)
        applications.review(task, db.session.get(User, setting["officer"]), "approve", 4, "")
        return "approved"

    outcomes = run_together(app, [withdraw, approve])
    assert sorted(outcomes) in (["Conflict", "withdrawn"], ["Conflict", "approved"]), outcomes
    db.session.remove()
    application = db.session.get(Application, application_id)
    entries = db.session.scalar(sa.select(sa.func.count()).select_from(CreditEntry))
    if "approved" in outcomes:
        assert (application.status, entries) == (ApplicationStatus.RECOGNISED, 1)
    else:
        assert (application.status, entries) == (ApplicationStatus.WITHDRAWN, 0)
