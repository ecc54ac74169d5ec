"""Multi-instance activities as Camunda 7 runs them, plus our ``collect`` property (docs/designer-guide.md)."""

from __future__ import annotations

from typing import Any

import pytest
from engine_support import compile_one, compile_text, diagram

from webapp.engine import EngineIncident, WorkflowRuntime

EXPERTS = ["wang", "li", "zhao"]


def saved(runtime: WorkflowRuntime, spec_json: str, workflow: Any) -> Any:
    """The workflow after a save and load, as between two requests."""
    state, _version = runtime.dump(workflow)
    return runtime.load(spec_json, state)


def scoring(runtime: WorkflowRuntime, quorum: int) -> tuple[str, Any]:
    spec_json = compile_one("expert_scores.bpmn").spec_json
    return spec_json, runtime.start(spec_json, {"experts": EXPERTS, "quorum": quorum}, initiator="t42")


def test_each_expert_gets_a_task_and_the_process_sees_every_score(runtime: WorkflowRuntime) -> None:
    spec_json, workflow = scoring(runtime, quorum=3)
    tasks = runtime.ready_user_tasks(workflow)
    assert sorted(t.assignee for t in tasks) == sorted(EXPERTS)
    assert {t.bpmn_id for t in tasks} == {"score"} and len({t.task_id for t in tasks}) == 3
    assert {t.name for t in tasks} == {"专家评分"}
    by_expert = {t.assignee: t.task_id for t in tasks}
    for points, expert in ((70, "zhao"), (90, "wang"), (85, "li")):
        workflow = saved(runtime, spec_json, workflow)
        runtime.complete_user_task(workflow, by_expert[expert], {"points": points, "remark": f"{expert} ok"})
    assert runtime.is_completed(workflow)
    data = runtime.variables(workflow)
    assert data["scores"] == [
        {"loopCounter": 0, "expert": "wang", "points": 90, "remark": "wang ok"},
        {"loopCounter": 1, "expert": "li", "points": 85, "remark": "li ok"},
        {"loopCounter": 2, "expert": "zhao", "points": 70, "remark": "zhao ok"},
    ]
    assert data["total_points"] == 245 and data["scored_by"] == EXPERTS
    # as Camunda's setVariable: an instance's variables reach the process, the last one completed wins ...
    assert (data["points"], data["remark"]) == (85, "li ok")
    # ... while the element variable and the loop counter stay the instance's own
    assert "expert" not in data and "loopCounter" not in data
    assert data["experts"] == EXPERTS  # the collection is not written to


def test_the_completion_condition_ends_the_activity_at_two_of_three(runtime: WorkflowRuntime) -> None:
    spec_json, workflow = scoring(runtime, quorum=2)
    by_expert = {t.assignee: t.task_id for t in runtime.ready_user_tasks(workflow)}
    runtime.complete_user_task(workflow, by_expert["li"], {"points": 60})
    workflow = saved(runtime, spec_json, workflow)
    assert sorted(t.assignee for t in runtime.ready_user_tasks(workflow)) == ["wang", "zhao"]
    runtime.complete_user_task(workflow, by_expert["zhao"], {"points": 80})
    assert runtime.ready_user_tasks(workflow) == []  # wang's task is cancelled
    assert runtime.is_completed(workflow)
    data = runtime.variables(workflow)
    assert [(e["expert"], e["points"]) for e in data["scores"]] == [("li", 60), ("zhao", 80)]
    assert data["total_points"] == 140


def test_counters_in_the_completion_condition(runtime: WorkflowRuntime) -> None:
    text = diagram("expert_scores.bpmn").replace(
        "${nrOfCompletedInstances &gt;= quorum}",
        "nrOfCompletedInstances == 1 and nrOfActiveInstances == nrOfInstances - 1 and expert == 'zhao'")
    spec_json = compile_text({"expert_scores.bpmn": text}).spec_json
    workflow = runtime.start(spec_json, {"experts": EXPERTS}, initiator="t42")
    by_expert = {t.assignee: t.task_id for t in runtime.ready_user_tasks(workflow)}
    runtime.complete_user_task(workflow, by_expert["wang"], {"points": 1})
    assert len(runtime.ready_user_tasks(workflow)) == 2  # the condition asks for zhao's
    workflow = runtime.start(spec_json, {"experts": EXPERTS}, initiator="t42")
    by_expert = {t.assignee: t.task_id for t in runtime.ready_user_tasks(workflow)}
    runtime.complete_user_task(workflow, by_expert["zhao"], {"points": 1})
    assert runtime.is_completed(workflow)


def test_one_definition_runs_many_instances(runtime: WorkflowRuntime) -> None:
    """SpiffWorkflow's own Camunda multi-instance changed the shared spec, so the second instance broke."""
    for experts in (EXPERTS, ["sun"], EXPERTS[:2]):
        spec_json = compile_one("expert_scores.bpmn").spec_json
        workflow = runtime.start(spec_json, {"experts": experts, "quorum": 9}, initiator="t42")
        assert sorted(t.assignee for t in runtime.ready_user_tasks(workflow)) == sorted(experts)


def test_an_empty_collection_passes_straight_through(runtime: WorkflowRuntime) -> None:
    workflow = runtime.start(compile_one("expert_scores.bpmn").spec_json, {"experts": [], "quorum": 1},
                             initiator="t42")
    assert runtime.is_completed(workflow)
    assert runtime.variables(workflow)["scores"] == []


def test_sequential_instances_follow_the_order_of_the_collection(runtime: WorkflowRuntime) -> None:
    spec_json = compile_one("teacher_summaries.bpmn").spec_json
    workflow = runtime.start(spec_json, {"teachers": ["wang", "li", "zhao"]}, initiator="t42")
    seen = []
    while not runtime.is_completed(workflow):
        [task] = runtime.ready_user_tasks(workflow)
        seen.append(task.assignee)
        runtime.complete_user_task(workflow, task.task_id, {"summary": f"{task.assignee} 的总结"})
        workflow = saved(runtime, spec_json, workflow)
    assert seen == ["wang", "li", "zhao"]
    data = runtime.variables(workflow)
    assert [(e["teacher"], e["summary"]) for e in data["summaries"]] == [
        ("wang", "wang 的总结"), ("li", "li 的总结"), ("zhao", "zhao 的总结")]
    assert data["summary"] == "zhao 的总结" and "teacher" not in data


@pytest.mark.parametrize("count", [3, 0])
def test_loop_cardinality_by_expression_on_a_subprocess(runtime: WorkflowRuntime, count: int) -> None:
    workflow = runtime.start(compile_one("copies.bpmn").spec_json, {"count": count, "prefix": "ZS"},
                             initiator="t42")
    assert runtime.is_completed(workflow)
    data = runtime.variables(workflow)
    assert [e["serial"] for e in data["copies"]] == [f"ZS-{n}" for n in range(1, count + 1)]
    assert "loopCounter" not in data


@pytest.mark.parametrize(("data", "code"), [
    ({"quorum": 1}, "mi_collection_missing"),
    ({"experts": "wang,li", "quorum": 1}, "mi_collection_invalid"),
])
def test_a_missing_or_wrong_collection_is_an_incident_naming_it(runtime: WorkflowRuntime, data: dict,
                                                                code: str) -> None:
    with pytest.raises(EngineIncident) as caught:
        runtime.start(compile_one("expert_scores.bpmn").spec_json, data, initiator="t42")
    assert (caught.value.code, caught.value.bpmn_id, caught.value.task_name) == (code, "score", "专家评分")
    assert "专家评分" in str(caught.value)


@pytest.mark.parametrize("count", [-1, "3", 2.5])
def test_a_cardinality_that_is_not_a_whole_number_is_an_incident(runtime: WorkflowRuntime, count: object) -> None:
    with pytest.raises(EngineIncident) as caught:
        runtime.start(compile_one("copies.bpmn").spec_json, {"count": count, "prefix": "ZS"}, initiator="t42")
    assert (caught.value.code, caught.value.bpmn_id) == ("mi_cardinality_invalid", "make_copy")


def service_per_level(runtime: WorkflowRuntime, registry: Any, *, is_async: bool) -> tuple[str, Any, list]:
    calls: list = []

    def credit_check(call: Any) -> dict[str, object]:
        calls.append(call)
        return {"rules_ok": call.data["level"] != "city", "checked_level": call.data["level"]}

    registry.register("credit_check", credit_check, is_async=is_async)
    text = diagram("service.bpmn").replace(
        "        </camunda:inputOutput>\n      </bpmn:extensionElements>\n      <bpmn:incoming>flow_1</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_2</bpmn:outgoing>\n",
        '        </camunda:inputOutput>\n        <camunda:properties><camunda:property name="collect" value="checks" />'
        "</camunda:properties>\n      </bpmn:extensionElements>\n      <bpmn:incoming>flow_1</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_2</bpmn:outgoing>\n"
        '      <bpmn:multiInstanceLoopCharacteristics camunda:collection="levels_to_check" '
        'camunda:elementVariable="level" />\n', 1)
    spec_json = compile_text({"s.bpmn": text}).spec_json
    workflow = runtime.start(spec_json, {"hours": 12, "levels_to_check": ["school", "county", "city"]},
                             initiator="t42")
    return spec_json, workflow, calls


def test_a_multi_instance_service_task_calls_its_handler_once_per_item(runtime: WorkflowRuntime,
                                                                       registry: Any) -> None:
    _spec_json, workflow, calls = service_per_level(runtime, registry, is_async=False)
    assert [call.data["level"] for call in calls] == ["school", "county", "city"]
    data = runtime.variables(workflow)
    assert [(e["level"], e["rules_ok"]) for e in data["checks"]] == [
        ("school", True), ("county", True), ("city", False)]
    assert "level" not in data


def test_asynchronous_instances_wait_for_the_worker_each(runtime: WorkflowRuntime, registry: Any) -> None:
    spec_json, workflow, _calls = service_per_level(runtime, registry, is_async=True)
    waiting = runtime.started_service_tasks(workflow)
    assert [t.bpmn_id for t in waiting] == ["check"] * 3
    for task in reversed(waiting):
        workflow = saved(runtime, spec_json, workflow)
        runtime.execute_service_task(workflow, task.task_id)
    data = runtime.variables(workflow)
    assert [e["checked_level"] for e in data["checks"]] == ["school", "county", "city"]
    assert [t.bpmn_id for t in runtime.ready_user_tasks(workflow)] == ["confirm"]


def test_a_sequential_completion_condition_stops_before_the_next_instance(runtime: WorkflowRuntime) -> None:
    text = diagram("teacher_summaries.bpmn").replace(
        'camunda:elementVariable="teacher" />',
        'camunda:elementVariable="teacher"><bpmn:completionCondition xsi:type="bpmn:tFormalExpression" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">summary == "够了" and nrOfActiveInstances == 1 '
        "and nrOfCompletedInstances == loopCounter + 1</bpmn:completionCondition>"
        "</bpmn:multiInstanceLoopCharacteristics>")
    spec_json = compile_text({"t.bpmn": text}).spec_json
    workflow = runtime.start(spec_json, {"teachers": ["wang", "liu", "zhao"]}, initiator="t42")
    for summary in ("一", "够了"):
        [task] = runtime.ready_user_tasks(workflow)
        runtime.complete_user_task(workflow, task.task_id, {"summary": summary})
    assert runtime.is_completed(workflow)
    assert [e["teacher"] for e in runtime.variables(workflow)["summaries"]] == ["wang", "liu"]
