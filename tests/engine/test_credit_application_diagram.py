"""workflows/credit_application: deploys clean, has DI for every element, and routes as documented
(engine only, fake handlers standing in for the credit.* topics)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from webapp.engine import ServiceCall, ServiceRegistry, WorkflowRuntime, check_definition

DIAGRAM = Path(__file__).resolve().parents[2] / "workflows" / "credit_application" / "credit_application.bpmn"
TOPICS = frozenset({"credit.check", "credit.post", "credit.notify"})
FORM_KEYS = frozenset({"credit.application", "credit.review"})
ROLES = frozenset({"teacher", "subgroup_leader", "school_officer", "county_officer", "bureau_officer"})
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def files() -> dict[str, bytes]:
    return {DIAGRAM.name: DIAGRAM.read_bytes()}


def test_checks_clean_with_the_contract_topics_roles_and_forms() -> None:
    report = check_definition(files(), known_roles=ROLES, known_topics=TOPICS, known_form_keys=FORM_KEYS)
    assert [str(p) for p in report.problems] == []
    assert list(report.definitions) == ["credit_application"]


def test_checks_clean_through_the_application_registry(app) -> None:
    """With the app's registry (the process package registers its service topics at app start)."""
    from webapp.services import definitions

    report = definitions.check(files())
    assert [str(p) for p in report.problems] == []


def test_every_element_and_flow_has_di_and_lanes_name_roles() -> None:
    root = ET.parse(DIAGRAM).getroot()  # noqa: S314 (our own file)
    process = root.find(f"{BPMN}process")
    ids = {el.get("id") for el in process.iter() if el.get("id") and el.tag not in (
        f"{BPMN}process", f"{BPMN}laneSet", f"{BPMN}conditionExpression", f"{BPMN}timerEventDefinition",
        f"{BPMN}documentation")}
    ids.add(root.find(f"{BPMN}collaboration/{BPMN}participant").get("id"))
    drawn = {el.get("bpmnElement") for el in root.iter() if el.tag in (f"{DI}BPMNShape", f"{DI}BPMNEdge")}
    assert ids - drawn == set()
    lanes = {lane.get("id") for lane in process.iter(f"{BPMN}lane")}
    assert lanes == {"Lane_teacher", "Lane_subgroup_leader", "Lane_school_officer", "Lane_county_officer"}


class Run:
    """The diagram on the bare engine; handlers record their calls and answer as told."""

    def __init__(self, check_results: list[bool], *, needs_leader: bool = True, needs_county: bool = True) -> None:
        self.needs_county = needs_county
        self.calls: list[ServiceCall] = []
        self.check_results = list(check_results)
        registry = ServiceRegistry()
        registry.register("credit.check", self.check)
        registry.register("credit.post", lambda call: self.calls.append(call) or {"credit_entry_id": 1})
        registry.register("credit.notify", lambda call: self.calls.append(call) or None)
        self.runtime = WorkflowRuntime(registry)
        report = check_definition(files(), known_roles=ROLES, known_topics=TOPICS, known_form_keys=FORM_KEYS)
        self.spec = report.definitions["credit_application"].spec_json
        self.workflow = self.runtime.start(self.spec, {
            "application_id": 7, "category": "online", "item": "remote_course", "hours": 30.0,
            "needs_leader": needs_leader,
            "needs_county": True, "reminder_after": "P3D", "escalate_after": "P7D"}, initiator="t1", now=T0)

    def check(self, call: ServiceCall) -> dict[str, object]:
        self.calls.append(call)
        ok = self.check_results.pop(0)
        return {"check_ok": ok, "check_problems": [] if ok else ["duplicate"], "needs_county": self.needs_county}

    def task(self):
        [task] = self.runtime.ready_user_tasks(self.workflow)
        return task

    def complete(self, bpmn_id: str, data: dict[str, object]) -> None:
        task = self.task()
        assert task.bpmn_id == bpmn_id
        self.runtime.complete_user_task(self.workflow, task.task_id, data, now=T0)
        state, _ = self.runtime.dump(self.workflow)
        self.workflow = self.runtime.load(self.spec, state)

    def events(self) -> list[str]:
        return [call.inputs.get("event", call.topic) for call in self.calls]


def approve(hours: float = 30) -> dict[str, object]:
    return {"decision": "approve", "approved_hours": hours, "comment": "", "last_reviewer": "r"}


def test_failed_check_returns_then_the_whole_chain_recognises() -> None:
    run = Run([False, True])
    revise = run.task()
    assert (revise.bpmn_id, revise.assignee, revise.form_key) == ("revise", "t1", "credit.application")
    assert run.events() == ["credit.check", "returned"]
    run.complete("revise", {"hours": 30.0})
    leader = run.task()
    assert (leader.role_codes, leader.form_key, leader.due_at) == (["subgroup_leader"], "credit.review",
                                                                   T0 + timedelta(days=3))
    run.complete("leader_review", approve())
    assert run.task().role_codes == ["school_officer"]
    run.complete("school_review", approve(24))
    assert run.task().role_codes == ["county_officer"]
    run.complete("county_review", approve(24))
    assert run.runtime.is_completed(run.workflow)
    assert run.events()[-2:] == ["credit.post", "recognised"]
    assert run.workflow.data["leader_decision"] == "approve" and run.workflow.data["school_hours"] == 24


@pytest.mark.parametrize(("level", "decision", "expected"), [
    ("leader_review", "return", "revise"), ("leader_review", "reject", None),
])
def test_return_and_reject(level: str, decision: str, expected: str | None) -> None:
    run = Run([True])
    run.complete(level, {"decision": decision, "approved_hours": 0, "comment": "x", "last_reviewer": "r"})
    if expected:
        assert run.task().bpmn_id == expected and run.events()[-1] == "returned"
    else:
        assert run.runtime.is_completed(run.workflow) and run.events()[-1] == "rejected"


def test_school_recognises_school_based_without_leader_or_county() -> None:
    run = Run([True], needs_leader=False, needs_county=False)
    assert run.task().bpmn_id == "school_review"
    run.complete("school_review", approve(4))
    assert run.runtime.is_completed(run.workflow)
    assert run.events()[-2:] == ["credit.post", "recognised"]


def test_county_can_return_after_the_school_approved() -> None:
    run = Run([True, True])
    run.complete("leader_review", approve())
    run.complete("school_review", approve())
    run.complete("county_review", {"decision": "return", "approved_hours": 0, "comment": "证书不清",
                                   "last_reviewer": "c"})
    assert run.task().bpmn_id == "revise"
    run.complete("revise", {"hours": 30.0})
    assert run.task().bpmn_id == "leader_review", "a resubmission goes through the whole chain again"


def test_reminder_and_escalation_timers_keep_the_review_open() -> None:
    run = Run([True])
    run.runtime.tick(run.workflow, now=T0 + timedelta(days=3, minutes=1))
    assert run.task().bpmn_id == "leader_review"
    run.runtime.tick(run.workflow, now=T0 + timedelta(days=7, minutes=1))
    assert run.task().bpmn_id == "leader_review"
    notified = [(c.inputs["event"], c.inputs["role"]) for c in run.calls if c.topic == "credit.notify"]
    assert notified == [("reminder", "subgroup_leader"), ("escalation", "school_officer")]
