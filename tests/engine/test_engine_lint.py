"""Upload checks: each problem class, with file, line, element and a stable code; one report for everything."""

from __future__ import annotations

import pytest
from engine_support import TOPICS, check, diagram, error_codes, line_of, mutate

from webapp.engine import DefinitionInvalid, Problem, Report, deploy

APPROVAL = diagram("approval.bpmn")


def problems(report: Report, code: str) -> list[Problem]:
    found = [p for p in report.problems if p.code == code]
    assert found, f"no {code} in {[(p.code, p.message) for p in report.problems]}"
    return found


def test_clean_diagrams_compile() -> None:
    report = check({"approval.bpmn": APPROVAL, "service.bpmn": diagram("service.bpmn")})
    assert report.ok and not report.problems
    assert set(report.definitions) == {"simple_approval", "service_check"}
    approval = report.definitions["simple_approval"]
    assert approval.name == "学时申请（简版）"
    assert approval.file_name == "approval.bpmn"
    assert approval.bpmn_xml == APPROVAL
    assert approval.roles == {"teacher", "principal", "school_officer"}
    assert len(approval.content_hash) == 64
    assert approval.content_hash == report.definitions["service_check"].content_hash


def test_content_hash_ignores_file_names_and_attribute_order() -> None:
    first = check({"a.bpmn": APPROVAL}).content_hash
    reordered = APPROVAL.replace('<bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="submit" />',
                                 '<bpmn:sequenceFlow targetRef="submit" sourceRef="start" id="flow_start" />')
    assert check({"renamed.bpmn": reordered}).content_hash == first
    assert check({"a.bpmn": APPROVAL.replace("提交申请", "提交")}).content_hash != first


def test_malformed_xml_reports_its_line() -> None:
    broken = APPROVAL.replace("</bpmn:startEvent>", "</bpmn:startEvnt>", 1)
    report = check({"broken.bpmn": broken})
    [problem] = report.problems
    assert (problem.code, problem.file, problem.line) == ("xml_malformed", "broken.bpmn",
                                                         line_of(broken, "</bpmn:startEvnt>"))
    assert "startEvnt" in problem.message
    assert not report.definitions


def with_doctype(declarations: str, reference: str, text: str = APPROVAL) -> str:
    head, rest = text.split("\n", 1)
    rest = rest.replace("<bpmn:documentation>", f"<bpmn:documentation>{reference}", 1)
    return f"{head}\n<!DOCTYPE bpmn:definitions [\n{declarations}\n]>\n{rest}"


def test_external_entity_is_refused_before_it_is_read(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42", encoding="utf-8")
    for url in (f"file://{secret}", "http://127.0.0.1:9/x.dtd"):
        report = check({"evil.bpmn": with_doctype(f'<!ENTITY x SYSTEM "{url}">', "&x;")})
        [problem] = report.problems
        assert (problem.code, problem.file, problem.line) == ("doctype_forbidden", "evil.bpmn", 2)
        assert "Delete the <!DOCTYPE ...> declaration" in problem.message
        assert not report.definitions


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "gb18030"])
def test_entity_expansion_bomb_is_refused(encoding) -> None:
    laughs = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 10))
    text = with_doctype(laughs, "&a9;").replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"', 1)
    report = check({"laughs.bpmn": text.encode(encoding)})
    assert [(p.code, p.line) for p in report.problems] == [("doctype_forbidden", 2)]


def test_any_doctype_is_refused() -> None:
    plain = APPROVAL.replace("\n", '\n<!DOCTYPE bpmn:definitions SYSTEM "bpmn.dtd">\n', 1)
    assert [(p.code, p.line) for p in check({"a.bpmn": plain}).problems] == [("doctype_forbidden", 2)]


def test_camunda8_file_is_rejected_once_at_its_first_zeebe_element() -> None:
    text = diagram("camunda8_order.bpmn")
    report = check({"order.bpmn": text})
    assert [(p.code, p.line, p.element_id, p.element_name) for p in report.problems] == [
        ("camunda8_unsupported", line_of(text, "<zeebe:assignmentDefinition"), "review", "Review")]
    assert "Camunda 7" in report.problems[0].message
    assert "zeebe:assignmentDefinition" in report.problems[0].message


def test_diagram_without_di_is_rejected() -> None:
    start = APPROVAL.index("  <bpmndi:BPMNDiagram")
    end = APPROVAL.index("</bpmndi:BPMNDiagram>") + len("</bpmndi:BPMNDiagram>\n")
    report = check({"no_di.bpmn": APPROVAL[:start] + APPROVAL[end:]})
    assert error_codes(report) == ["di_missing"]
    assert "Camunda Modeler cannot open it" in report.errors[0].message


def test_missing_shape_and_edge_are_named() -> None:
    shape = APPROVAL[APPROVAL.index('      <bpmndi:BPMNShape id="review_di"'):]
    shape = shape[:shape.index("</bpmndi:BPMNShape>\n") + len("</bpmndi:BPMNShape>\n")]
    edge = APPROVAL[APPROVAL.index('      <bpmndi:BPMNEdge id="flow_approved_di"'):]
    edge = edge[:edge.index("</bpmndi:BPMNEdge>\n") + len("</bpmndi:BPMNEdge>\n")]
    report = check({"a.bpmn": mutate((shape, ""), (edge, ""))})
    assert error_codes(report) == ["di_edge_missing", "di_shape_missing"]
    [missing] = problems(report, "di_shape_missing")
    review_line = line_of(APPROVAL, '<bpmn:userTask id="review"')
    assert (missing.element_id, missing.element_name, missing.line) == ("review", "学校审核", review_line)


def test_unsupported_element_and_unknown_task_type() -> None:
    gateway = mutate(("bpmn:exclusiveGateway", "bpmn:complexGateway"))
    assert "element_unsupported" in error_codes(check({"a.bpmn": gateway}))
    fancy = mutate(("bpmn:scriptTask", "bpmn:fancyTask"))
    [problem] = problems(check({"a.bpmn": fancy}), "xsd_invalid")
    assert problem.line == line_of(fancy, "<bpmn:fancyTask")
    assert problem.element_id == "remind"
    assert "bpmn:fancyTask" in problem.message


@pytest.mark.parametrize(("old", "new", "code", "needle"), [
    ("${approved}</bpmn:conditionExpression>", "${approved ? 1 : 0}</bpmn:conditionExpression>",
     "expression_unsupported", "${approved ? 1 : 0}"),
    ("${!approved}</bpmn:conditionExpression>", "#{!approved ? 1 : 0}</bpmn:conditionExpression>",
     "expression_unsupported", "#{!approved ? 1 : 0}"),
    ("${approved}</bpmn:conditionExpression>", "=approved</bpmn:conditionExpression>", "feel_unsupported", "=approved"),
    ("${approved}</bpmn:conditionExpression>", "approved ==</bpmn:conditionExpression>", "expression_syntax",
     "approved =="),
    ('camunda:assignee="${initiator}"', 'camunda:assignee="${user.name()}"', "expression_unsupported",
     'camunda:assignee="${user.name()}"'),
    ('camunda:candidateGroups="principal"', 'camunda:candidateGroups="${groups[0]}"', "expression_unsupported",
     'camunda:candidateGroups="${groups[0]}"'),
    ('camunda:dueDate="P3D"', 'camunda:dueDate="tomorrow"', "date_invalid", 'camunda:dueDate="tomorrow"'),
    ('camunda:priority="70"', 'camunda:priority="high"', "priority_invalid", 'camunda:priority="high"'),
    (">PT48H<", ">PT48X<", "timer_invalid", ">PT48X<"),
    (">PT48H<", ">0 0 9 * * ?<", "timer_cron_unsupported", ">0 0 9 * * ?<"),
    (">PT48H<", ">0 9 * * 1-5<", "timer_cron_unsupported", ">0 9 * * 1-5<"),
    ('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT48H</bpmn:timeDuration>',
     '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">P3D</bpmn:timeCycle>', "timer_invalid", ">P3D<"),
    ("<bpmn:script>reminder_count = 1</bpmn:script>", "<bpmn:script>reminder_count = 1\nx = = 2</bpmn:script>",
     "script_syntax", "x = = 2"),
    ("<bpmn:script>reminder_count = 1</bpmn:script>", "<bpmn:script>import os</bpmn:script>",
     "script_forbidden", "import os"),
    ('scriptFormat="python"', 'scriptFormat="groovy"', "script_format_unsupported", 'scriptFormat="groovy"'),
    ('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${approved}',
     '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="javascript">approved',
     "condition_language_unsupported", 'language="javascript"'),
])
def test_bad_expressions_are_reported_where_they_are(old: str, new: str, code: str, needle: str) -> None:
    text = mutate((old, new))
    report = check({"a.bpmn": text})
    assert error_codes(report) == [code]
    assert report.errors[0].line == line_of(text, needle)
    assert report.errors[0].element_id is not None



@pytest.mark.parametrize("gateway", ["exclusiveGateway", "inclusiveGateway"])
def test_a_gateway_flow_without_condition_that_is_not_the_default_is_refused(gateway: str) -> None:
    """Camunda 7 would take it as if its condition held; SpiffWorkflow cannot run it. Refused at deploy, named."""
    unconditioned = ('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${!approved}'
                     '</bpmn:conditionExpression>', "")
    text = mutate(unconditioned, ("bpmn:exclusiveGateway", f"bpmn:{gateway}"))
    report = check({"a.bpmn": text})
    assert error_codes(report) == ["flow_condition_missing"]
    [problem] = report.errors
    assert (problem.element_id, problem.element_name) == ("flow_rejected", "驳回")
    assert problem.line == line_of(text, '<bpmn:sequenceFlow id="flow_rejected"')
    assert f"{gateway} '审核结果'" in problem.message
    default = ('id="gw_decision" name="审核结果"', 'id="gw_decision" name="审核结果" default="flow_rejected"')
    as_default = mutate(unconditioned, ("bpmn:exclusiveGateway", f"bpmn:{gateway}"), default)
    assert check({"a.bpmn": as_default}).ok, "the default flow needs no condition"

def test_lane_must_name_a_role() -> None:
    report = check({"a.bpmn": mutate(("Lane_teacher", "Lane_0f3k2a"))})
    [problem] = problems(report, "lane_role_unknown")
    assert (problem.element_id, problem.element_name) == ("Lane_0f3k2a", "教师")
    assert "Lane_teacher" in problem.message
    assert problem.params == {"lane": "Lane_0f3k2a"}


def test_lane_without_role_is_fine_when_candidate_groups_route_the_task() -> None:
    groups = ('camunda:assignee="${initiator}"', 'camunda:assignee="${initiator}" camunda:candidateGroups="teacher"')
    text = mutate(("Lane_teacher", "Lane_0f3k2a"), groups)
    assert check({"a.bpmn": text}).ok


def test_unknown_candidate_group() -> None:
    report = check({"a.bpmn": mutate(('camunda:candidateGroups="principal"', 'camunda:candidateGroups="principle"'))})
    [problem] = problems(report, "candidate_group_unknown")
    assert (problem.element_id, problem.params) == ("review", {"role": "principle"})


def test_task_nobody_can_work_on() -> None:
    text = mutate((' camunda:candidateGroups="school_officer"', ""), text=diagram("message.bpmn"))
    assert error_codes(check({"m.bpmn": text})) == ["task_unroutable"]


def test_unknown_service_topic() -> None:
    report = check({"s.bpmn": diagram("service.bpmn")}, topics=frozenset({"notify"}))
    [problem] = report.errors
    assert (problem.code, problem.element_id, problem.params) == ("service_topic_unknown", "check",
                                                                   {"topic": "credit_check"})


@pytest.mark.parametrize(("old", "new", "code"), [
    ('camunda:type="external" camunda:topic="credit_check"', 'camunda:expression="${mailer.send(x)}"',
     "service_expression_unsupported"),
    ('camunda:type="external" camunda:topic="credit_check"', 'camunda:type="external"', "service_topic_missing"),
    ('camunda:type="external" camunda:topic="credit_check"', "", "service_implementation_missing"),
    ('camunda:type="external" camunda:topic="credit_check"', 'camunda:delegateExpression="${creditCheck}"',
     "service_topic_unknown"),
])
def test_service_implementations(old: str, new: str, code: str) -> None:
    assert error_codes(check({"s.bpmn": mutate((old, new), text=diagram("service.bpmn"))})) == [code]


def test_java_style_delegate_names_a_registered_topic() -> None:
    delegate = ('camunda:type="external" camunda:topic="credit_check"', 'camunda:delegateExpression="${credit_check}"')
    text = mutate(delegate, text=diagram("service.bpmn"))
    assert check({"s.bpmn": text}).ok


def test_form_key_must_be_registered() -> None:
    text = mutate(('camunda:assignee="${initiator}"', 'camunda:assignee="${initiator}" camunda:formKey="credit_form"'))
    assert error_codes(check({"a.bpmn": text})) == ["form_key_unknown"]
    assert check({"a.bpmn": text}, form_keys=frozenset({"credit_form"})).ok


@pytest.mark.parametrize(("old", "new", "code"), [
    ('type="date" />', 'type="file" />', "form_field_type_unsupported"),
    ('<camunda:constraint name="min" config="1" />', '<camunda:constraint name="validator" config="x" />',
     "form_constraint_unsupported"),
    ('<camunda:constraint name="min" config="1" />', '<camunda:constraint name="min" config="one" />',
     "form_constraint_invalid"),
    ('<camunda:value id="training"', '<camunda:value id="submit"', "id_collision"),
    ('id="course_date"', 'id="course-date"', "form_field_id_invalid"),
    ('type="long" defaultValue="10"', 'type="long" defaultValue="ten"', "form_default_invalid"),
])
def test_form_field_problems(old: str, new: str, code: str) -> None:
    assert code in error_codes(check({"a.bpmn": mutate((old, new))}))


MULTI_INSTANCE = ("      <bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n",
                  "      <bpmn:outgoing>flow_reviewed</bpmn:outgoing>\n"
                  "      <bpmn:multiInstanceLoopCharacteristics{attrs}>{body}"
                  "</bpmn:multiInstanceLoopCharacteristics>\n")


def with_multi_instance(attrs: str = "", body: str = "") -> str:
    return mutate((MULTI_INSTANCE[0], MULTI_INSTANCE[1].format(attrs=attrs, body=body)))


def cardinality(text: str) -> str:
    return f'<bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">{text}</bpmn:loopCardinality>'


def completion(text: str) -> str:
    return f'<bpmn:completionCondition xsi:type="bpmn:tFormalExpression">{text}</bpmn:completionCondition>'


@pytest.mark.parametrize("text", ["3", "${reviewer_count}", "len(reviewers)"])
def test_multi_instance_cardinality_is_a_number_or_an_expression(text: str) -> None:
    assert check({"a.bpmn": with_multi_instance(body=cardinality(text))}).ok


@pytest.mark.parametrize("collection", ["reviewers", "${reviewers}", "#{reviewers}", "${form.reviewers}"])
def test_multi_instance_collection_with_counters_in_its_completion_condition(collection: str) -> None:
    attrs = f' camunda:collection="{collection}" camunda:elementVariable="reviewer"'
    body = completion("${nrOfCompletedInstances >= 2 || nrOfActiveInstances == 0}")
    assert check({"a.bpmn": with_multi_instance(attrs, body)}).ok


@pytest.mark.parametrize(("attrs", "body", "code"), [
    (' camunda:collection="reviewers"', "", "mi_element_variable_missing"),
    (' camunda:collection="reviewers" camunda:elementVariable="the reviewer"', "", "mi_element_variable_invalid"),
    (' camunda:collection="a, b" camunda:elementVariable="reviewer"', "", "mi_collection_invalid"),
    (' camunda:collection="the reviewers" camunda:elementVariable="reviewer"', "", "mi_collection_invalid"),
    (' camunda:collection="reviewers" camunda:elementVariable="reviewer"', cardinality("2"),
     "mi_cardinality_and_collection"),
    ("", "", "mi_cardinality_missing"),
    (' camunda:asyncBefore="true" camunda:collection="reviewers" camunda:elementVariable="reviewer"', "",
     "mi_async_unsupported"),
    (' camunda:asyncAfter="true"', cardinality("2"), "mi_async_unsupported"),
])
def test_multi_instance_problems_are_refused(attrs: str, body: str, code: str) -> None:
    problems = check({"a.bpmn": with_multi_instance(attrs, body)}).errors
    assert code in [p.code for p in problems]
    problem = next(p for p in problems if p.code == code)
    assert (problem.file, problem.element_id, problem.element_name) == ("a.bpmn", "review", "学校审核")
    assert problem.line


def test_multi_instance_counters_only_in_the_completion_condition() -> None:
    attrs = ' camunda:collection="reviewers" camunda:elementVariable="reviewer"'
    mutated = with_multi_instance(attrs, completion("${nrOfCompletedInstances >= 2}")).replace(
        'camunda:dueDate="P3D"', 'camunda:dueDate="${nrOfInstances}"', 1)
    [problem] = check({"a.bpmn": mutated}).errors
    assert (problem.code, problem.params) == ("mi_variable_unsupported", {"variable": "nrOfInstances"})
    assert check({"a.bpmn": with_multi_instance(attrs).replace(
        'camunda:priority="70"', 'camunda:priority="${loopCounter}"', 1)}).ok
    [problem] = check({"a.bpmn": mutate(('camunda:priority="70"', 'camunda:priority="${loopCounter}"'))}).errors
    assert (problem.code, problem.params) == ("mi_variable_unsupported", {"variable": "loopCounter"})


def test_multi_instance_collect_property_must_be_a_variable_name() -> None:
    attrs = ' camunda:collection="reviewers" camunda:elementVariable="reviewer"'
    anchor = '<camunda:property name="inbox_category" value="review" />'
    for value, ok in (("reviews", True), ("the reviews", False), ("reviewer", False)):
        collect = f'<camunda:property name="collect" value="{value}" />'
        text = with_multi_instance(attrs).replace(anchor, anchor + collect)
        assert check({"a.bpmn": text}).ok is ok, value


def test_task_with_two_outgoing_flows() -> None:
    flow = ('    <bpmn:sequenceFlow id="flow_shortcut" sourceRef="submit" targetRef="end_approved" />\n'
            "  </bpmn:process>")
    edge = ('      <bpmndi:BPMNEdge id="flow_shortcut_di" bpmnElement="flow_shortcut">\n'
            '        <di:waypoint x="400" y="180" />\n        <di:waypoint x="752" y="310" />\n'
            "      </bpmndi:BPMNEdge>\n    </bpmndi:BPMNPlane>")
    report = check({"a.bpmn": mutate(("  </bpmn:process>", flow), ("    </bpmndi:BPMNPlane>", edge))})
    assert error_codes(report) == ["implicit_split"]
    assert report.errors[0].element_id == "submit"


def test_dmn_decision_must_be_uploaded_and_cells_must_be_feel() -> None:
    assert error_codes(check({"rules.bpmn": diagram("rules.bpmn")})) == ["decision_missing"]
    python = diagram("credit_limits.dmn").replace('"online"', "'online'")
    report = check({"rules.bpmn": diagram("rules.bpmn"), "limits.dmn": python})
    [problem] = report.errors
    assert (problem.code, problem.file, problem.line) == ("dmn_cell_invalid", "limits.dmn", line_of(python, "'online'"))
    assert (problem.element_id, problem.element_name) == ("credit_limits", "学时上限")
    assert "double quotes" in problem.message


def test_a_decision_id_used_twice_in_an_upload_is_reported() -> None:
    dmn = diagram("credit_limits.dmn")
    report = check({"rules.bpmn": diagram("rules.bpmn"), "limits.dmn": dmn, "copy.dmn": dmn})
    assert "parse_failed" in error_codes(report)
    assert any("used twice" in p.message and p.line for p in report.errors)
    assert not report.definitions


def test_warnings_do_not_block() -> None:
    listener = ('<camunda:properties>', '<camunda:taskListener class="cn.Notify" event="create" />\n'
                '        <camunda:properties>')
    report = check({"a.bpmn": mutate(listener)})
    assert report.ok and report.definitions
    assert [(p.code, p.severity, p.element_id) for p in report.problems] == [("listener_ignored", "warning", "review")]


def test_one_report_lists_every_problem_of_the_upload() -> None:
    approval = mutate(
        ("Lane_teacher", "Lane_0f3k2a"),
        ('camunda:candidateGroups="principal"', 'camunda:candidateGroups="principle"'),
        ("${!approved}</bpmn:conditionExpression>", "${approved ? 0 : 1}</bpmn:conditionExpression>"),
        ("<bpmn:script>reminder_count = 1</bpmn:script>", "<bpmn:script>reminder_count = = 1</bpmn:script>"),
        (">PT48H<", ">PT48X<"),
    )
    files = {"approval.bpmn": approval, "service.bpmn": diagram("service.bpmn"), "broken.bpmn": "<bpmn:definitions",
             "c8.bpmn": diagram("camunda8_order.bpmn")}
    report = check(files, topics=frozenset())
    assert sorted((p.file, p.code) for p in report.errors) == [
        ("approval.bpmn", "candidate_group_unknown"),
        ("approval.bpmn", "expression_unsupported"),
        ("approval.bpmn", "lane_role_unknown"),
        ("approval.bpmn", "script_syntax"),
        ("approval.bpmn", "timer_invalid"),
        ("broken.bpmn", "xml_malformed"),
        ("c8.bpmn", "camunda8_unsupported"),
        ("service.bpmn", "service_topic_unknown"),
    ]
    assert all(p.line for p in report.errors)
    assert report.definitions == {}
    assert report.content_hash is None


def test_deploy_raises_with_the_report() -> None:
    with pytest.raises(DefinitionInvalid) as caught:
        deploy({"s.bpmn": diagram("service.bpmn")}, known_roles={"teacher"}, known_topics=set(), known_form_keys=set())
    assert caught.value.code == "definition_invalid"
    assert [p.code for p in caught.value.report.errors] == ["service_topic_unknown"]
    report = deploy({"s.bpmn": diagram("service.bpmn")}, known_roles={"teacher"}, known_topics=TOPICS,
                    known_form_keys=set())
    assert set(report.definitions) == {"service_check"}


def test_manual_task_is_refused() -> None:
    text = mutate(('<bpmn:userTask id="submit" name="提交申请" camunda:assignee="${initiator}">',
                   '<bpmn:manualTask id="submit" name="提交申请">'),
                  ('    </bpmn:userTask>\n    <bpmn:userTask id="review"',
                   '    </bpmn:manualTask>\n    <bpmn:userTask id="review"'))
    report = check({"approval.bpmn": text})
    (problem,) = problems(report, "manual_task_unsupported")
    assert problem.element_id == "submit"
    assert problem.line == line_of(text, '<bpmn:manualTask id="submit"')
    assert not report.definitions
