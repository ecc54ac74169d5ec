"""Service tasks by topic: synchronous, asynchronous, failing handlers, BPMN errors, retries."""

from __future__ import annotations

import pytest
from engine_support import compile_one, compile_text, diagram

from webapp.engine import (
    ServiceCall,
    ServiceFailed,
    ServiceRegistry,
    TaskNotReady,
    UserTaskInfo,
    WorkflowRuntime,
    WrongTaskType,
)

DATA = {"hours": 12, "level": "county"}


def start(runtime: WorkflowRuntime, spec_json: str | None = None) -> object:
    return runtime.start(spec_json or compile_one("service.bpmn").spec_json, DATA, initiator="t42")


def only(tasks: list[UserTaskInfo]) -> UserTaskInfo:
    [task] = tasks
    return task


def test_sync_handler_gets_evaluated_inputs_and_its_result_is_merged(registry: ServiceRegistry,
                                                                     runtime: WorkflowRuntime) -> None:
    calls: list[ServiceCall] = []

    def credit_check(call: ServiceCall) -> dict[str, object]:
        calls.append(call)
        return {"rules_ok": call.inputs["hours"] <= 40}

    registry.register("credit_check", credit_check)
    workflow = start(runtime)
    [call] = calls
    assert (call.topic, call.bpmn_id, call.task_name, call.process_id) == ("credit_check", "check", "校验学时规则",
                                                                           "service_check")
    assert dict(call.inputs) == {"hours": 12, "teacher": "t42", "source": "yanxun", "levels": ["school", "county"]}
    assert call.data["initiator"] == "t42"
    with pytest.raises(TypeError):
        call.data["hours"] = 99  # read-only view of a copy
    assert only(runtime.ready_user_tasks(workflow)).bpmn_id == "confirm"
    assert runtime.variables(workflow)["rules_ok"] is True
    assert runtime.started_service_tasks(workflow) == []


def test_result_variable_takes_the_whole_result(registry: ServiceRegistry, runtime: WorkflowRuntime) -> None:
    registry.register("credit_check", lambda call: {"max": 40})
    text = diagram("service.bpmn").replace('camunda:topic="credit_check"',
                                           'camunda:topic="credit_check" camunda:resultVariable="limits"')
    workflow = start(runtime, compile_text({"s.bpmn": text}).spec_json)
    assert runtime.variables(workflow)["limits"] == {"max": 40}


def test_output_parameters_map_the_result(registry: ServiceRegistry, runtime: WorkflowRuntime) -> None:
    registry.register("credit_check", lambda call: {"verdict": {"ok": True}})
    text = diagram("service.bpmn").replace(
        "</camunda:inputOutput>",
        '  <camunda:outputParameter name="rules_ok">${verdict.ok}</camunda:outputParameter>\n'
        "        </camunda:inputOutput>")
    variables = runtime.variables(start(runtime, compile_text({"s.bpmn": text}).spec_json))
    assert variables["rules_ok"] is True
    assert "verdict" not in variables


def test_failing_handler_surfaces_the_real_error(registry: ServiceRegistry, runtime: WorkflowRuntime) -> None:
    def credit_check(call: ServiceCall) -> None:
        raise ConnectionError("rules service down")

    registry.register("credit_check", credit_check)
    with pytest.raises(ServiceFailed) as caught:
        start(runtime)
    error = caught.value
    assert (error.code, error.topic, error.bpmn_id, error.task_name) == ("service_failed", "credit_check", "check",
                                                                         "校验学时规则")
    assert isinstance(error.original, ConnectionError)
    assert "ConnectionError: rules service down" in str(error)
    assert "script" not in str(error)


def test_unregistered_topic_at_run_time(runtime: WorkflowRuntime) -> None:
    with pytest.raises(ServiceFailed) as caught:
        start(runtime)
    assert (caught.value.code, caught.value.topic) == ("service_unknown", "credit_check")


def test_async_handler_leaves_the_task_started_for_a_worker(registry: ServiceRegistry) -> None:
    calls: list[ServiceCall] = []
    registry.register("credit_check", lambda call: calls.append(call) or {"rules_ok": True}, is_async=True)
    web = WorkflowRuntime(registry)
    workflow = start(web)
    assert calls == []
    [pending] = web.started_service_tasks(workflow)
    assert (pending.bpmn_id, pending.topic, pending.state, pending.failure) == ("check", "credit_check", "STARTED",
                                                                               None)
    assert web.ready_user_tasks(workflow) == []
    state, _ = web.dump(workflow)

    worker = WorkflowRuntime(registry)
    loaded = worker.load(compile_one("service.bpmn").spec_json, state)
    assert worker.service_call(loaded, pending.task_id).inputs["teacher"] == "t42"
    worker.execute_service_task(loaded, pending.task_id)
    assert len(calls) == 1
    assert only(worker.ready_user_tasks(loaded)).bpmn_id == "confirm"
    assert worker.variables(loaded)["rules_ok"] is True
    with pytest.raises(TaskNotReady):
        worker.execute_service_task(loaded, pending.task_id)


def test_worker_can_complete_with_a_result_from_elsewhere(registry: ServiceRegistry, runtime: WorkflowRuntime) -> None:
    registry.register("credit_check", lambda call: None, is_async=True)
    workflow = start(runtime)
    [pending] = runtime.started_service_tasks(workflow)
    runtime.complete_service_task(workflow, pending.task_id, {"rules_ok": False})
    assert runtime.variables(workflow)["rules_ok"] is False
    confirm = only(runtime.ready_user_tasks(workflow))
    with pytest.raises(WrongTaskType):
        runtime.complete_service_task(workflow, confirm.task_id, {})


def test_bpmn_error_from_a_worker_goes_to_the_error_boundary(registry: ServiceRegistry,
                                                             runtime: WorkflowRuntime) -> None:
    registry.register("credit_check", lambda call: None, is_async=True)
    workflow = start(runtime)
    [pending] = runtime.started_service_tasks(workflow)
    runtime.fail_service_task(workflow, pending.task_id, "hours over the cap", bpmn_error_code="RULES_FAILED")
    fix = only(runtime.ready_user_tasks(workflow))
    assert (fix.bpmn_id, fix.assignee) == ("fix", "t42")
    assert runtime.variables(workflow)["service_error"] == {"code": "RULES_FAILED", "message": "hours over the cap"}
    assert ("check", "CANCELLED") in [(h.bpmn_id, h.state) for h in runtime.history(workflow)]


def test_unknown_bpmn_error_code_is_an_incident(registry: ServiceRegistry, runtime: WorkflowRuntime) -> None:
    registry.register("credit_check", lambda call: None, is_async=True)
    workflow = start(runtime)
    [pending] = runtime.started_service_tasks(workflow)
    with pytest.raises(Exception, match="catches error code 'OTHER'") as caught:
        runtime.fail_service_task(workflow, pending.task_id, "x", bpmn_error_code="OTHER")
    assert caught.value.code == "bpmn_error_uncaught"


def test_failure_without_code_is_an_incident_until_retried(registry: ServiceRegistry,
                                                           runtime: WorkflowRuntime) -> None:
    attempts: list[int] = []
    registry.register("credit_check", lambda call: attempts.append(1) or {"rules_ok": True}, is_async=True)
    workflow = start(runtime)
    [pending] = runtime.started_service_tasks(workflow)
    runtime.fail_service_task(workflow, pending.task_id, "timeout")
    workflow = runtime.load(compile_one("service.bpmn").spec_json, runtime.dump(workflow)[0])
    [failed] = runtime.started_service_tasks(workflow)
    assert (failed.state, failed.failure) == ("ERROR", "timeout")
    runtime.retry_service_task(workflow, failed.task_id)
    runtime.execute_service_task(workflow, failed.task_id)
    assert attempts == [1]
    assert only(runtime.ready_user_tasks(workflow)).bpmn_id == "confirm"


def test_registry_refuses_duplicates() -> None:
    registry = ServiceRegistry()
    registry.register("notify", lambda call: None)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("notify", lambda call: None)
    assert registry.topics == {"notify"} and "notify" in registry
