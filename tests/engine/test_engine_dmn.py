"""Decision tables as Camunda 7 runs them: FEEL cells, hit policies, result mapping, required decisions; and every
cell or attribute outside what YanXun runs refused at deploy with its file, line, decision, rule and column."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from engine_support import check, compile_text, diagram, error_codes, process_xml

from webapp.engine import EngineError, WorkflowRuntime
from webapp.engine.feel import FeelUnsupported, evaluate, matches, parse_expression, parse_unary_tests

RULES_DMN = diagram("review_rules.dmn")
PATH_DMN = diagram("approval_path.dmn")


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def set_cell(dmn: str, entry_id: str, text: str) -> str:
    """``dmn`` with the ``<text>`` of the entry ``entry_id`` replaced by ``text`` (XML-escaped)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    pattern = re.compile(rf'(id="{entry_id}">\s*<text>)[^<]*(</text>)')
    assert pattern.search(dmn), entry_id
    return pattern.sub(lambda m: m.group(1) + escaped + m.group(2), dmn, count=1)


def rule_task(decision: str, attributes: str = "", dmn: str = RULES_DMN) -> Any:
    """A process that runs one business rule task with ``attributes`` (resultVariable, mapDecisionResult...)."""
    bpmn = process_xml("rule_task", [
        ("startEvent", "start", "", ""),
        ("businessRuleTask", "decide", f'name="判定" camunda:decisionRef="{decision}" {attributes}', ""),
        ("endEvent", "end", "", ""),
    ], [("start", "decide", None), ("decide", "end", None)])
    return compile_text({"rule_task.bpmn": bpmn, "rules.dmn": dmn})


def run(runtime: WorkflowRuntime, definition: Any, **data: Any) -> dict[str, Any]:
    workflow = runtime.start(definition.spec_json, data, initiator="t42")
    assert runtime.is_completed(workflow)
    return runtime.variables(workflow)


# ---------------------------------------------------------------------------------------------------------
# Running: true/false, ranges, lists, not(...), -, null; FIRST and COLLECT; two decisions in one file
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "routing"), [
    ({"category": "training", "hours": 50, "online": True}, {"route": "county", "needs_expert": True}),
    ({"category": "research", "hours": 30, "online": True}, {"route": "school_online", "needs_expert": False}),
    ({"category": "training", "hours": 20, "online": True}, {"route": "default"}),  # ]20..40] leaves 20 out
    ({"category": "research", "hours": 20, "online": False}, {"route": "school", "needs_expert": False}),
    ({"category": "mentoring", "hours": 5, "online": False}, {"route": "other", "needs_expert": False}),  # not(...)
    ({"category": "training", "hours": None, "online": False}, {"route": "missing", "needs_expert": True}),  # null
    ({"category": "training"}, {"route": "missing", "needs_expert": True}),  # a missing variable reads as null
    ({"category": "training", "hours": 30, "online": False}, {"route": "default"}),  # empty output left out
])
def test_feel_cells_run_as_camunda_runs_them(runtime: WorkflowRuntime, data: dict[str, Any],
                                             routing: dict[str, Any]) -> None:
    definition = compile_text({"review_rules.bpmn": diagram("review_rules.bpmn"), "review_rules.dmn": RULES_DMN})
    assert run(runtime, definition, **data)["routing"] == routing


def test_first_takes_one_rule_and_collect_takes_every_matching_rule(runtime: WorkflowRuntime) -> None:
    definition = compile_text({"review_rules.bpmn": diagram("review_rules.bpmn"), "review_rules.dmn": RULES_DMN})
    variables = run(runtime, definition, category="research", hours=12, online=False)
    assert variables["routing"] == {"route": "school", "needs_expert": False}  # rule 6 (-, -, -) matches too
    assert variables["checks"] == [{"check": "certificate", "weight": 24}, {"check": "report", "weight": 5}]
    assert "route" not in variables and "check" not in variables  # only the result variable is set
    assert run(runtime, definition, category="mentoring", hours=3, online=False)["checks"] == [
        {"check": "attendance", "weight": 1}]


def test_unique_fails_when_two_rules_match(runtime: WorkflowRuntime) -> None:
    unique = set_cell(RULES_DMN.replace('hitPolicy="FIRST"', 'hitPolicy="UNIQUE"'), "UnaryTests_r6_category",
                      '"training"')
    definition = rule_task("review_route", 'camunda:resultVariable="routing"', dmn=unique)
    assert run(runtime, definition, category="mentoring", hours=5, online=True)["routing"] == [
        {"route": "other", "needs_expert": False}]
    with pytest.raises(EngineError) as caught:
        runtime.start(definition.spec_json, {"category": "training", "hours": 50, "online": True}, initiator="t42")
    assert caught.value.code == "decision_not_unique" and caught.value.bpmn_id == "decide"
    assert "rules 2, 6 all match" in caught.value.message


def test_any_allows_several_rules_with_the_same_outputs(runtime: WorkflowRuntime) -> None:
    same = set_cell(RULES_DMN.replace('hitPolicy="FIRST"', 'hitPolicy="ANY"'), "LiteralExpression_r6_route",
                    '"county"')
    same = set_cell(same, "LiteralExpression_r6_expert", "true")
    definition = rule_task("review_route", 'camunda:resultVariable="routing"', dmn=same)
    assert run(runtime, definition, category="training", hours=50, online=True)["routing"] == [
        {"route": "county", "needs_expert": True}]
    with pytest.raises(EngineError) as caught:
        runtime.start(definition.spec_json, {"category": "mentoring", "hours": 50, "online": True}, initiator="t42")
    assert caught.value.code == "decision_not_unique"


def test_input_types_convert_as_camunda_converts_them(runtime: WorkflowRuntime) -> None:
    definition = rule_task("review_route", 'camunda:resultVariable="routing" camunda:mapDecisionResult="singleResult"')
    assert run(runtime, definition, category="training", hours="50", online="true")["routing"]["route"] == "county"
    with pytest.raises(EngineError) as caught:
        runtime.start(definition.spec_json, {"category": "training", "hours": "many", "online": True},
                      initiator="t42")
    assert caught.value.code == "decision_type_mismatch" and "'many'" in caught.value.message


# ---------------------------------------------------------------------------------------------------------
# Result mapping (camunda:resultVariable + camunda:mapDecisionResult)
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("decision", "mapping", "data", "expected"), [
    ("credit_level", "singleEntry", {"hours": 30}, "high"),
    ("credit_level", "singleResult", {"hours": 30}, {"level": "high"}),
    ("credit_level", "collectEntries", {"hours": 30}, ["high"]),
    ("credit_level", "resultList", {"hours": 30}, [{"level": "high"}]),
    ("credit_level", None, {"hours": 30}, [{"level": "high"}]),  # resultList is the default
    ("credit_level", "singleEntry", {"hours": None}, None),  # no rule matched
    ("credit_level", "collectEntries", {"hours": None}, []),
    ("approval_path", "singleEntry", {"hours": 5, "category": "research"}, "principal"),
])
def test_result_variable_with_each_mapping(runtime: WorkflowRuntime, decision: str, mapping: str | None,
                                           data: dict[str, Any], expected: Any) -> None:
    attributes = 'camunda:resultVariable="result"' + (f' camunda:mapDecisionResult="{mapping}"' if mapping else "")
    definition = rule_task(decision, attributes, dmn=PATH_DMN)
    assert run(runtime, definition, **data)["result"] == expected


@pytest.mark.parametrize(("mapping", "why"), [("singleEntry", "at most one matching rule"),
                                              ("singleResult", "at most one matching rule"),
                                              ("collectEntries", "needs one output")])
def test_a_mapping_that_does_not_fit_the_result_fails_as_in_camunda(runtime: WorkflowRuntime, mapping: str,
                                                                    why: str) -> None:
    definition = rule_task("review_checks", f'camunda:resultVariable="checks" camunda:mapDecisionResult="{mapping}"')
    with pytest.raises(EngineError) as caught:
        runtime.start(definition.spec_json, {"category": "research", "hours": 12}, initiator="t42")
    assert caught.value.code == "decision_result_unsuitable" and why in caught.value.message


def test_single_entry_of_a_rule_with_two_outputs_fails(runtime: WorkflowRuntime) -> None:
    definition = rule_task("review_route", 'camunda:resultVariable="route" camunda:mapDecisionResult="singleEntry"')
    assert run(runtime, definition, category="training", hours=30, online=False)["route"] == "default"
    with pytest.raises(EngineError) as caught:
        runtime.start(definition.spec_json, {"category": "training", "hours": 50, "online": True}, initiator="t42")
    assert caught.value.code == "decision_result_unsuitable" and "use singleResult" in caught.value.message


def test_without_a_result_variable_the_result_is_not_stored(runtime: WorkflowRuntime) -> None:
    bpmn = process_xml("rule_task", [
        ("startEvent", "start", "", ""),
        ("businessRuleTask", "decide", 'name="判定" camunda:decisionRef="credit_level"', ""),
        ("endEvent", "end", "", ""),
    ], [("start", "decide", None), ("decide", "end", None)])
    report = check({"rule_task.bpmn": bpmn, "rules.dmn": PATH_DMN})
    assert report.ok
    assert [(p.code, p.severity, p.element_id) for p in report.problems] == [
        ("decision_result_unused", "warning", "decide")]
    assert "level" not in run(runtime, report.definitions["rule_task"], hours=30)


# ---------------------------------------------------------------------------------------------------------
# Required decisions (DRD) and files with several decisions
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "approver"), [({"hours": 5, "category": "research"}, "principal"),
                                                ({"hours": 5, "category": "training"}, "school_officer"),
                                                ({"hours": 30, "category": "research"}, "county_officer")])
def test_required_decision_is_evaluated_first(runtime: WorkflowRuntime, data: dict[str, Any], approver: str) -> None:
    definition = compile_text({"approval_path.bpmn": diagram("approval_path.bpmn"), "approval_path.dmn": PATH_DMN})
    variables = run(runtime, definition, **data)
    assert variables["approver"] == approver
    assert variables["level_entry"] == ("high" if data["hours"] >= 24 else "low")
    assert "level" not in variables  # the required decision's outputs are the requiring decision's, not the process's


def test_results_of_a_collect_requirement_are_lists(runtime: WorkflowRuntime) -> None:
    collect = PATH_DMN.replace('<decisionTable id="DecisionTable_level">',
                               '<decisionTable id="DecisionTable_level" hitPolicy="COLLECT">')
    collect = collect.replace('<inputExpression id="InputExpression_level" typeRef="string">',
                              '<inputExpression id="InputExpression_level">')
    collect = set_cell(set_cell(collect, "UnaryTests_p3_level", "-"), "LiteralExpression_p3", "level")
    collect = collect.replace('name="approver" typeRef="string"', 'name="approver"')
    definition = rule_task("approval_path", 'camunda:resultVariable="result" camunda:mapDecisionResult="singleEntry"',
                           dmn=collect)
    assert run(runtime, definition, hours=30, category="training")["result"] == ["high"]
    assert run(runtime, definition, hours=3, category="training")["result"] == ["low"]


def test_a_file_with_two_independent_decisions_loads() -> None:
    report = check({"review_rules.bpmn": diagram("review_rules.bpmn"), "review_rules.dmn": RULES_DMN})
    assert report.ok and not report.problems and set(report.definitions) == {"review_rules"}


# ---------------------------------------------------------------------------------------------------------
# Refused at deploy, by cell
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("entry", "text", "rule", "column", "hint"), [
    ("UnaryTests_r3_online", "True", ("Rule_online", 3), 3, "FEEL writes true"),
    ("UnaryTests_r2_category", "'training'", ("Rule_many_hours", 2), 1, "double quotes"),
    ("UnaryTests_r2_hours", "== 40", ("Rule_many_hours", 2), 2, "'==' is Python"),
    ("UnaryTests_r3_category", '"training" or "research"', ("Rule_online", 3), 1, "with commas"),
    ("UnaryTests_r4_category", 'date("2026-09-01")', ("Rule_school", 4), 1, "as ISO text"),
    ("UnaryTests_r4_category", '< date and time("2026-09-01T08:00:00")', ("Rule_school", 4), 1, "as ISO text"),
    ("UnaryTests_r4_hours", "? > 3", ("Rule_school", 4), 2, "'?'"),
    ("UnaryTests_r4_hours", "[1..hours * 2]", ("Rule_school", 4), 2, "not a calculation"),
    ("UnaryTests_r5_hours", '"a", not("b")', ("Rule_no_hours", 5), 2, "whole cell"),
    ("LiteralExpression_r1_route", "None", ("Rule_other_category", 1), 1, "FEEL writes null"),
    ("LiteralExpression_r1_expert", "< 3", ("Rule_other_category", 1), 2, "belongs in a condition"),
    ("LiteralExpression_c1_weight", "len(check)", ("Rule_check_certificate", 1), 2, "len(...) is not supported"),
    ("LiteralExpression_c1_weight", "hours ** 2", ("Rule_check_certificate", 1), 2, "unexpected '*'"),
])
def test_a_cell_outside_the_subset_is_refused_naming_it(entry: str, text: str, rule: tuple[str, int], column: int,
                                                        hint: str) -> None:
    dmn = set_cell(RULES_DMN, entry, text)
    report = check({"review_rules.bpmn": diagram("review_rules.bpmn"), "review_rules.dmn": dmn})
    [problem] = report.errors
    decision = ("review_checks", "审核检查项") if entry.endswith("weight") else ("review_route", "审核路线")
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert (problem.code, problem.file, problem.line) == ("dmn_cell_invalid", "review_rules.dmn",
                                                          line_of(dmn, f"<text>{escaped}</text>"))
    assert (problem.element_id, problem.element_name) == decision
    assert (problem.params["rule"], problem.params["rule_number"], problem.params["column"]) == (*rule, column)
    assert f"rule {rule[1]} ({rule[0]})" in problem.message and hint in problem.message
    assert "write a value" in problem.message  # what to write instead
    assert not report.definitions


def test_an_input_expression_may_compare(runtime: WorkflowRuntime) -> None:
    dmn = PATH_DMN.replace("<text>hours</text>", "<text>hours &gt;= 24</text>").replace(
        '<inputExpression id="InputExpression_level_hours" typeRef="integer">',
        '<inputExpression id="InputExpression_level_hours" typeRef="boolean">')
    dmn = set_cell(set_cell(dmn, "UnaryTests_l1", "false"), "UnaryTests_l2", "true")
    definition = rule_task("credit_level", 'camunda:resultVariable="level" camunda:mapDecisionResult="singleEntry"',
                           dmn=dmn)
    assert [run(runtime, definition, hours=hours)["level"] for hours in (23, 24, None)] == ["low", "high", None]


def test_an_input_expression_outside_the_subset_is_refused() -> None:
    dmn = RULES_DMN.replace("<text>online</text>", "<text>is_online()</text>")
    [problem] = check({"review_rules.bpmn": diagram("review_rules.bpmn"), "review_rules.dmn": dmn}).errors
    assert (problem.code, problem.line, problem.element_id) == ("dmn_cell_invalid",
                                                                line_of(dmn, "is_online()"), "review_route")
    assert "input expression of column 3 (线上)" in problem.message


@pytest.mark.parametrize(("old", "new", "code", "needle"), [
    ('hitPolicy="FIRST"', 'hitPolicy="PRIORITY"', "dmn_hit_policy_unsupported", 'hitPolicy="PRIORITY"'),
    ('hitPolicy="COLLECT"', 'hitPolicy="COLLECT" aggregation="SUM"', "dmn_hit_policy_unsupported",
     'aggregation="SUM"'),
    ('typeRef="boolean">', 'typeRef="date">', "dmn_type_unsupported", 'typeRef="date">'),
    ('<inputEntry id="UnaryTests_r2_hours">\n          <text>&gt; 40</text>',
     '<inputEntry id="UnaryTests_r2_hours" expressionLanguage="juel">\n          <text>${hours &gt; 40}</text>',
     "dmn_expression_language_unsupported", "${hours"),
    ('<output id="Output_check" label="检查项" name="check" typeRef="string" />',
     '<output id="Output_check" label="检查项" typeRef="string" />', "dmn_output_name_missing",
     '<output id="Output_check"'),
])
def test_table_features_outside_the_subset_are_refused(old: str, new: str, code: str, needle: str) -> None:
    assert old in RULES_DMN
    dmn = RULES_DMN.replace(old, new, 1)
    report = check({"review_rules.bpmn": diagram("review_rules.bpmn"), "review_rules.dmn": dmn})
    assert error_codes(report) == [code]
    [problem] = report.errors
    assert problem.line == line_of(dmn, needle) and problem.element_id in ("review_route", "review_checks")


def test_an_output_mapping_on_a_business_rule_task_is_refused() -> None:
    mapping = ('<bpmn:extensionElements><camunda:inputOutput><camunda:outputParameter name="level">'
               "${decisionResult.singleEntry}</camunda:outputParameter></camunda:inputOutput></bpmn:extensionElements>")
    bpmn = process_xml("rule_task", [
        ("startEvent", "start", "", ""),
        ("businessRuleTask", "decide", 'name="判定" camunda:decisionRef="credit_level"', mapping),
        ("endEvent", "end", "", ""),
    ], [("start", "decide", None), ("decide", "end", None)])
    report = check({"rule_task.bpmn": bpmn, "rules.dmn": PATH_DMN})
    [problem] = report.errors
    assert (problem.code, problem.element_id) == ("decision_io_unsupported", "decide")


def test_a_rule_with_a_cell_too_few_is_refused() -> None:
    cell = '<inputEntry id="UnaryTests_p1_category">\n          <text>-</text>\n        </inputEntry>\n'
    dmn = PATH_DMN.replace(cell, "")
    assert dmn != PATH_DMN
    report = check({"approval_path.bpmn": diagram("approval_path.bpmn"), "approval_path.dmn": dmn})
    [problem] = report.errors
    assert (problem.code, problem.line, problem.params["rule_number"]) == (
        "dmn_table_invalid", line_of(dmn, '<rule id="Rule_high">'), 1)


def test_a_literal_expression_decision_and_a_missing_requirement_are_refused() -> None:
    literal = ('<decision id="credit_level" name="学时等级">\n    <variable id="Variable_level" name="level" />\n'
               '    <literalExpression id="LiteralExpression_level">\n      <text>"low"</text>\n'
               '    </literalExpression>\n  </decision>\n')
    start, end = PATH_DMN.index('<decision id="credit_level"'), PATH_DMN.index("<dmndi:DMNDI>")
    dmn = PATH_DMN[:start] + literal + "  " + PATH_DMN[end:]
    report = check({"approval_path.bpmn": diagram("approval_path.bpmn"), "approval_path.dmn": dmn})
    [problem] = [p for p in report.errors if p.code == "dmn_decision_unsupported"]
    assert (problem.line, problem.element_id, problem.element_name) == (
        line_of(dmn, '<decision id="credit_level"'), "credit_level", "学时等级")
    assert "decision table" in problem.message
    missing = PATH_DMN.replace('href="#credit_level"', 'href="#credit_grade"')
    report = check({"approval_path.bpmn": diagram("approval_path.bpmn"), "approval_path.dmn": missing})
    [problem] = [p for p in report.errors if p.code == "dmn_required_decision_missing"]
    assert (problem.line, problem.element_id) == (line_of(missing, "#credit_grade"), "approval_path")


@pytest.mark.parametrize(("attributes", "code"), [
    ('camunda:resultVariable="r" camunda:mapDecisionResult="singleValue"', "decision_map_unsupported"),
    ('camunda:resultVariable="r" camunda:decisionRefBinding="version" camunda:decisionRefVersion="2"',
     "decision_binding_unsupported"),
    ('camunda:resultVariable="decisionResult"', "decision_result_variable_invalid"),
    ('camunda:resultVariable="my result"', "decision_result_variable_invalid"),
    ('camunda:resultVariable="r" camunda:decisionRef="${which}"', "decision_ref_expression_unsupported"),
])
def test_business_rule_task_attributes_outside_the_subset_are_refused(attributes: str, code: str) -> None:
    bpmn = process_xml("rule_task", [
        ("startEvent", "start", "", ""),
        ("businessRuleTask", "decide", f'name="判定" {attributes}', ""),
        ("endEvent", "end", "", ""),
    ], [("start", "decide", None), ("decide", "end", None)])
    if "decisionRef" not in attributes:
        bpmn = bpmn.replace('name="判定"', 'name="判定" camunda:decisionRef="credit_level"')
    report = check({"rule_task.bpmn": bpmn, "rules.dmn": PATH_DMN})
    assert code in error_codes(report)
    problem = next(p for p in report.errors if p.code == code)
    assert (problem.file, problem.element_id, problem.element_name) == ("rule_task.bpmn", "decide", "判定")
    assert problem.line


# ---------------------------------------------------------------------------------------------------------
# The FEEL subset itself
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "value", "expected"), [
    ("-", None, True), ("", "x", True),
    ('"a"', "a", True), ('"a"', "b", False), ('"a"', 1, False), ('"a"', None, False),
    ("null", None, True), ("null", 0, False), ("not(null)", 0, True), ("not(null)", None, False),
    ("true", True, True), ("true", False, False), ("false", False, True), ("true", "true", False),
    ("10", 10.0, True), ("-3", -3, True), ("1.5", 1.5, True),
    ("< 10", 9, True), ("< 10", 10, False), ("<= 10", 10, True), ("> -1", 0, True), (">= 2.5", 2.5, True),
    ("< 10", None, False), ("< 10", "9", False), ("not(< 10)", None, False), ('< "m"', "a", True),
    ("[1..10]", 1, True), ("[1..10]", 10, True), ("(1..10)", 1, False), ("]1..10[", 10, False),
    ("[1..10)", 10, False), ("(1..10]", 10, True), ("[1..10]", 11, False), ("[1..10]", None, False),
    ('"a","b"', "b", True), ('"a", "b"', "c", False), ('not("a", "b")', "c", True), ('not("a", "b")', "a", False),
    ('not("a")', 1, False),  # not(null) of a type mismatch is null: no match
    ("< 5, > 10", 11, True), ("< 5, > 10", 7, False), ("[1..3], 7", 7, True),
    ("limit", 8, True), ("> limit", 9, True), ("[low..limit]", 5, True), ("> missing", 3, False),
])
def test_unary_tests(cell: str, value: Any, expected: bool) -> None:
    variables = {"limit": 8, "low": 2}
    assert matches(parse_unary_tests(cell), value, variables) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ('"text"', "text"), ('"say \\"hi\\""', 'say "hi"'), ("12", 12), ("1.50", 1.5), ("2.0", 2), ("-4", -4),
    ("true", True), ("null", None), ("hours", 12), ("application.category", "research"), ("application.nope", None),
    ("missing", None), ("missing.key", None), ("hours * 2 + 1", 25), ("(hours - 2) / 4", 2.5), ("hours / 4", 3),
    ("hours / 0", None), ('"a" + "b"', "ab"), ('"a" + 1', None), ("-hours", -12), ("missing + 1", None),
    ("hours > 10", True), ("hours * 2 <= 20", False), ('application.category = "research"', True),
    ('application.category != "research"', False), ("missing = null", True), ("missing > 1", None),
    ('hours = "12"', None), ('hours != "12"', None),
])
def test_expressions(text: str, expected: Any) -> None:
    variables = {"hours": 12, "application": {"category": "research"}}
    result = evaluate(parse_expression(text), variables)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("cell", ["True", "'a'", "== 1", "x and y", "[1..", "not(1", "f(x)", "a[0]", "1 +", "@"])
def test_what_is_not_feel_we_run_is_refused(cell: str) -> None:
    with pytest.raises(FeelUnsupported):
        parse_unary_tests(cell)


def test_an_instance_past_a_decision_saves_and_loads(runtime: WorkflowRuntime) -> None:
    bpmn = process_xml("rule_then_review", [
        ("startEvent", "start", "", ""),
        ("businessRuleTask", "decide", 'name="判定" camunda:decisionRef="approval_path" '
         'camunda:resultVariable="approver" camunda:mapDecisionResult="singleEntry"', ""),
        ("userTask", "review", 'name="审核" camunda:candidateGroups="principal"', ""),
        ("endEvent", "end", "", ""),
    ], [("start", "decide", None), ("decide", "review", None), ("review", "end", None)])
    definition = compile_text({"rule_then_review.bpmn": bpmn, "rules.dmn": PATH_DMN})
    workflow = runtime.start(definition.spec_json, {"hours": 5, "category": "research"}, initiator="t42")
    state, _ = runtime.dump(workflow)
    stored = json.loads(state)
    stored["serializer_version"] = "1.4"  # an older state runs the migrations, which convert the spec too
    for blob in (state, json.dumps(stored)):
        restored = runtime.load(definition.spec_json, blob)
        [task] = runtime.ready_user_tasks(restored)
        runtime.complete_user_task(restored, task.task_id, {})
        assert runtime.is_completed(restored) and runtime.variables(restored)["approver"] == "principal"
