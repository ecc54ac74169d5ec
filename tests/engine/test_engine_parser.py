"""The extended Camunda parser: kept attributes survive the serializer; lanes name roles; timers are rewritten."""

from __future__ import annotations

import json

import pytest
from engine_support import ROLES, compile_one, diagram
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition

from webapp.engine import ExtendedCamundaParser, role_for_lane
from webapp.engine.parser import normalize_timers
from webapp.engine.specs import HumanTask, TopicServiceTask, build_registry, spec_from_json


def parse(name: str, process_id: str) -> tuple[object, dict[str, object]]:
    parser = ExtendedCamundaParser(known_roles=ROLES)
    parser.add_bpmn_str(diagram(name).encode(), filename=name)
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


def test_user_and_service_task_attributes_survive_a_round_trip() -> None:
    definition = compile_one("approval.bpmn")
    spec, _, meta = spec_from_json(build_registry(), definition.spec_json)
    assert meta["process_id"] == "simple_approval"
    submit, review = spec.task_specs["submit"], spec.task_specs["review"]
    assert isinstance(review, HumanTask)
    assert submit.extensions["camunda"] == {"assignee": "${initiator}", "inputs": {}, "outputs": {},
                                            "laneId": "Lane_teacher", "laneRole": "teacher"}
    assert review.extensions == {
        "inbox_category": "review",
        "camunda": {
            "candidateGroups": "principal", "dueDate": "P3D", "followUpDate": "P1D", "priority": "70",
            "inputs": {"requested": {"type": "text", "value": "${hours}"}},
            "outputs": {"reviewed_by_school": {"type": "text", "value": "${approved}"}},
            "laneId": "Lane_school_officer", "laneRole": "school_officer",
        },
    }
    hours = submit.form.fields[1]
    assert (hours.id, hours.type, hours.default_value) == ("hours", "long", "10")
    assert [(v.name, v.config) for v in hours.validation] == [("required", None), ("min", "1"), ("max", "40")]
    assert [o.id for o in submit.form.fields[2].options] == ["training", "research"]


def test_service_task_keeps_topic_and_typed_parameters() -> None:
    definition = compile_one("service.bpmn")
    spec, _, _ = spec_from_json(build_registry(), definition.spec_json)
    check = spec.task_specs["check"]
    assert isinstance(check, TopicServiceTask)
    assert check.extensions["camunda"] == {
        "type": "external", "topic": "credit_check", "outputs": {},
        "inputs": {
            "hours": {"type": "text", "value": "${hours}"},
            "teacher": {"type": "text", "value": "${initiator}"},
            "source": {"type": "text", "value": "yanxun"},
            "levels": {"type": "list", "items": [{"type": "text", "value": "school"},
                                                 {"type": "text", "value": "${level}"}]},
        },
    }
    assert definition.topics == {"credit_check"}
    assert definition.roles == {"teacher"}


def test_spec_json_is_plain_json_with_the_spec_and_hash() -> None:
    definition = compile_one("credit_review.bpmn")
    stored = json.loads(definition.spec_json)
    assert stored["format"] == "yanxun-spec/1"
    assert stored["content_hash"] == definition.content_hash
    assert "subgroup_review" in stored["spec"]["task_specs"]


@pytest.mark.parametrize(("lane_id", "lane_name", "role"), [
    ("teacher", "教师", "teacher"),
    ("Lane_teacher", "教师", "teacher"),
    ("Lane_school_officer", "学校师训专干", "school_officer"),
    ("Lane_0x8ab12", "school_officer", "school_officer"),
    ("Lane_0x8ab12", "教师", None),
    ("teachers", "教师", None),
    ("Lane_officer", None, None),
])
def test_lane_role_rule(lane_id: str, lane_name: str | None, role: str | None) -> None:
    assert role_for_lane(lane_id, lane_name, ROLES) == role


def test_longest_matching_role_code_wins() -> None:
    assert role_for_lane("Lane_school_officer", None, {"officer", "school_officer"}) == "school_officer"


def test_bare_iso_timer_is_rewritten_as_a_string() -> None:
    spec, _ = parse("approval.bpmn", "simple_approval")
    timer = spec.task_specs["reminder_timer"].event_definition
    assert isinstance(timer, DurationTimerEventDefinition)
    assert timer.expression == "'PT48H'"
    normalize_timers(spec)  # idempotent
    assert timer.expression == "'PT48H'"
