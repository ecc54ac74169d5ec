"""Diagrams that must run as Camunda 7 runs them, or be refused at deploy naming the element."""

from __future__ import annotations

from engine_support import T0, check, compile_one, diagram

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
