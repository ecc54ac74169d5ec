"""Diagrams that must run as Camunda 7 runs them, or be refused at deploy naming the element."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_support import T0, check, compile_one, compile_text, diagram

from webapp.engine import WorkflowRuntime


def test_a_plain_task_is_passed_straight_through(runtime: WorkflowRuntime) -> None:
    definition = compile_one("plain_task.bpmn").spec_json
    workflow = runtime.start(definition, {}, initiator="t42", now=T0)
    [review] = runtime.ready_user_tasks(workflow)
    assert review.bpmn_id == "review"
    assert [(e.bpmn_id, e.state) for e in runtime.history(workflow)] == [("start", "COMPLETED"),
                                                                         ("register", "COMPLETED")]
    workflow = runtime.load(definition, runtime.dump(workflow)[0])
    runtime.complete_user_task(workflow, review.task_id, {}, now=T0)
    assert runtime.is_completed(workflow)


def test_a_process_only_a_message_starts_is_refused_naming_its_start_event() -> None:
    text = diagram("message_start.bpmn")
    report = check({"message_start.bpmn": text})
    [problem] = report.errors
    assert (problem.code, problem.file, problem.element_id, problem.element_name) == (
        "message_start_unsupported", "message_start.bpmn", "certificate_received", "收到证书")
    assert problem.line == text[:text.index('<bpmn:startEvent id="certificate_received"')].count("\n") + 1
    assert "none start event" in problem.message
    assert not report.definitions


@pytest.mark.parametrize("cycle", ["R3/PT24H", "R/PT24H"])
def test_paths_a_cycle_timer_spawned_outlive_the_task_it_is_attached_to(runtime: WorkflowRuntime, cycle: str) -> None:
    definition = compile_text({"cycle_reminder.bpmn": diagram("cycle_reminder.bpmn").replace("R3/PT24H", cycle)})
    workflow = runtime.start(definition.spec_json, {}, initiator="t42", now=T0)
    for hours in (25, 49):
        workflow = runtime.load(definition.spec_json, runtime.dump(workflow)[0])
        runtime.tick(workflow, T0 + timedelta(hours=hours))
    tasks = runtime.ready_user_tasks(workflow)
    assert sorted(t.bpmn_id for t in tasks) == ["follow_up", "follow_up", "review"]
    review = next(t for t in tasks if t.bpmn_id == "review")
    runtime.complete_user_task(workflow, review.task_id, {}, now=T0 + timedelta(hours=50))
    runtime.tick(workflow, T0 + timedelta(hours=100))
    follow_ups = runtime.ready_user_tasks(workflow)
    assert [t.bpmn_id for t in follow_ups] == ["follow_up", "follow_up"], "kept, and the timer stopped with its task"
    assert not runtime.is_completed(workflow)
    for task in follow_ups:
        workflow = runtime.load(definition.spec_json, runtime.dump(workflow)[0])
        runtime.complete_user_task(workflow, task.task_id, {}, now=T0 + timedelta(hours=101))
    assert runtime.is_completed(workflow)
    assert [e.bpmn_id for e in runtime.history(workflow)].count("followed_up") == 2
