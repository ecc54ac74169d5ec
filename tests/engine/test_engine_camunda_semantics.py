"""Diagrams that must run as Camunda 7 runs them, or be refused at deploy naming the element."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_support import T0, check, compile_one, compile_text, diagram

from webapp.engine import ServiceRegistry, WorkflowRuntime


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


def _open(runtime: WorkflowRuntime, workflow: object) -> list[str]:
    return sorted(task.bpmn_id for task in runtime.ready_user_tasks(workflow))


def _task(runtime: WorkflowRuntime, workflow: object, bpmn_id: str) -> str:
    return next(task.task_id for task in runtime.ready_user_tasks(workflow) if task.bpmn_id == bpmn_id)


def _states(runtime: WorkflowRuntime, workflow: object) -> dict[str, str]:
    return {entry.bpmn_id: entry.state for entry in runtime.history(workflow)}


@pytest.fixture
def handling(registry: ServiceRegistry) -> str:
    """The event subprocesses diagram, with its check run by a worker (so a test can fail it)."""
    registry.register("credit_check", lambda call: {}, is_async=True)
    return compile_one("event_subprocesses.bpmn").spec_json


def test_an_error_starts_its_event_subprocess_only_when_thrown_and_it_interrupts_the_process(
        runtime: WorkflowRuntime, handling: str) -> None:
    workflow = runtime.start(handling, {}, initiator="t42", now=T0)
    assert _open(runtime, workflow) == ["review"], "nothing was thrown yet"
    [check_task] = runtime.started_service_tasks(workflow)
    runtime.complete_service_task(workflow, check_task.task_id, {}, now=T0)
    assert _open(runtime, workflow) == ["archive", "review"]
    runtime.complete_user_task(workflow, _task(runtime, workflow, "review"), {"decision": "reject"}, now=T0)
    assert _open(runtime, workflow) == ["handle_rejection"]
    states = _states(runtime, workflow)
    assert states["archive"] == "CANCELLED", "the interrupting event subprocess ends the rest of the process"
    assert "archive_abandoned" not in states, "the error boundary of another task does not catch it"
    workflow = runtime.load(handling, runtime.dump(workflow)[0])
    runtime.complete_user_task(workflow, _task(runtime, workflow, "handle_rejection"), {}, now=T0)
    assert runtime.is_completed(workflow)


def test_an_escalation_starts_its_non_interrupting_event_subprocess_alongside(
        runtime: WorkflowRuntime, handling: str) -> None:
    workflow = runtime.start(handling, {}, initiator="t42", now=T0)
    runtime.complete_user_task(workflow, _task(runtime, workflow, "review"), {"decision": "late"}, now=T0)
    assert _open(runtime, workflow) == ["remind_late"]
    [check_task] = runtime.started_service_tasks(workflow)
    runtime.complete_service_task(workflow, check_task.task_id, {}, now=T0)
    assert _open(runtime, workflow) == ["archive", "remind_late"]
    for bpmn_id in ("archive", "remind_late"):
        workflow = runtime.load(handling, runtime.dump(workflow)[0])
        runtime.complete_user_task(workflow, _task(runtime, workflow, bpmn_id), {}, now=T0)
    assert runtime.is_completed(workflow)
    assert _states(runtime, workflow)["reviewed"] == "COMPLETED"


def test_a_service_tasks_business_error_starts_the_error_event_subprocess(
        runtime: WorkflowRuntime, handling: str) -> None:
    workflow = runtime.start(handling, {}, initiator="t42", now=T0)
    [check_task] = runtime.started_service_tasks(workflow)
    runtime.fail_service_task(workflow, check_task.task_id, "学分已核销", bpmn_error_code="REJECTED", now=T0)
    assert _open(runtime, workflow) == ["handle_rejection"]
    assert _states(runtime, workflow)["review"] == "CANCELLED"
    assert runtime.variables(workflow)["service_error"] == {"code": "REJECTED", "message": "学分已核销"}
    runtime.complete_user_task(workflow, _task(runtime, workflow, "handle_rejection"), {}, now=T0)
    assert runtime.is_completed(workflow)


def test_a_conditional_boundary_event_fires_when_a_parallel_branch_sets_its_variable(
        runtime: WorkflowRuntime) -> None:
    definition = compile_one("conditional_boundary.bpmn").spec_json
    workflow = runtime.start(definition, {"urgent": False}, initiator="t42", now=T0)
    assert _open(runtime, workflow) == ["mark", "review"]
    workflow = runtime.load(definition, runtime.dump(workflow)[0])
    runtime.complete_user_task(workflow, _task(runtime, workflow, "mark"), {"urgent": True}, now=T0)
    assert _open(runtime, workflow) == ["urgent_review"]
    assert _states(runtime, workflow)["review"] == "CANCELLED"
    runtime.complete_user_task(workflow, _task(runtime, workflow, "urgent_review"), {}, now=T0)
    assert runtime.is_completed(workflow)


def test_an_error_start_event_outside_an_event_subprocess_is_refused_naming_it() -> None:
    text = diagram("event_subprocesses.bpmn").replace('name="退回处理" triggeredByEvent="true"', 'name="退回处理"')
    problem = next(p for p in check({"event_subprocesses.bpmn": text}).errors if p.code == "start_event_misplaced")
    assert (problem.file, problem.element_id, problem.element_name) == ("event_subprocesses.bpmn", "rejected_start",
                                                                        "被退回")
    assert problem.line == text[:text.index('<bpmn:startEvent id="rejected_start"')].count("\n") + 1
    assert "draw a none start event" in problem.message
