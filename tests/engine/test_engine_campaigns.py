"""Campaigns: one instance per school, per-stage deadlines held as process variables, extended while running.

``campaign_collection.bpmn`` is a parallel multi-instance user task (one per teacher) with a reminder and an
overdue timer (non-interrupting timeDate boundary events reading the deadline variables) and an interrupting
message boundary event that closes the collection early; both ways out meet at an exclusive gateway.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from engine_support import BEIJING, T0, check, diagram, mutate, process_xml

from webapp.engine import (
    CompiledDefinition,
    EngineError,
    ExpressionError,
    ServiceRegistry,
    StateInvalid,
    WorkflowRuntime,
    frozen_clock,
)

TOPICS = frozenset({"campaign.remind", "campaign.overdue"})
TEACHERS = ["wang", "li", "zhao"]
DEADLINE = datetime(2026, 3, 10, 18, 0, tzinfo=BEIJING)
REMIND_AT = datetime(2026, 3, 8, 9, 0, tzinfo=BEIJING)
OVERDUE_AT = datetime(2026, 3, 11, 18, 0, tzinfo=BEIJING)
EXTENDED = datetime(2026, 3, 17, 18, 0, tzinfo=BEIJING)


def stage_variables(deadline: datetime, remind_days: int = 2) -> dict[str, str]:
    """The stage's variables as the county's campaign page writes them (ISO strings, +08:00)."""
    return {"personal_deadline": deadline.isoformat(),
            "personal_remind_at": (deadline - timedelta(days=remind_days)).replace(hour=9).isoformat(),
            "personal_overdue_at": (deadline + timedelta(days=1)).isoformat()}


def compiled(files: dict[str, str]) -> CompiledDefinition:
    """The definition, which must pass the deploy check without a single warning."""
    report = check(files, topics=TOPICS)
    assert report.problems == [], [(p.code, p.message) for p in report.problems]
    [definition] = report.definitions.values()
    return definition


@pytest.fixture
def registry() -> ServiceRegistry:
    registry = ServiceRegistry()
    registry.register("campaign.remind", lambda call: None, is_async=True)
    registry.register("campaign.overdue", lambda call: None, is_async=True)
    return registry


def saved(runtime: WorkflowRuntime, spec_json: str, workflow: Any) -> Any:
    state, _version = runtime.dump(workflow)
    return runtime.load(spec_json, state)


def collection(runtime: WorkflowRuntime, teachers: list[str] = TEACHERS) -> tuple[str, Any]:
    spec_json = compiled({"campaign_collection.bpmn": diagram("campaign_collection.bpmn")}).spec_json
    workflow = runtime.start(spec_json, {"teachers": teachers, **stage_variables(DEADLINE)}, initiator="county1",
                             now=T0)
    return spec_json, workflow


def by_teacher(runtime: WorkflowRuntime, workflow: Any) -> dict[str, str]:
    tasks = runtime.ready_user_tasks(workflow)
    assert {t.bpmn_id for t in tasks} == {"personal_summary"}
    return {t.assignee: t.task_id for t in tasks}


def service_ids(runtime: WorkflowRuntime, workflow: Any) -> list[str]:
    return sorted(t.bpmn_id for t in runtime.started_service_tasks(workflow))


def passed(runtime: WorkflowRuntime, workflow: Any, bpmn_id: str) -> int:
    """How many times ``bpmn_id`` completed."""
    return sum(1 for h in runtime.history(workflow) if h.bpmn_id == bpmn_id and h.state == "COMPLETED")


# -- a. multi-instance with deadline timers and a closing message -----------------------------------------------

def test_each_teacher_gets_a_task_due_at_the_deadline_variable(runtime: WorkflowRuntime) -> None:
    _spec_json, workflow = collection(runtime)
    tasks = runtime.ready_user_tasks(workflow)
    assert sorted(t.assignee for t in tasks) == sorted(TEACHERS)
    assert {t.due_at for t in tasks} == {DEADLINE}
    assert sorted((t.local["loopCounter"], t.local["teacher"]) for t in tasks) == list(enumerate(TEACHERS))
    # the earliest waiting timer is the reminder (a timeDate timer: it was missing from next_timer_at before)
    assert runtime.next_timer_at(workflow) == REMIND_AT
    assert runtime.waiting_messages(workflow) == ["summary.close_collection"]


def test_the_reminder_fires_at_its_time_and_the_teachers_tasks_stay_open(runtime: WorkflowRuntime) -> None:
    spec_json, workflow = collection(runtime)
    runtime.tick(workflow, now=REMIND_AT - timedelta(minutes=1))
    assert service_ids(runtime, workflow) == []
    workflow = saved(runtime, spec_json, workflow)
    with frozen_clock(REMIND_AT + timedelta(minutes=1)):
        runtime.tick(workflow)
    assert service_ids(runtime, workflow) == ["send_reminder"]
    assert sorted(by_teacher(runtime, workflow)) == sorted(TEACHERS)  # non-interrupting
    assert runtime.next_timer_at(workflow) == OVERDUE_AT
    [reminder] = runtime.started_service_tasks(workflow)
    runtime.complete_service_task(workflow, reminder.task_id, now=REMIND_AT + timedelta(minutes=2))
    assert passed(runtime, workflow, "reminded") == 1
    assert len(by_teacher(runtime, workflow)) == 3
    runtime.tick(workflow, now=REMIND_AT + timedelta(days=1))  # a timeDate timer fires once
    assert service_ids(runtime, workflow) == []


def test_the_reminder_path_sees_what_finished_teachers_set(runtime: WorkflowRuntime) -> None:
    """As in Camunda 7, where a completed instance's variables are on the process when the timer fires."""
    _spec_json, workflow = collection(runtime)
    runtime.complete_user_task(workflow, by_teacher(runtime, workflow)["wang"], {"summary": "王的总结"}, now=T0)
    runtime.tick(workflow, now=REMIND_AT + timedelta(minutes=1))
    [reminder] = runtime.started_service_tasks(workflow)
    assert runtime.service_call(workflow, reminder.task_id).data["summary"] == "王的总结"
    assert sorted(by_teacher(runtime, workflow)) == ["li", "zhao"]


def test_extending_the_deadline_moves_due_dates_and_waiting_timers(runtime: WorkflowRuntime) -> None:
    spec_json, workflow = collection(runtime)
    workflow = saved(runtime, spec_json, workflow)
    with frozen_clock(T0 + timedelta(days=1)):
        moved = runtime.set_variables(workflow, stage_variables(EXTENDED))
    assert moved == ["remind", "overdue"]
    assert {t.due_at for t in runtime.ready_user_tasks(workflow)} == {EXTENDED}
    assert runtime.next_timer_at(workflow) == datetime(2026, 3, 15, 9, 0, tzinfo=BEIJING)
    assert runtime.variables(workflow)["personal_deadline"] == EXTENDED.isoformat()
    workflow = saved(runtime, spec_json, workflow)  # the new moments are stored with the instance
    runtime.tick(workflow, now=REMIND_AT + timedelta(hours=1))  # the old reminder time: nothing
    assert service_ids(runtime, workflow) == []
    runtime.tick(workflow, now=datetime(2026, 3, 15, 9, 1, tzinfo=BEIJING))
    assert service_ids(runtime, workflow) == ["send_reminder"]
    # extended again after the reminder: only the overdue timer still waits, and moves
    assert runtime.set_variables(workflow, stage_variables(EXTENDED + timedelta(days=3))) == ["overdue"]
    assert runtime.next_timer_at(workflow) == EXTENDED + timedelta(days=4)
    runtime.tick(workflow, now=EXTENDED + timedelta(days=2))  # the overdue time before this extension
    assert service_ids(runtime, workflow) == ["send_reminder"]
    assert {t.due_at for t in runtime.ready_user_tasks(workflow)} == {EXTENDED + timedelta(days=3)}


def test_a_timer_moved_into_the_past_fires_at_the_next_tick(runtime: WorkflowRuntime) -> None:
    _spec_json, workflow = collection(runtime)
    now = T0 + timedelta(days=1)
    with frozen_clock(now):
        assert runtime.set_variables(workflow, {"personal_remind_at": T0.isoformat()}) == ["remind", "overdue"]
    assert service_ids(runtime, workflow) == []  # nothing runs until the instance is ticked
    assert runtime.next_timer_at(workflow) == T0
    runtime.tick(workflow, now=now)
    assert service_ids(runtime, workflow) == ["send_reminder"]
    assert runtime.next_timer_at(workflow) == OVERDUE_AT


def test_the_closing_message_cancels_the_open_teacher_tasks_and_goes_on_once(runtime: WorkflowRuntime) -> None:
    spec_json, workflow = collection(runtime)
    runtime.complete_user_task(workflow, by_teacher(runtime, workflow)["li"], {"summary": "李的总结"}, now=T0)
    workflow = saved(runtime, spec_json, workflow)
    runtime.send_message(workflow, "summary.close_collection", now=T0 + timedelta(days=1))
    [review] = runtime.ready_user_tasks(workflow)
    assert review.bpmn_id == "school_review"
    assert runtime.next_timer_at(workflow) is None and runtime.waiting_messages(workflow) == []
    runtime.tick(workflow, now=OVERDUE_AT + timedelta(days=1))
    assert service_ids(runtime, workflow) == []
    runtime.complete_user_task(workflow, review.task_id, {}, now=T0)
    assert runtime.is_completed(workflow)
    assert passed(runtime, workflow, "collected") == 1 and passed(runtime, workflow, "school_review") == 1
    # li's instance completed, the activity was cancelled (SpiffWorkflow drops the open instances with it)
    assert [h.state for h in runtime.history(workflow) if h.bpmn_id == "personal_summary"] == [
        "COMPLETED", "CANCELLED"]
    assert runtime.variables(workflow)["summary"] == "李的总结"


def test_completing_every_teacher_task_goes_on_once_and_cancels_the_timers(runtime: WorkflowRuntime) -> None:
    spec_json, workflow = collection(runtime)
    for teacher, task_id in by_teacher(runtime, workflow).items():
        workflow = saved(runtime, spec_json, workflow)
        runtime.complete_user_task(workflow, task_id, {"summary": f"{teacher} 的总结"}, now=T0)
    [review] = runtime.ready_user_tasks(workflow)
    assert review.bpmn_id == "school_review"
    assert runtime.next_timer_at(workflow) is None and runtime.waiting_messages(workflow) == []
    assert runtime.set_variables(workflow, stage_variables(EXTENDED)) == []  # nothing left to move
    runtime.tick(workflow, now=OVERDUE_AT + timedelta(days=30))
    assert service_ids(runtime, workflow) == []
    runtime.complete_user_task(workflow, review.task_id, {}, now=T0)
    assert runtime.is_completed(workflow)
    assert passed(runtime, workflow, "collected") == 1
    assert passed(runtime, workflow, "personal_summary") == 3 + 1  # the instances and the activity
    assert passed(runtime, workflow, "send_reminder") == 0 and passed(runtime, workflow, "report_overdue") == 0


# -- c. a teacher who left ---------------------------------------------------------------------------------------

def test_a_withdrawn_teacher_task_counts_as_done_and_the_rest_go_on(runtime: WorkflowRuntime) -> None:
    spec_json, workflow = collection(runtime)
    tasks = by_teacher(runtime, workflow)
    runtime.complete_user_task(workflow, tasks["zhao"], {"withdrawn": True}, now=T0)
    workflow = saved(runtime, spec_json, workflow)
    assert sorted(by_teacher(runtime, workflow)) == ["li", "wang"]
    assert runtime.next_timer_at(workflow) == REMIND_AT  # the timers wait for the others
    runtime.complete_user_task(workflow, tasks["wang"], {"summary": "王的总结"}, now=T0)
    assert sorted(by_teacher(runtime, workflow)) == ["li"]
    runtime.complete_user_task(workflow, tasks["li"], {"summary": "李的总结"}, now=T0)
    assert [t.bpmn_id for t in runtime.ready_user_tasks(workflow)] == ["school_review"]
    assert passed(runtime, workflow, "collected") == 1


# -- set_variables: scopes, refusals, timer kinds ------------------------------------------------------------------

def test_an_instance_keeps_its_element_variable_and_collect_lists_only_its_own_changes(
        runtime: WorkflowRuntime) -> None:
    text = mutate(("</camunda:formData>\n", '</camunda:formData>\n<camunda:properties>'
                   '<camunda:property name="collect" value="summaries" /></camunda:properties>\n'),
                  text=diagram("campaign_collection.bpmn"))
    spec_json = compiled({"c.bpmn": text}).spec_json
    workflow = runtime.start(spec_json, {"teachers": TEACHERS, **stage_variables(DEADLINE)}, initiator="county1",
                             now=T0)
    runtime.set_variables(workflow, {"teacher": "sun", "note": "延期一周"})
    tasks = runtime.ready_user_tasks(workflow)
    assert sorted(t.assignee for t in tasks) == sorted(TEACHERS)  # the local variable hides the process one
    for task in tasks:
        runtime.complete_user_task(workflow, task.task_id, {"summary": task.assignee}, now=T0)
    data = runtime.variables(workflow)
    assert (data["teacher"], data["note"]) == ("sun", "延期一周")
    # the instances did not set note, personal_deadline...: the collected entries hold only their own variables
    assert [sorted(entry) for entry in data["summaries"]] == [["loopCounter", "summary", "teacher"]] * 3


@pytest.mark.parametrize(("values", "code"), [
    ({"personal_deadline": datetime(2026, 3, 17, tzinfo=BEIJING)}, "data_not_serializable"),
    ({"personal_deadline": {1, 2}}, "data_not_serializable"),
    ({"personal deadline": "x"}, "variable_name_invalid"),
])
def test_values_that_cannot_be_stored_are_refused_before_anything_changes(runtime: WorkflowRuntime,
                                                                          values: dict, code: str) -> None:
    _spec_json, workflow = collection(runtime)
    with pytest.raises(StateInvalid) as caught:
        runtime.set_variables(workflow, values)
    assert caught.value.code == code
    assert {t.due_at for t in runtime.ready_user_tasks(workflow)} == {DEADLINE}


def test_a_timer_value_that_is_no_date_is_refused_naming_the_timer(runtime: WorkflowRuntime) -> None:
    _spec_json, workflow = collection(runtime)
    with pytest.raises(ExpressionError) as caught:
        runtime.set_variables(workflow, {"personal_deadline": EXTENDED.isoformat(), "personal_remind_at": "下周"})
    assert (caught.value.code, caught.value.bpmn_id) == ("timer_invalid", "remind")
    assert {t.due_at for t in runtime.ready_user_tasks(workflow)} == {DEADLINE}  # nothing changed
    assert runtime.next_timer_at(workflow) == REMIND_AT


def test_a_finished_instance_is_refused(runtime: WorkflowRuntime) -> None:
    _spec_json, workflow = collection(runtime)
    runtime.send_message(workflow, "summary.close_collection", now=T0)
    [review] = runtime.ready_user_tasks(workflow)
    runtime.complete_user_task(workflow, review.task_id, {}, now=T0)
    with pytest.raises(EngineError) as caught:
        runtime.set_variables(workflow, stage_variables(EXTENDED))
    assert caught.value.code == "instance_completed"


def timer_process(kind: str, value: str) -> str:
    """A user task with a non-interrupting timer boundary event of ``kind`` leading to a reminder."""
    timer = (f'<bpmn:timerEventDefinition id="TimerEventDefinition_1"><bpmn:{kind} xsi:type="bpmn:tFormalExpression">'
             f"{value}</bpmn:{kind}></bpmn:timerEventDefinition>")
    return process_xml("timed", [
        ("startEvent", "start", "", ""),
        ("userTask", "fill", 'name="填报" camunda:candidateGroups="school_officer" '
                             'camunda:dueDate="${personal_deadline}"', ""),
        ("endEvent", "end", "", ""),
        ("boundaryEvent", "tick", 'name="计时" cancelActivity="false" attachedToRef="fill"', timer),
        ("serviceTask", "send_reminder", 'name="提醒" camunda:type="external" camunda:topic="campaign.remind"', ""),
        ("endEvent", "reminded", "", ""),
    ], [("start", "fill", None), ("fill", "end", None), ("tick", "send_reminder", None),
        ("send_reminder", "reminded", None)])


def start_timed(runtime: WorkflowRuntime, kind: str, value: str, data: dict[str, Any]) -> Any:
    spec_json = compiled({"timed.bpmn": timer_process(kind, value)}).spec_json
    return runtime.start(spec_json, {**stage_variables(DEADLINE), **data}, initiator="county1", now=T0)


def test_a_duration_timer_keeps_counting_from_when_it_started(runtime: WorkflowRuntime) -> None:
    workflow = start_timed(runtime, "timeDuration", "${remind_after}", {"remind_after": "P2D"})
    with frozen_clock(T0 + timedelta(days=1)):
        assert runtime.set_variables(workflow, {"remind_after": "P5D", **stage_variables(EXTENDED)}) == []
    assert runtime.next_timer_at(workflow) == T0 + timedelta(days=2)
    assert runtime.ready_user_tasks(workflow)[0].due_at == EXTENDED


def test_a_cycle_reading_a_changed_variable_starts_again_from_now(runtime: WorkflowRuntime) -> None:
    workflow = start_timed(runtime, "timeCycle", "${remind_cycle}", {"remind_cycle": "R3/PT24H"})
    assert runtime.next_timer_at(workflow) == T0 + timedelta(hours=24)
    runtime.tick(workflow, now=T0 + timedelta(hours=25))
    assert service_ids(runtime, workflow) == ["send_reminder"]
    assert runtime.next_timer_at(workflow) == T0 + timedelta(hours=48)
    with frozen_clock(T0 + timedelta(hours=30)):
        assert runtime.set_variables(workflow, stage_variables(EXTENDED)) == []  # not read by the cycle
        assert runtime.next_timer_at(workflow) == T0 + timedelta(hours=48)
        assert runtime.set_variables(workflow, {"remind_cycle": "R2/PT12H"}) == ["tick"]
    assert runtime.next_timer_at(workflow) == T0 + timedelta(hours=42)


def test_a_literal_cycle_keeps_its_schedule(runtime: WorkflowRuntime) -> None:
    workflow = start_timed(runtime, "timeCycle", "R3/PT24H", {})
    with frozen_clock(T0 + timedelta(hours=5)):
        assert runtime.set_variables(workflow, stage_variables(EXTENDED)) == []
    assert runtime.next_timer_at(workflow) == T0 + timedelta(hours=24)


def test_a_literal_date_timer_is_re_armed_at_the_same_moment(runtime: WorkflowRuntime) -> None:
    workflow = start_timed(runtime, "timeDate", "2026-03-05T08:00:00+08:00", {})
    assert runtime.set_variables(workflow, stage_variables(EXTENDED)) == ["tick"]
    assert runtime.next_timer_at(workflow) == datetime(2026, 3, 5, 8, tzinfo=BEIJING)


# -- b. one task per subgroup, the subgroup being a dict ------------------------------------------------------------

SUBGROUPS = [{"code": "yw", "name": "语文组", "leader": "wang"}, {"code": "sx", "name": "数学组", "leader": "li"}]


def subgroup_process() -> str:
    loop = ('<bpmn:multiInstanceLoopCharacteristics camunda:collection="${subgroups}" '
            'camunda:elementVariable="subgroup" />')
    form = ('<bpmn:extensionElements><camunda:formData><camunda:formField id="plan" label="教研计划" type="string" />'
            "</camunda:formData></bpmn:extensionElements>")
    return process_xml("subgroup_plans", [
        ("startEvent", "start", "", ""),
        ("userTask", "subgroup_plan", 'name="教研组计划" camunda:assignee="${subgroup.leader}" '
                                      'camunda:dueDate="${personal_deadline}"', form + loop),
        ("userTask", "school_review", 'name="学校审核" camunda:candidateGroups="school_officer"', ""),
        ("endEvent", "end", "", ""),
    ], [("start", "subgroup_plan", None), ("subgroup_plan", "school_review", None), ("school_review", "end", None)])


def test_each_subgroup_leader_gets_a_task_that_says_which_subgroup(runtime: WorkflowRuntime) -> None:
    assert subgroup_process().count("multiInstanceLoopCharacteristics") == 1
    spec_json = compiled({"subgroups.bpmn": subgroup_process()}).spec_json
    workflow = runtime.start(spec_json, {"subgroups": SUBGROUPS, **stage_variables(DEADLINE)}, initiator="s1", now=T0)
    tasks = sorted(runtime.ready_user_tasks(workflow), key=lambda t: t.local["loopCounter"])
    assert [t.assignee for t in tasks] == ["wang", "li"]
    assert [t.local["subgroup"] for t in tasks] == SUBGROUPS
    assert {t.due_at for t in tasks} == {DEADLINE}
    tasks[0].local["subgroup"]["leader"] = "changed"  # a copy: the instance is not touched
    assert runtime.ready_user_tasks(workflow)[0].local["subgroup"]["leader"] in ("wang", "li")
    for task in tasks:
        runtime.complete_user_task(workflow, task.task_id, {"plan": task.local["subgroup"]["name"]}, now=T0)
    assert [t.bpmn_id for t in runtime.ready_user_tasks(workflow)] == ["school_review"]
    assert "subgroup" not in runtime.variables(workflow)


def test_no_subgroups_passes_straight_through(runtime: WorkflowRuntime) -> None:
    spec_json = compiled({"subgroups.bpmn": subgroup_process()}).spec_json
    workflow = runtime.start(spec_json, {"subgroups": [], **stage_variables(DEADLINE)}, initiator="s1", now=T0)
    [review] = runtime.ready_user_tasks(workflow)
    assert (review.bpmn_id, review.local) == ("school_review", {})


# -- inside an embedded subprocess ---------------------------------------------------------------------------------

def test_tasks_and_timers_inside_a_subprocess_and_after_it_see_the_new_values(runtime: WorkflowRuntime) -> None:
    spec_json = compiled({"campaign_stage.bpmn": diagram("campaign_stage.bpmn")}).spec_json
    workflow = runtime.start(spec_json, stage_variables(DEADLINE), initiator="county1", now=T0)
    [report] = runtime.ready_user_tasks(workflow)
    assert (report.bpmn_id, report.due_at) == ("school_report", DEADLINE)
    assert runtime.next_timer_at(workflow) == REMIND_AT
    workflow = saved(runtime, spec_json, workflow)
    assert runtime.set_variables(workflow, stage_variables(EXTENDED)) == ["stage_remind"]
    assert runtime.ready_user_tasks(workflow)[0].due_at == EXTENDED
    assert runtime.next_timer_at(workflow) == datetime(2026, 3, 15, 9, 0, tzinfo=BEIJING)
    runtime.tick(workflow, now=REMIND_AT + timedelta(hours=1))
    assert service_ids(runtime, workflow) == []
    runtime.complete_user_task(workflow, report.task_id, {}, now=T0 + timedelta(days=2))
    [check_task] = runtime.ready_user_tasks(workflow)  # the variables left the subprocess with the new values
    assert (check_task.bpmn_id, check_task.due_at) == ("county_check", EXTENDED + timedelta(days=1))
    assert runtime.next_timer_at(workflow) is None
