"""Running instances: routing info, forms, conditions, timers, persistence, refusals and error wrapping."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from engine_support import T0, compile_one, compile_text, diagram

from webapp.engine import (
    EngineIncident,
    ExpressionError,
    FieldError,
    FormInvalid,
    ScriptFailed,
    TaskNotFound,
    TaskNotReady,
    UserTaskInfo,
    WorkflowRuntime,
    WrongTaskType,
    frozen_clock,
)

SUBMISSION = {"title": "机器人课程", "hours": "12", "category": "research", "course_date": "2026-02-20",
              "online": True}


def only(tasks: list[UserTaskInfo], bpmn_id: str | None = None) -> UserTaskInfo:
    [task] = tasks
    assert bpmn_id is None or task.bpmn_id == bpmn_id
    return task


def started(runtime: WorkflowRuntime, definition: str | None = None) -> object:
    return runtime.start(definition or compile_one("approval.bpmn").spec_json, {"school": "S-17"},
                         initiator="t42", now=T0)


def submitted(runtime: WorkflowRuntime) -> object:
    workflow = started(runtime)
    runtime.complete_user_task(workflow, only(runtime.ready_user_tasks(workflow)).task_id, SUBMISSION, now=T0)
    return workflow


def test_first_task_is_routed_to_the_lane_role_and_the_initiator(runtime: WorkflowRuntime) -> None:
    task = only(runtime.ready_user_tasks(started(runtime)), "submit")
    assert (task.name, task.lane, task.role_codes, task.assignee) == ("提交申请", "教师", ["teacher"], "t42")
    assert (task.process_id, task.priority, task.form_key, task.due_at) == ("simple_approval", 50, None, None)
    assert task.ready_at == T0
    fields = {f.id: f for f in task.form_fields}
    assert list(fields) == ["title", "hours", "category", "course_date", "online"]
    assert (fields["hours"].type, fields["hours"].default, fields["hours"].required) == ("long", 10, True)
    assert fields["hours"].constraints == {"required": None, "min": "1", "max": "40"}
    assert [(o.id, o.name) for o in fields["category"].options] == [("training", "集中培训"), ("research", "校本研修")]
    assert (fields["online"].default, fields["title"].default, fields["title"].required) == (False, None, True)


def test_candidate_groups_win_over_the_lane_and_dates_follow_ready_time(runtime: WorkflowRuntime) -> None:
    review = only(runtime.ready_user_tasks(submitted(runtime)), "review")
    assert (review.lane, review.role_codes, review.assignee) == ("学校师训专干", ["principal"], None)
    assert review.ready_at == T0
    assert review.due_at == T0 + timedelta(days=3)
    assert review.follow_up_at == T0 + timedelta(days=1)
    assert review.priority == 70
    assert review.documentation == "请核对 {{ title }} 的学时。"
    assert review.properties == {"inbox_category": "review"}
    assert review.inputs == {"requested": 12}
    hours = next(f for f in review.form_fields if f.id == "hours")
    assert (hours.readonly, hours.value) == (True, 12)


def test_the_roles_a_task_names_are_known_from_the_definition_alone(runtime: WorkflowRuntime) -> None:
    """What a task that is over was offered to: nothing of the instance is needed (its candidates are gone)."""
    definition = compile_one("approval.bpmn").spec_json
    assert runtime.declared_roles(definition, "review") == ["principal"], "candidateGroups win over the lane"
    assert runtime.declared_roles(definition, "submit") == ["teacher"], "else the lane's role"
    assert runtime.declared_roles(definition, "no_such_task") is None
    text = diagram("approval.bpmn").replace('camunda:candidateGroups="principal"',
                                            'camunda:candidateGroups="principal, ${reviewers}"')
    assert runtime.declared_roles(compile_text({"approval.bpmn": text}).spec_json, "review") is None, (
        "a group from the process data is not in the definition")


def test_form_violations_give_errors_per_field_and_change_nothing(runtime: WorkflowRuntime) -> None:
    workflow = started(runtime)
    task = only(runtime.ready_user_tasks(workflow))
    bad = {"title": "ab", "hours": "0", "category": "other", "course_date": "2026-13-01", "online": "maybe",
           "approved": True}
    with pytest.raises(FormInvalid) as caught:
        runtime.complete_user_task(workflow, task.task_id, bad)
    errors = caught.value.errors
    assert {field: [e.code for e in found] for field, found in errors.items()} == {
        "title": ["minlength"], "hours": ["min"], "category": ["type"], "course_date": ["type"],
        "online": ["type"], "approved": ["unknown_field"]}
    assert errors["hours"] == [FieldError("min", "学时 must be at least 1")]
    assert str(errors["category"][0]) == "类别 must be one of training, research"
    assert caught.value.code == "form_invalid"
    assert only(runtime.ready_user_tasks(workflow)).task_id == task.task_id


def test_required_fields_and_limits(runtime: WorkflowRuntime) -> None:
    workflow = started(runtime)
    task_id = only(runtime.ready_user_tasks(workflow)).task_id
    with pytest.raises(FormInvalid) as caught:
        runtime.complete_user_task(workflow, task_id, {"hours": 41, "title": "x" * 61})
    assert {f: [e.code for e in v] for f, v in caught.value.errors.items()} == {"hours": ["max"],
                                                                               "title": ["maxlength"]}
    with pytest.raises(FormInvalid) as caught:
        runtime.complete_user_task(workflow, task_id, {"title": "", "hours": None})
    assert {f: [e.code for e in v] for f, v in caught.value.errors.items()} == {"title": ["required"],
                                                                               "hours": ["required"]}


def test_defaults_are_applied_and_values_typed(runtime: WorkflowRuntime) -> None:
    workflow = started(runtime)
    runtime.complete_user_task(workflow, only(runtime.ready_user_tasks(workflow)).task_id, {"title": "机器人课程"})
    variables = runtime.variables(workflow)
    assert variables.items() >= {"hours": 10, "category": "training", "online": False, "title": "机器人课程",
                                 "initiator": "t42", "school": "S-17"}.items()
    assert "course_date" not in variables


def test_initiator_cannot_be_overwritten(runtime: WorkflowRuntime) -> None:
    text = diagram("message.bpmn")
    workflow = runtime.start(compile_text({"m.bpmn": text}).spec_json, {}, initiator="t42")
    runtime.send_message(workflow, "certificate_uploaded", {})
    archive = only(runtime.ready_user_tasks(workflow))  # no form fields: any data is accepted...
    with pytest.raises(FormInvalid) as caught:
        runtime.complete_user_task(workflow, archive.task_id, {"initiator": "mallory", "note": "x"})
    assert [e.code for e in caught.value.errors["initiator"]] == ["reserved"]  # ...except the initiator
    runtime.complete_user_task(workflow, archive.task_id, {"note": "x"})
    assert runtime.variables(workflow)["note"] == "x"


def test_read_only_fields_cannot_be_changed(runtime: WorkflowRuntime) -> None:
    workflow = submitted(runtime)
    review = only(runtime.ready_user_tasks(workflow))
    with pytest.raises(FormInvalid) as caught:
        runtime.complete_user_task(workflow, review.task_id, {"hours": 40, "approved": True})
    assert [e.code for e in caught.value.errors["hours"]] == ["readonly"]
    runtime.complete_user_task(workflow, review.task_id, {"hours": 12, "approved": True})  # echoed back unchanged
    assert runtime.is_completed(workflow)


@pytest.mark.parametrize(("approved", "end"), [(True, "end_approved"), ("false", "end_rejected")])
def test_juel_conditions_choose_the_branch(runtime: WorkflowRuntime, approved: object, end: str) -> None:
    workflow = submitted(runtime)
    runtime.complete_user_task(workflow, only(runtime.ready_user_tasks(workflow)).task_id,
                               {"approved": approved, "comment": "ok"})
    assert runtime.is_completed(workflow)
    finished = [(h.bpmn_id, h.state) for h in runtime.history(workflow)]
    assert (end, "COMPLETED") in finished
    assert ("reminder_timer", "CANCELLED") in finished
    assert runtime.variables(workflow)["reviewed_by_school"] is (approved is True)


def test_reminder_timer_fires_after_48_hours_only(runtime: WorkflowRuntime) -> None:
    workflow = submitted(runtime)
    assert runtime.next_timer_at(workflow) == (T0 + timedelta(hours=48)).astimezone(UTC)
    runtime.tick(workflow, now=T0 + timedelta(hours=47, minutes=59))
    assert "remind" not in [h.bpmn_id for h in runtime.history(workflow)]
    with frozen_clock(T0 + timedelta(hours=48, minutes=1)):
        runtime.tick(workflow)
    finished = {h.bpmn_id: h.state for h in runtime.history(workflow)}
    assert finished["reminder_timer"] == finished["remind"] == finished["remind_end"] == "COMPLETED"
    assert only(runtime.ready_user_tasks(workflow), "review").due_at == T0 + timedelta(days=3)  # still waiting
    assert runtime.next_timer_at(workflow) is None


def test_timer_survives_a_save_and_load(runtime: WorkflowRuntime) -> None:
    definition = compile_one("approval.bpmn").spec_json
    state, _ = runtime.dump(submitted(runtime))
    fresh = WorkflowRuntime()
    workflow = fresh.load(definition, state)
    fresh.tick(workflow, now=T0 + timedelta(days=2, minutes=1))
    assert "remind" in [h.bpmn_id for h in fresh.history(workflow)]


def test_state_is_stored_without_the_spec_and_round_trips(runtime: WorkflowRuntime) -> None:
    definition = compile_one("approval.bpmn").spec_json
    workflow = submitted(runtime)
    state, version = runtime.dump(workflow)
    stored = json.loads(state)
    assert version == stored["serializer_version"] == "1.5"
    assert "spec" not in stored and "subprocess_specs" not in stored
    assert "task_specs" not in state and "camunda:formData" not in state and "candidateGroups" not in state
    assert len(state) < len(definition)
    restored = runtime.load(definition, state)
    assert restored.spec is runtime.definition(definition).spec  # one cached spec per definition
    assert runtime.ready_user_tasks(restored) == runtime.ready_user_tasks(workflow)
    runtime.complete_user_task(restored, only(runtime.ready_user_tasks(restored)).task_id, {"approved": True})
    assert runtime.is_completed(restored)


def test_bad_state_is_refused(runtime: WorkflowRuntime) -> None:
    definition = compile_one("approval.bpmn").spec_json
    with pytest.raises(Exception, match="cannot be loaded") as caught:
        runtime.load(definition, "{not json")
    assert caught.value.code == "state_invalid"


def test_completing_a_task_that_is_not_ready_is_refused(runtime: WorkflowRuntime) -> None:
    workflow = started(runtime)
    submit = only(runtime.ready_user_tasks(workflow))
    future_review = next(t for t in workflow.get_tasks() if t.task_spec.name == "review")
    with pytest.raises(TaskNotReady) as caught:
        runtime.complete_user_task(workflow, str(future_review.id), {"approved": True})
    assert (caught.value.code, caught.value.bpmn_id, caught.value.state) == ("task_not_ready", "review",
                                                                            caught.value.state)
    assert caught.value.state in ("FUTURE", "LIKELY", "MAYBE")
    runtime.complete_user_task(workflow, submit.task_id, SUBMISSION)
    with pytest.raises(TaskNotReady, match="COMPLETED"):
        runtime.complete_user_task(workflow, submit.task_id, SUBMISSION)


def test_unknown_and_non_user_tasks_are_refused(runtime: WorkflowRuntime) -> None:
    workflow = submitted(runtime)
    with pytest.raises(TaskNotFound):
        runtime.complete_user_task(workflow, "00000000-0000-0000-0000-000000000000", {})
    with pytest.raises(TaskNotFound):
        runtime.complete_user_task(workflow, "not-a-guid", {})
    timer = next(t for t in workflow.get_tasks() if t.task_spec.name == "reminder_timer")
    with pytest.raises(WrongTaskType):
        runtime.complete_user_task(workflow, str(timer.id), {})


def test_missing_variable_in_a_condition_names_it(runtime: WorkflowRuntime) -> None:
    text = diagram("approval.bpmn").replace("${approved}</bpmn:conditionExpression>",
                                            "${aproved}</bpmn:conditionExpression>")
    workflow = started(runtime, compile_text({"a.bpmn": text}).spec_json)
    runtime.complete_user_task(workflow, only(runtime.ready_user_tasks(workflow)).task_id, SUBMISSION)
    with pytest.raises(ExpressionError) as caught:
        runtime.complete_user_task(workflow, only(runtime.ready_user_tasks(workflow)).task_id, {"approved": True})
    assert (caught.value.code, caught.value.variable, caught.value.bpmn_id) == ("variable_missing", "aproved",
                                                                               "gw_decision")
    assert "Did you mean 'approved'?" in str(caught.value)


def test_no_branch_taken_is_an_incident(runtime: WorkflowRuntime) -> None:
    text = diagram("approval.bpmn").replace("${!approved}", "${approved == 'never'}")
    workflow = started(runtime, compile_text({"a.bpmn": text}).spec_json)
    runtime.complete_user_task(workflow, only(runtime.ready_user_tasks(workflow)).task_id, SUBMISSION)
    with pytest.raises(EngineIncident) as caught:
        runtime.complete_user_task(workflow, only(runtime.ready_user_tasks(workflow)).task_id, {"approved": False})
    assert (caught.value.code, caught.value.bpmn_id) == ("gateway_no_match", "gw_decision")


def test_script_error_during_tick_is_wrapped_with_its_line(runtime: WorkflowRuntime) -> None:
    text = diagram("approval.bpmn").replace("reminder_count = 1", "reminder_count = 1\nreminder_count = 1 / 0")
    workflow = started(runtime, compile_text({"a.bpmn": text}).spec_json)
    runtime.complete_user_task(workflow, only(runtime.ready_user_tasks(workflow)).task_id, SUBMISSION, now=T0)
    with pytest.raises(ScriptFailed) as caught:
        runtime.tick(workflow, now=T0 + timedelta(days=3))
    assert (caught.value.bpmn_id, caught.value.line) == ("remind", 2)
    assert isinstance(caught.value.original, ZeroDivisionError)
    assert "ZeroDivisionError" in str(caught.value)


def test_message_is_delivered_to_the_waiting_event(runtime: WorkflowRuntime) -> None:
    workflow = runtime.start(compile_one("message.bpmn").spec_json, {}, initiator="t42")
    assert runtime.waiting_messages(workflow) == ["certificate_uploaded"]
    assert runtime.ready_user_tasks(workflow) == []
    with pytest.raises(Exception, match="not waiting") as caught:
        runtime.send_message(workflow, "other", {})
    assert caught.value.code == "message_not_awaited"
    runtime.send_message(workflow, "certificate_uploaded", {"file": "cert.pdf"})
    archive = only(runtime.ready_user_tasks(workflow), "archive")
    assert archive.role_codes == ["school_officer"]
    assert runtime.variables(workflow)["wait_certificate_Response"] == {"file": "cert.pdf"}


@pytest.mark.parametrize(("category", "hours", "end"), [("online", 35, "end_over"), ("online", 30, "end_ok"),
                                                         ("school_based", 100, "end_ok")])
def test_business_rule_task_runs_the_dmn(runtime: WorkflowRuntime, category: str, hours: int, end: str) -> None:
    definition = compile_one("credit_limits.dmn", "rules.bpmn")
    workflow = runtime.start(definition.spec_json, {"category": category, "hours": hours}, initiator="t42")
    assert runtime.is_completed(workflow)
    assert end in [h.bpmn_id for h in runtime.history(workflow)]


def test_a_multi_instance_business_rule_task_runs_its_decision_per_instance(runtime: WorkflowRuntime) -> None:
    """A business rule task keeps its multi-instance loop (the DMN task parser is wrapped like every activity's):
    each category's limit is collected, one entry per instance."""
    collect = ('      <bpmn:extensionElements><camunda:properties><camunda:property name="collect" value="limits" />'
               "</camunda:properties></bpmn:extensionElements>\n")
    loop = ('      <bpmn:multiInstanceLoopCharacteristics isSequential="true" camunda:collection="categories" '
            'camunda:elementVariable="category" />\n')
    text = (diagram("rules.bpmn")
            .replace("      <bpmn:incoming>flow_1</bpmn:incoming>\n",
                     collect + "      <bpmn:incoming>flow_1</bpmn:incoming>\n", 1)
            .replace("      <bpmn:outgoing>flow_2</bpmn:outgoing>\n",
                     "      <bpmn:outgoing>flow_2</bpmn:outgoing>\n" + loop, 1))
    definition = compile_text({"credit_limits.dmn": diagram("credit_limits.dmn"), "rules.bpmn": text})
    workflow = runtime.start(definition.spec_json, {"categories": ["centralised", "online"], "hours": 10},
                             initiator="t42")
    assert runtime.is_completed(workflow)
    assert [entry["max_hours"] for entry in runtime.variables(workflow)["limits"]] == [40, 30]


def test_a_receive_task_waits_is_stored_and_goes_on_with_its_message(runtime: WorkflowRuntime) -> None:
    """Camunda 7: a receive task waits for its message. Its (plain BPMN) message definition is stored with the
    instance, and the message sent to the instance completes it."""
    definition = compile_one("reference/receive_task.bpmn").spec_json
    workflow = runtime.start(definition, {}, initiator="t42")
    assert runtime.waiting_messages(workflow) == ["reviewed"] and not runtime.is_completed(workflow)
    restored = runtime.load(definition, runtime.dump(workflow)[0])
    runtime.send_message(restored, "reviewed", {"receipt": "已收到"})
    assert runtime.is_completed(restored)
    assert runtime.variables(restored)["receipt"] == "已收到"


def test_state_from_an_older_serializer_version_is_migrated(runtime: WorkflowRuntime) -> None:
    definition = compile_one("approval.bpmn").spec_json
    stored = json.loads(runtime.dump(submitted(runtime))[0])
    stored["serializer_version"] = "1.4"
    restored = runtime.load(definition, json.dumps(stored))
    runtime.complete_user_task(restored, only(runtime.ready_user_tasks(restored)).task_id, {"approved": True})
    assert runtime.is_completed(restored)


def test_data_that_cannot_be_stored_is_reported(runtime: WorkflowRuntime) -> None:
    workflow = started(runtime)
    workflow.task_tree.data["odd"] = object()
    with pytest.raises(Exception, match="cannot be stored") as caught:
        runtime.dump(workflow)
    assert caught.value.code == "data_not_serializable"


def inclusive_diagram(*, default: bool = True) -> str:
    """An inclusive gateway as Camunda Modeler draws one: a user task on one branch, a script on another, a default
    branch; an inclusive join; then a script that counts how often the join let a token through."""
    from engine_support import process_xml, script_node

    split = 'name="需要哪些审核" default="flow_3"' if default else 'name="需要哪些审核"'
    nodes = [("startEvent", "start", "", ""),
             ("inclusiveGateway", "split", split, ""),
             ("userTask", "extras_review", 'name="附加材料审核" camunda:assignee="${initiator}"', ""),
             script_node("long_course", "long_course = True", "长课程"),
             script_node("routine", "routine = True", "常规"),
             ("inclusiveGateway", "join", 'name="汇合"', ""),
             script_node("count", "joined += 1", "计数"),
             ("endEvent", "end", "", "")]
    flows = [("start", "split", None), ("split", "extras_review", "${not empty extras}"),
             ("split", "long_course", "${hours > 40}"), ("split", "routine", None if default else "${hours < 0}"),
             ("extras_review", "join", None), ("long_course", "join", None), ("routine", "join", None),
             ("join", "count", None), ("count", "end", None)]
    return process_xml("inclusive", nodes, flows)


@pytest.mark.parametrize(("extras", "hours", "branches"), [
    ({"证书": "附件1"}, 50, ["extras_review", "long_course"]),
    ({}, 50, ["long_course"]),
    ({"证书": "附件1"}, 8, ["extras_review"]),
    ({}, 8, ["routine"]),
])
def test_an_inclusive_gateway_runs_as_in_camunda_7(runtime: WorkflowRuntime, extras: dict, hours: int,
                                                   branches: list[str]) -> None:
    """Every flow whose condition holds is taken, the default only when none does; the join waits for every branch
    taken, and only those (a map is ``empty`` when it has no entries)."""
    definition = compile_text({"inclusive.bpmn": inclusive_diagram()})
    workflow = runtime.start(definition.spec_json, {"extras": extras, "hours": hours, "joined": 0}, initiator="t42")
    waiting = runtime.ready_user_tasks(workflow)
    assert [task.bpmn_id for task in waiting] == [b for b in branches if b == "extras_review"]
    for task in waiting:
        assert runtime.variables(workflow)["joined"] == 0, "the join waits for the review"
        runtime.complete_user_task(workflow, task.task_id, {})
    data = runtime.variables(workflow)
    assert runtime.is_completed(workflow) and data["joined"] == 1
    assert [name for name in ("long_course", "routine") if data.get(name)] == [
        b for b in branches if b != "extras_review"]


def test_an_inclusive_gateway_without_a_true_condition_or_default_stops_naming_it(runtime: WorkflowRuntime) -> None:
    definition = compile_text({"inclusive.bpmn": inclusive_diagram(default=False)})
    with pytest.raises(EngineIncident) as caught:
        runtime.start(definition.spec_json, {"extras": {}, "hours": 8, "joined": 0}, initiator="t42")
    assert (caught.value.code, caught.value.bpmn_id) == ("gateway_no_match", "split")
