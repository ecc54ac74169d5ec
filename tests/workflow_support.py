"""Shared by the workflow tests: the test diagram, its service handler and a small routed region."""

from __future__ import annotations

import os
from pathlib import Path

from webapp.services.runtime import services

DIAGRAMS = Path(__file__).resolve().parent / "web" / "diagrams"
HOURS_REVIEW = DIAGRAMS / "hours_review.bpmn"
#: ``hours`` that make the check handler fail, to exercise incidents.
FAILING_HOURS = 13


def check_hours(call):
    if call.inputs.get("requested") == FAILING_HOURS:
        raise ConnectionError("rule service unreachable")
    return {"hours_ok": call.inputs.get("requested", 0) <= 40}


if "test.check_hours" not in services:
    services.register("test.check_hours", check_hours)


def hours_review_files() -> dict[str, bytes]:
    return {HOURS_REVIEW.name: HOURS_REVIEW.read_bytes()}


#: Nested internal entities: a few hundred bytes that expand to 10^9 ("billion laughs").
LAUGHS = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 10))


def with_entity(declarations: str, reference: str = "&x;") -> bytes:
    """hours_review.bpmn with a DOCTYPE (line 2) declaring ``declarations`` and ``reference`` in a documentation
    element's text."""
    text = HOURS_REVIEW.read_text(encoding="utf-8")
    head, rest = text.split("\n", 1)
    rest = rest.replace("<bpmn:documentation>请核对", f"<bpmn:documentation>{reference}请核对", 1)
    return f"{head}\n<!DOCTYPE bpmn:definitions [{declarations}]>\n{rest}".encode()


#: The same check as an async topic: the task waits for a worker. Tests set ``failures`` to make the next
#: that many calls fail (a flaky rule service) and read ``calls``.
ASYNC_TOPIC = "test.check_hours_later"
async_check = {"failures": 0, "calls": 0}


#: In a worker process started by a test: while the file named here exists, the rule service is "down".
SERVICE_DOWN_FILE = "TEST_SERVICE_DOWN_FILE"


def check_hours_later(call):
    async_check["calls"] += 1
    down = os.environ.get(SERVICE_DOWN_FILE)
    if down and Path(down).exists():
        raise ConnectionError("rule service unreachable (test switch)")
    if async_check["failures"] > 0:
        async_check["failures"] -= 1
        raise TimeoutError("rule service timed out")
    if async_check.get("bad_result"):
        return "not a mapping"  # the process cannot store it (no resultVariable): the step after the call fails
    return check_hours(call)


if ASYNC_TOPIC not in services:
    services.register(ASYNC_TOPIC, check_hours_later, is_async=True)


def hours_review_async_files() -> dict[str, bytes]:
    """``hours_review`` whose check runs on a worker (process id ``hours_review_async``)."""
    xml = HOURS_REVIEW.read_bytes()
    for old, new in ((b'camunda:topic="test.check_hours"', f'camunda:topic="{ASYNC_TOPIC}"'.encode()),
                     (b'"hours_review"', b'"hours_review_async"')):
        assert old in xml, old
        xml = xml.replace(old, new)
    return {"hours_review_async.bpmn": xml}


def review_waiting_for(officer_count: int, prefix: str):
    """Commit a school with a teacher and ``officer_count`` school officers, and an hours_review instance
    whose review task waits for them; returns (instance id, review task id, officers)."""
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import HumanTask, Role, TaskStatus
    from webapp.services import definitions, instances, tasks
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code=f"{prefix}-C", name=f"{prefix}市", type="city")
    school = create_org(code=f"{prefix}-S", name=f"{prefix}学校", type="school", parent=city)
    teacher = create_user(login=f"{prefix}_teacher".lower(), password="Passw0rd!x", display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    officers = []
    for n in range(officer_count):
        officer = create_user(login=f"{prefix}_officer{n:02d}".lower(), password="Passw0rd!x",
                              display_name=f"专干{n}")
        assign_role(officer, Role.SCHOOL_OFFICER, school)
        officers.append(officer)
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=school, initiator=teacher)
    db.session.commit()
    submit_task = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
    instances.complete_task(submit_task, teacher, {"title": "并发测试", "hours": 8}, tasks.authorise_complete)
    db.session.commit()
    review_id = db.session.scalar(sa.select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                              HumanTask.status == TaskStatus.OPEN))
    return instance.id, review_id, officers
