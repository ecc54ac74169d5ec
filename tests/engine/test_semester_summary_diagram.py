"""workflows/semester_summary on the bare engine (no Flask): it deploys clean, has DI for every element, and runs
every path as Camunda 7 would: everyone submits; the school closes the collection with the message; the principal
returns; the county returns, then accepts. A fake ``campaign.remind`` records the reminders.

The seeds ask for it: [000] 第26条 "学校每学年都应进行校本培训工作的总结和自查"; [003] 七.3(3)
"集团总校、各学校做好网络研修、校本研修学期总结工作".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

from webapp.engine import ServiceCall, ServiceRegistry, WorkflowRuntime, check_definition

DIAGRAM = Path(__file__).resolve().parents[2] / "workflows" / "semester_summary" / "semester_summary.bpmn"
TOPICS = frozenset({"campaign.remind"})
FORM_KEYS = frozenset({"summary.personal", "summary.subgroup", "summary.compile", "summary.sign",
                       "summary.county_review"})
ROLES = frozenset({"teacher", "subgroup_leader", "school_officer", "principal", "county_officer"})
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
T0 = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


def files() -> dict[str, bytes]:
    return {DIAGRAM.name: DIAGRAM.read_bytes()}


def test_checks_clean_without_warnings() -> None:
    report = check_definition(files(), known_roles=ROLES, known_topics=TOPICS, known_form_keys=FORM_KEYS)
    assert [str(p) for p in report.problems] == []
    assert list(report.definitions) == ["semester_summary"]


def test_every_element_and_flow_has_di_and_lanes_name_roles() -> None:
    root = ET.parse(DIAGRAM).getroot()  # noqa: S314 (our own file)
    process = root.find(f"{BPMN}process")
    assert (process.get("id"), process.get("name"), process.get("isExecutable")) == (
        "semester_summary", "学期总结与自查", "true")
    ids = {el.get("id") for el in process.iter() if el.get("id") and el.tag not in (
        f"{BPMN}process", f"{BPMN}laneSet", f"{BPMN}conditionExpression", f"{BPMN}timerEventDefinition",
        f"{BPMN}messageEventDefinition", f"{BPMN}documentation")}
    ids.add(root.find(f"{BPMN}collaboration/{BPMN}participant").get("id"))
    drawn = {el.get("bpmnElement") for el in root.iter() if el.tag in (f"{DI}BPMNShape", f"{DI}BPMNEdge")}
    assert ids - drawn == set()
    lanes = {lane.get("id"): lane.get("name") for lane in process.iter(f"{BPMN}lane")}
    assert lanes == {"Lane_teacher": "教师", "Lane_subgroup_leader": "教研组长", "Lane_school_officer": "学校师训专干",
                     "Lane_principal": "校长", "Lane_county_officer": "县区研培中心"}


def moment(days: float) -> str:
    """An ISO date-time with its offset, as the campaign passes deadlines (+08:00 there; UTC here)."""
    return (T0 + timedelta(days=days)).isoformat()


class Run:
    """The diagram on the bare engine, started as the campaign starts it."""

    def __init__(self, teachers: list[str], subgroups: list[dict[str, str]]) -> None:
        self.calls: list[ServiceCall] = []
        registry = ServiceRegistry()
        registry.register("campaign.remind", lambda call: self.calls.append(call) or None)
        self.runtime = WorkflowRuntime(registry)
        report = check_definition(files(), known_roles=ROLES, known_topics=TOPICS, known_form_keys=FORM_KEYS)
        self.spec = report.definitions["semester_summary"].spec_json
        data = {"campaign_id": 1, "period": "2026-2027-1", "period_start": "2026-09-01", "period_end": "2027-01-31",
                "teachers": teachers, "subgroups": subgroups}
        for offset, stage in enumerate(("personal", "subgroup", "school")):
            deadline = 10 * (offset + 1)
            data[f"{stage}_deadline"] = moment(deadline)
            data[f"{stage}_remind_at"] = moment(deadline - 3)
            data[f"{stage}_overdue_at"] = moment(deadline + 1)
        self.workflow = self.runtime.start(self.spec, data, initiator="county1", now=T0)

    def ready(self) -> list:
        return sorted(self.runtime.ready_user_tasks(self.workflow), key=lambda t: (t.bpmn_id, t.assignee or ""))

    def reload(self) -> None:
        state, _ = self.runtime.dump(self.workflow)
        self.workflow = self.runtime.load(self.spec, state)

    def complete(self, bpmn_id: str, data: dict[str, object], assignee: str | None = None) -> None:
        [task] = [t for t in self.ready() if t.bpmn_id == bpmn_id and (assignee is None or t.assignee == assignee)]
        self.runtime.complete_user_task(self.workflow, task.task_id, data, now=T0)
        self.reload()

    def tick(self, days: float) -> None:
        self.runtime.tick(self.workflow, T0 + timedelta(days=days))
        self.reload()

    def reminders(self) -> list[tuple[str, str]]:
        return [(call.inputs["stage"], call.inputs["when"]) for call in self.calls]


def test_everyone_submits_then_signed_and_accepted() -> None:
    run = Run(["t1", "t2"], [{"code": "MATH", "name": "数学组", "leader": "l1"}])
    personal = run.ready()
    assert [(t.bpmn_id, t.assignee, t.form_key) for t in personal] == [
        ("PersonalSummary", "t1", "summary.personal"), ("PersonalSummary", "t2", "summary.personal")]
    assert personal[0].due_at == T0 + timedelta(days=10)
    assert run.runtime.waiting_messages(run.workflow) == ["summary.close_collection"]
    run.complete("PersonalSummary", {"withdrawn": False}, "t1")
    run.complete("PersonalSummary", {"withdrawn": False}, "t2")
    [subgroup] = run.ready()
    assert (subgroup.bpmn_id, subgroup.assignee, subgroup.due_at) == ("SubgroupSummary", "l1", T0 + timedelta(days=20))
    run.complete("SubgroupSummary", {})
    [compile_] = run.ready()
    assert (compile_.bpmn_id, compile_.role_codes, compile_.form_key) == (
        "SchoolCompile", ["school_officer"], "summary.compile")
    run.complete("SchoolCompile", {})
    [sign] = run.ready()
    assert (sign.bpmn_id, sign.role_codes) == ("PrincipalSign", ["principal"])
    run.complete("PrincipalSign", {"signed": True})
    [review] = run.ready()
    assert (review.bpmn_id, review.role_codes, review.due_at) == ("CountyReview", ["county_officer"], None)
    run.complete("CountyReview", {"accepted": True})
    assert run.runtime.is_completed(run.workflow)
    assert run.reminders() == []


def test_reminders_fire_at_the_dates_the_campaign_gave_and_the_task_stays_open() -> None:
    run = Run(["t1"], [])
    run.tick(6.9)
    assert run.reminders() == []
    run.tick(7.01)  # (the engine fires a timeDate timer just after its moment, not at it)
    assert run.reminders() == [("personal", "before")]
    run.tick(11.01)
    assert run.reminders() == [("personal", "before"), ("personal", "overdue")]
    assert [t.bpmn_id for t in run.ready()] == ["PersonalSummary"]


def test_closing_the_collection_cancels_the_open_summaries_and_an_empty_subgroup_list_passes_through() -> None:
    """截止收集: the message ends the open personal summaries; with no subgroup led, the school compiles next."""
    run = Run(["t1", "t2", "t3"], [])
    run.complete("PersonalSummary", {"withdrawn": False}, "t1")
    run.runtime.send_message(run.workflow, "summary.close_collection", {}, now=T0)
    run.reload()
    assert [t.bpmn_id for t in run.ready()] == ["SchoolCompile"]
    run.tick(30)  # the personal reminders went with the cancelled activity
    assert ("personal", "before") not in run.reminders()


def test_a_withdrawn_teacher_does_not_hold_up_the_others() -> None:
    run = Run(["t1", "t2"], [{"code": "MATH", "name": "数学组", "leader": "l1"},
                             {"code": "CHN", "name": "语文组", "leader": "l2"}])
    run.complete("PersonalSummary", {"withdrawn": True}, "t2")
    run.complete("PersonalSummary", {"withdrawn": False}, "t1")
    assert [(t.bpmn_id, t.assignee) for t in run.ready()] == [("SubgroupSummary", "l1"), ("SubgroupSummary", "l2")]


def test_the_principal_and_then_the_county_return_it_to_the_school() -> None:
    run = Run(["t1"], [])
    run.complete("PersonalSummary", {}, "t1")
    run.complete("SchoolCompile", {})
    run.complete("PrincipalSign", {"signed": False, "comment": "自查第三项补充材料"})
    assert [t.bpmn_id for t in run.ready()] == ["SchoolCompile"]
    run.complete("SchoolCompile", {})
    run.complete("PrincipalSign", {"signed": True})
    run.complete("CountyReview", {"accepted": False, "comment": "研修简报不足2期"})
    assert [t.bpmn_id for t in run.ready()] == ["SchoolCompile"]
    run.complete("SchoolCompile", {})
    run.complete("PrincipalSign", {"signed": True})
    run.complete("CountyReview", {"accepted": True})
    assert run.runtime.is_completed(run.workflow)


def test_the_instance_says_when_its_first_timedate_timer_is_due() -> None:
    """The reminder is the earliest of the waiting timeDate timers: the tick finds the instance then."""
    run = Run(["t1"], [])
    assert run.runtime.next_timer_at(run.workflow) == T0 + timedelta(days=7)
