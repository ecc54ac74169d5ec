"""The deploy report: every problem of an upload in one pass, each named; what Camunda 7 runs is not refused."""

from __future__ import annotations

import pytest
from engine_support import T0, check, compile_text, diagram, line_of, mutate

from webapp.engine import Problem, Report, WorkflowRuntime
from webapp.engine.expressions import variable_of

SUBMISSION = {"title": "机器人课程", "hours": "12", "category": "research", "course_date": "2026-02-20",
              "online": True}


def named(report: Report) -> list[tuple[str, str, int | None, str | None, str | None]]:
    return sorted((p.file, p.code, p.line, p.element_id, p.element_name) for p in report.problems)


def run_to_the_end(runtime: WorkflowRuntime, bpmn: str, approved: object) -> list[tuple[str, str]]:
    """Start the approval diagram, submit, review; the ids of the elements that completed."""
    workflow = runtime.start(compile_text({"approval.bpmn": bpmn}).spec_json, {"school": "S-17"}, initiator="t42",
                             now=T0)
    [submit] = runtime.ready_user_tasks(workflow)
    runtime.complete_user_task(workflow, submit.task_id, SUBMISSION, now=T0)
    [review] = runtime.ready_user_tasks(workflow)
    runtime.complete_user_task(workflow, review.task_id, {"approved": approved, "comment": "ok"}, now=T0)
    assert runtime.is_completed(workflow)
    return [h.bpmn_id for h in runtime.history(workflow) if h.state == "COMPLETED"]


# -- data stores and data objects: documentation -------------------------------------------------------------

DATA = (
    ('    <bpmn:startEvent id="start" name="开始">',
     '    <bpmn:dataStoreReference id="ledger" name="学时&#10;台账" />\n'
     '    <bpmn:dataObjectReference id="form_ref" name="申请表" dataObjectRef="form_data" />\n'
     '    <bpmn:dataObject id="form_data" />\n'
     '    <bpmn:startEvent id="start" name="开始">'),
    ('<bpmn:outgoing>flow_submitted</bpmn:outgoing>\n    </bpmn:userTask>',
     '<bpmn:outgoing>flow_submitted</bpmn:outgoing>\n'
     '      <bpmn:dataOutputAssociation id="to_form"><bpmn:targetRef>form_ref</bpmn:targetRef>'
     '</bpmn:dataOutputAssociation>\n    </bpmn:userTask>'),
    ('<bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n',
     '<bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n'
     '      <bpmn:property id="Property_review" name="__targetRef_placeholder" />\n'
     '      <bpmn:dataInputAssociation id="from_form"><bpmn:sourceRef>form_ref</bpmn:sourceRef>'
     '<bpmn:targetRef>Property_review</bpmn:targetRef></bpmn:dataInputAssociation>\n'
     '      <bpmn:dataOutputAssociation id="to_ledger"><bpmn:targetRef>ledger</bpmn:targetRef>'
     '</bpmn:dataOutputAssociation>\n'),
    ("    </bpmndi:BPMNPlane>",
     '      <bpmndi:BPMNShape id="ledger_di" bpmnElement="ledger"><dc:Bounds x="600" y="400" width="50" height="50" />'
     '</bpmndi:BPMNShape>\n'
     '      <bpmndi:BPMNShape id="form_ref_di" bpmnElement="form_ref"><dc:Bounds x="300" y="400" width="36" '
     'height="50" /></bpmndi:BPMNShape>\n'
     '      <bpmndi:BPMNEdge id="to_form_di" bpmnElement="to_form"><di:waypoint x="350" y="160" />'
     '<di:waypoint x="318" y="400" /></bpmndi:BPMNEdge>\n'
     '      <bpmndi:BPMNEdge id="from_form_di" bpmnElement="from_form"><di:waypoint x="336" y="420" />'
     '<di:waypoint x="500" y="300" /></bpmndi:BPMNEdge>\n'
     '      <bpmndi:BPMNEdge id="to_ledger_di" bpmnElement="to_ledger"><di:waypoint x="550" y="300" />'
     '<di:waypoint x="600" y="420" /></bpmndi:BPMNEdge>\n'
     "    </bpmndi:BPMNPlane>"),
)


def test_documentary_data_stores_and_objects_deploy_with_a_warning_and_run(runtime: WorkflowRuntime) -> None:
    text = mutate(*DATA)
    report = check({"approval.bpmn": text})
    assert report.ok, [(p.code, p.message) for p in report.errors]
    assert named(report) == [
        ("approval.bpmn", "data_reference_ignored", line_of(text, '<bpmn:dataStoreReference id="ledger"'), "ledger",
         "学时 台账"),
        ("approval.bpmn", "data_reference_ignored", line_of(text, '<bpmn:dataObjectReference id="form_ref"'),
         "form_ref", "申请表"),
    ]
    assert {p.severity for p in report.problems} == {"warning"}
    assert "documentation only" in report.problems[0].message
    assert report.definitions["simple_approval"].bpmn_xml == text, "the stored diagram keeps them"
    completed = run_to_the_end(runtime, text, True)
    assert completed[-1] == "end_approved"


# -- #{...} is ${...} ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("approved", "end"), [(True, "end_approved"), (False, "end_rejected")])
def test_hash_expressions_are_accepted_and_run_like_dollar_ones(runtime: WorkflowRuntime, approved: bool,
                                                                 end: str) -> None:
    text = mutate(("${approved}</bpmn:conditionExpression>", "#{approved}</bpmn:conditionExpression>"),
                  ("${!approved}</bpmn:conditionExpression>", "#{ !approved }</bpmn:conditionExpression>"),
                  ('camunda:assignee="${initiator}"', 'camunda:assignee="#{initiator}"'),
                  ("<camunda:outputParameter name=\"reviewed_by_school\">${approved}",
                   "<camunda:outputParameter name=\"reviewed_by_school\">#{approved}"))
    assert check({"approval.bpmn": text}).problems == []
    assert end in run_to_the_end(runtime, text, approved)


# -- multi-instance collection as an expression ----------------------------------------------------------------

@pytest.mark.parametrize("collection", ["reviewers", "${reviewers}", "#{reviewers}", " ${ reviewers } "])
def test_a_collection_may_be_written_as_an_expression(collection: str) -> None:
    text = mutate(("      <bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n",
                   "      <bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n      <bpmn:multiInstanceLoopCharacteristics "
                   f'camunda:collection="{collection}" camunda:elementVariable="reviewer" />\n'))
    assert check({"approval.bpmn": text}).ok
    assert variable_of(collection) == "reviewers"


def test_a_collection_expression_giving_a_list_is_accepted() -> None:
    """``${a.b}`` is not a bare name but an expression that gives the list, as Camunda 7 allows."""
    text = mutate(("      <bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n",
                   "      <bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n      <bpmn:multiInstanceLoopCharacteristics "
                   'camunda:collection="${a.b}" camunda:elementVariable="reviewer" />\n'))
    assert check({"approval.bpmn": text}).ok
    assert variable_of("${a.b}") is None


@pytest.mark.parametrize(("collection", "code"), [
    ("${reviewers()}", "expression_unsupported"), ("reviewers[0]", "mi_collection_invalid"),
    ("${class}", "expression_unsupported"), ("${a} ${b}", "expression_unsupported"), ("", "mi_collection_invalid")])
def test_a_collection_that_is_no_variable_nor_expression_is_refused(collection: str, code: str) -> None:
    text = mutate(("      <bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n",
                   "      <bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n      <bpmn:multiInstanceLoopCharacteristics "
                   f'camunda:collection="{collection}" camunda:elementVariable="reviewer" />\n'))
    report = check({"approval.bpmn": text})
    assert [(p.code, p.element_id) for p in report.errors] == [(code, "review")]
    assert variable_of(collection) is None


# -- one pass --------------------------------------------------------------------------------------------------

def two_decisions(dmn: str) -> str:
    decision = dmn[dmn.index("  <decision"):dmn.index("  <dmndi:DMNDI>")]
    return dmn.replace(decision, decision + decision.replace('id="', 'id="x_'))


def test_every_problem_of_an_upload_is_reported_in_one_pass_with_file_line_and_element() -> None:
    """Problems SpiffWorkflow stops at (a loop marker without a condition) and the lint's own, in one file and in
    several, of the same element and of others, a DMN cell of a file with two decisions: all in the first report."""
    approval = mutate(
        *DATA,  # fine: documentation (warnings)
        ("<bpmn:targetRef>form_ref</bpmn:targetRef></bpmn:dataOutputAssociation>\n",
         "<bpmn:targetRef>form_ref</bpmn:targetRef></bpmn:dataOutputAssociation>\n"
         "      <bpmn:standardLoopCharacteristics />\n"),
        ('camunda:candidateGroups="principal"', 'camunda:candidateGroups="principle"'),
        ('id="review" name="学校审核"', 'id="review" name="学校\n      审核"'),
        ("<bpmn:targetRef>ledger</bpmn:targetRef></bpmn:dataOutputAssociation>\n",
         "<bpmn:targetRef>ledger</bpmn:targetRef></bpmn:dataOutputAssociation>\n"
         "      <bpmn:standardLoopCharacteristics>"
         '<bpmn:loopCondition xsi:type="bpmn:tFormalExpression">${again}</bpmn:loopCondition>'
         "</bpmn:standardLoopCharacteristics>\n"),
        (">PT48H<", ">PT48X<"),
    )
    dmn = two_decisions(diagram("credit_limits.dmn")).replace('"online"', "'online'", 1)  # Python quotes
    c8 = diagram("camunda8_order.bpmn")
    files = {"approval.bpmn": approval, "rules.bpmn": diagram("rules.bpmn"), "limits.dmn": dmn,
             "c8.bpmn": c8, "broken.bpmn": "<bpmn:definitions"}
    report = check(files)
    errors = sorted((p.file, p.code, p.line, p.element_id, p.element_name) for p in report.errors)
    assert errors == sorted([
        ("approval.bpmn", "loop_unsupported", line_of(approval, "<bpmn:standardLoopCharacteristics />"), "submit",
         "提交申请"),
        # libxml2 gives a start tag that spans lines the line where it ends
        ("approval.bpmn", "candidate_group_unknown", line_of(approval, '审核" camunda:candidateGroups'), "review",
         "学校 审核"),
        ("approval.bpmn", "loop_unsupported", line_of(approval, "<bpmn:standardLoopCharacteristics><bpmn:loop"),
         "review", "学校 审核"),
        ("approval.bpmn", "timer_invalid", line_of(approval, ">PT48X<"), "reminder_timer", "48小时提醒"),
        ("broken.bpmn", "xml_malformed", 1, None, None),
        ("c8.bpmn", "camunda8_unsupported", line_of(c8, "<zeebe:assignmentDefinition"), "review", "Review"),
        ("limits.dmn", "dmn_cell_invalid", line_of(dmn, "'online'"), "credit_limits", "学时上限"),
    ])
    [cell] = [p for p in report.errors if p.file == "limits.dmn"]
    assert "double quotes" in cell.message, "a file of two decisions loads; its cells are checked"
    assert [p.code for p in report.warnings] == ["data_reference_ignored"] * 2
    assert not report.definitions


def test_a_loop_marker_alone_is_refused_at_once_naming_the_task() -> None:
    text = mutate(("<bpmn:outgoing>flow_submitted</bpmn:outgoing>\n",
                   "<bpmn:outgoing>flow_submitted</bpmn:outgoing>\n      <bpmn:standardLoopCharacteristics />\n"))
    [problem] = check({"approval.bpmn": text}).problems
    assert (problem.code, problem.element_id, problem.line) == (
        "loop_unsupported", "submit", line_of(text, "<bpmn:standardLoopCharacteristics />"))
    assert "exclusive gateway" in problem.message


# -- names on one line -----------------------------------------------------------------------------------------

def test_names_with_line_breaks_are_reported_on_one_line() -> None:
    text = mutate(('id="review" name="学校审核"', 'id="review" name="学校&#10;审核\n  （初审）"'),
                  (' camunda:candidateGroups="principal"', ""), ('camunda:priority="70"', 'camunda:priority="high"'),
                  ('name="学校师训专干"', 'name="学校&#13;&#10;师训专干"'), ("Lane_school_officer", "Lane_0x1"),
                  ('<bpmn:sequenceFlow id="flow_rejected" name="驳回"', '<bpmn:sequenceFlow id="flow_rejected" '
                   'name="驳&#10;回"'),
                  ('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${!approved}'
                   "</bpmn:conditionExpression>", ""))
    report = check({"approval.bpmn": text})
    codes = {p.code: p for p in report.errors}
    assert set(codes) == {"priority_invalid", "lane_role_unknown", "flow_condition_missing"}
    assert codes["priority_invalid"].element_name == "学校 审核 （初审）"
    assert codes["lane_role_unknown"].element_name == "学校 师训专干"
    assert "'学校 师训专干'" in codes["lane_role_unknown"].message
    assert "Flow '驳 回' leaves" in codes["flow_condition_missing"].message
    assert all("\n" not in (p.element_name or "") + p.message for p in report.problems)
    assert Problem("x", "m", "f", element_name="a\n b").element_name == "a b"


def test_a_schema_error_on_an_element_without_id_names_the_nearest_element_with_one() -> None:
    text = mutate(("<bpmn:outgoing>flow_submitted</bpmn:outgoing>\n    </bpmn:userTask>",
                   "<bpmn:outgoing>flow_submitted</bpmn:outgoing>\n      <bpmn:standardLoopCharacteristics />\n"
                   '      <bpmn:dataOutputAssociation id="to_form"><bpmn:targetRef>submit</bpmn:targetRef>'
                   "</bpmn:dataOutputAssociation>\n    </bpmn:userTask>"))
    report = check({"approval.bpmn": text})
    assert named(report) == [
        ("approval.bpmn", "loop_unsupported", line_of(text, "<bpmn:standardLoopCharacteristics />"), "submit",
         "提交申请"),
        ("approval.bpmn", "xsd_invalid", line_of(text, '<bpmn:dataOutputAssociation id="to_form">'), "to_form", None),
    ]
