"""A step that runs out of its budget ends in an incident on that instance only, everywhere it can happen:
a start, a completion in the web, a timer tick; opening a task runs no designer's code (hardening issue 1–2)."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.engine.engine_support import process_xml, script_node
from tests.workflow_support import HOURS_REVIEW
from webapp.engine import BudgetExceeded, Limits
from webapp.engine import budget as engine_budget
from webapp.models import HumanTask, Incident, InstanceStatus, ProcessInstance, Role, TaskStatus
from webapp.services import definitions, instances, tasks
from webapp.services.runtime import get_runtime

BUDGET = 1.0
LOOP = "n = 1\nwhile n > 0:\n    pass"


@pytest.fixture
def small_budget():
    runtime = get_runtime()
    before = runtime.limits
    runtime.limits = Limits(seconds=BUDGET, memory_mb=200, data_kb=512, max_steps=300)
    yield
    runtime.limits = before


def deploy_looping(key: str, *, after_form: bool) -> None:
    form = ('<bpmn:extensionElements><camunda:formData><camunda:formField id="note" label="说明" type="string" />'
            "</camunda:formData></bpmn:extensionElements>")
    nodes = [("startEvent", "start", "", "")]
    if after_form:
        nodes.append(("userTask", "fill", 'name="填写" camunda:assignee="${initiator}"', form))
    nodes += [script_node("spin", LOOP, "空转"), ("endEvent", "end", "", "")]
    ids = [node[1] for node in nodes]
    xml = process_xml(key, nodes, list(zip(ids, ids[1:], [None] * len(ids), strict=False)))
    definitions.deploy({f"{key}.bpmn": xml.encode()}, None)


def test_a_looping_first_step_fails_the_start_within_the_budget(db, region, make_user, small_budget):
    teacher = make_user("budget_t1", org=region["school"], roles=((Role.TEACHER, region["school"]),))
    deploy_looping("loop_start", after_form=False)
    began = time.monotonic()
    with pytest.raises(instances.ActionFailed) as caught:
        instances.start("loop_start", subject_org=region["school"], initiator=teacher)
    assert time.monotonic() - began < BUDGET + 2
    assert isinstance(caught.value.error, BudgetExceeded) and caught.value.error.bpmn_id == "spin"


def test_a_looping_step_after_a_web_completion_stops_that_instance_only(app, db, region, make_user, small_budget):
    teacher = make_user("budget_t2", org=region["school"], roles=((Role.TEACHER, region["school"]),))
    deploy_looping("loop_after", after_form=True)
    looping = instances.start("loop_after", subject_org=region["school"], initiator=teacher, title="会空转")
    other = instances.start("loop_after", subject_org=region["school"], initiator=teacher, title="不受影响")
    db.session.commit()
    task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == looping.id))
    client = app.test_client()
    client.login("budget_t2")
    began = time.monotonic()
    response = client.post_form(f"/inbox/tasks/{task.id}", {"note": "提交", "csrf_token": client.csrf_token("/inbox/")})
    assert time.monotonic() - began < BUDGET + 3
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已通知管理员" in page and "budget_time" not in page and "while True" not in page
    db.session.expire_all()
    assert db.session.get(ProcessInstance, looping.id).status is InstanceStatus.INCIDENT
    (incident,) = db.session.scalars(sa.select(Incident).where(Incident.instance_id == looping.id))
    assert incident.bpmn_id == "spin" and incident.details["code"] == "budget_time"
    assert db.session.get(HumanTask, task.id).status is TaskStatus.OPEN, "the completion rolled back"
    assert db.session.get(ProcessInstance, other.id).status is InstanceStatus.RUNNING


def test_a_looping_timer_script_ends_in_an_incident_and_other_timers_still_fire(db, region, make_user,
                                                                                 small_budget):
    from webapp import jobs
    from webapp.engine import frozen_clock

    teacher = make_user("budget_t3", roles=((Role.TEACHER, region["school"]),))
    make_user("budget_o3", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    text = HOURS_REVIEW.read_bytes()
    start = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    ids = []
    for version, hours in ((text, 0), (text.replace(b"reminder_count = 1", LOOP.encode()), 1)):
        definitions.deploy({HOURS_REVIEW.name: version}, None)
        with frozen_clock(start + timedelta(hours=hours)):
            instance = instances.start("hours_review", subject_org=region["school"], initiator=teacher)
            submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
            instances.complete_task(submit, teacher, {"title": "提醒测试", "hours": 2}, tasks.authorise_complete)
        ids.append(instance.id)
    db.session.commit()
    began = time.monotonic()
    report = jobs.tick_timers(start + timedelta(days=7))
    assert time.monotonic() - began < BUDGET + 3
    assert report.fired == 1 and [instance_id for instance_id, _ in report.failures] == [ids[1]]
    assert db.session.get(ProcessInstance, ids[1]).status is InstanceStatus.INCIDENT
    (incident,) = db.session.scalars(sa.select(Incident).where(Incident.instance_id == ids[1]))
    assert incident.bpmn_id == "remind" and incident.details["code"] == "budget_time"
    assert jobs.tick_timers(start + timedelta(days=8)).failures == [], "a stopped instance is not picked again"


def test_opening_a_task_page_runs_no_designers_code(app, db, region, make_user, monkeypatch):
    teacher = make_user("budget_t4", org=region["school"], roles=((Role.TEACHER, region["school"]),))
    deploy_looping("loop_page", after_form=True)
    instance = instances.start("loop_page", subject_org=region["school"], initiator=teacher)
    db.session.commit()
    task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
    client = app.test_client()
    client.login("budget_t4")

    def refuse(*args, **kwargs):
        raise AssertionError("a GET ran code in the sandbox")

    monkeypatch.setattr(engine_budget.pool, "call", refuse)
    assert client.get(f"/inbox/tasks/{task.id}").status_code == 200


def test_healthz_reports_an_sqlite_write_lock_held_too_long(tmp_path):
    from webapp import create_app

    path = tmp_path / "busy.db"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "x" * 48, "TESTING": True,
                      "REDIS_URL": None, "TIMER_TICK_SECONDS": 0})
    assert app.test_client().get("/healthz").status_code == 200
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503 and "busy" in response.json["checks"]["database"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert app.test_client().get("/healthz").status_code == 200
