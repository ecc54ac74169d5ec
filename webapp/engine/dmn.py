"""Decision tables as Camunda 7 runs them: FEEL cells, hit policies, required decisions, result mapping.

SpiffWorkflow's DMN support reads cells as Python, uses only the first decision of a file (a file with two
fails to load), ignores required decisions and merges every output into the process data. This module
replaces it for business rule tasks:

* :func:`compile_dmn` reads a DMN document (DMN 1.1-1.3, as Camunda Modeler writes it) into plain JSON
  (decision id -> table) and lists every problem with its line, decision, rule and column. Cells are the
  FEEL subset of :mod:`webapp.engine.feel`.
* :func:`evaluate_decision` evaluates a decision after the decisions it requires, whose results are
  variables for it (Camunda's ``DefaultDmnDecisionContext``): one result (not COLLECT) adds its outputs, several
  add a list per output.
* :func:`map_result` applies ``camunda:mapDecisionResult`` (``singleEntry``, ``singleResult``,
  ``collectEntries``, ``resultList``; default ``resultList``); the business rule task stores it under
  ``camunda:resultVariable`` and, without one, stores nothing, as Camunda does.
* :class:`DecisionTask` is the business rule task spec; :class:`DecisionTaskParser` builds it and
  :class:`DecisionTaskConverter` stores it.

Hit policies: UNIQUE (more than one match fails), FIRST, ANY (matches with different outputs fail), RULE ORDER
and COLLECT without aggregation. PRIORITY, OUTPUT ORDER and aggregations (SUM, MIN, MAX, COUNT) are refused.
Types (``typeRef`` of inputs and outputs): string, integer, long, double, boolean, converted as Camunda's type
transformers do; a value that cannot be converted fails the step.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser

from .errors import EngineIncident
from .feel import FeelUnsupported, evaluate, matches, parse_expression, parse_unary_tests

HIT_POLICIES = ("UNIQUE", "FIRST", "ANY", "RULE ORDER", "COLLECT")
TYPES = ("", "string", "integer", "long", "double", "boolean")
MAPPINGS = ("singleEntry", "singleResult", "collectEntries", "resultList")
BPMN_MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_INT_RANGE = {"integer": 2 ** 31, "long": 2 ** 63}
_WRITE_INSTEAD_CONDITION = ('write a value ("a", 10, true, null), a comparison (< 10), a range ([1..10]), a list '
                            '("a", "b"), not(...) of these, or - for any value')
_WRITE_INSTEAD_VALUE = 'write a value ("text", 10, true, null), a variable name, or simple arithmetic (hours * 2)'


@dataclass(frozen=True)
class DmnFinding:
    """One problem of a DMN document; ``element_id``/``element_name`` name the decision."""

    code: str
    message: str
    line: int | None
    element_id: str | None = None
    element_name: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


def _local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element: Any, name: str) -> list[Any]:
    return [child for child in element if _local(child) == name]


def _text(element: Any) -> tuple[str | None, int | None]:
    """The ``<text>`` of an entry or expression, and its line (the element's when it has no text child)."""
    node = next(iter(_children(element, "text")), None)
    if node is None:
        return None, element.sourceline
    return node.text, node.sourceline


def _language(element: Any, default: str | None) -> str | None:
    language = element.get("expressionLanguage") or default
    if language is None or "feel" in language.lower():
        return None
    return language


# ---------------------------------------------------------------------------------------------------------
# Compiling a DMN document
# ---------------------------------------------------------------------------------------------------------

def compile_dmn(root: Any) -> tuple[dict[str, dict[str, Any]], list[DmnFinding]]:
    """Every decision of the document (id -> compiled table; cells that fail are left out) and every problem."""
    decisions: dict[str, dict[str, Any]] = {}
    findings: list[DmnFinding] = []
    default_language = root.get("expressionLanguage")
    for element in _children(root, "decision"):
        decision_id, name = element.get("id"), element.get("name")

        def find(code: str, message: str, line: int | None, _id: str | None = decision_id,
                 _name: str | None = name, **params: Any) -> None:
            findings.append(DmnFinding(code, message, line, _id, _name, params))

        requires = []
        for requirement in _children(element, "informationRequirement"):
            for required in _children(requirement, "requiredDecision"):
                requires.append((required.get("href") or "").lstrip("#"))
        tables = _children(element, "decisionTable")
        if not tables:
            other = next((_local(c) for c in element if _local(c) in ("literalExpression", "context", "invocation",
                                                                       "relation", "list", "functionDefinition")), None)
            find("dmn_decision_unsupported", f"Decision {_label(element)} is a {other or 'decision without logic'}; "
                 "only decision tables are supported: draw it as a decision table", element.sourceline)
            continue
        decisions[decision_id] = _compile_table(element, tables[0], requires, default_language, find)
    ids = {e.get("id") for e in _children(root, "decision")}
    for element in _children(root, "decision"):
        for requirement in _children(element, "informationRequirement"):
            for required in _children(requirement, "requiredDecision"):
                ref = (required.get("href") or "").lstrip("#")
                if ref not in ids:
                    findings.append(DmnFinding(
                        "dmn_required_decision_missing", f"Decision {_label(element)} requires decision {ref!r}, "
                        "which is not in this file; draw the required decision in the same DRD", required.sourceline,
                        element.get("id"), element.get("name"), {"decision": ref}))
    for decision_id in decisions:
        cycle = _cycle(decision_id, decisions)
        if cycle:
            element = next(e for e in _children(root, "decision") if e.get("id") == decision_id)
            findings.append(DmnFinding(
                "dmn_decision_cycle", f"Decision {_label(element)} requires itself ({' -> '.join(cycle)}); remove one "
                "of the requirements", element.sourceline, decision_id, element.get("name")))
            break
    return decisions, findings


def _cycle(start: str, decisions: Mapping[str, Mapping[str, Any]]) -> list[str] | None:
    stack = [(start, [start])]
    while stack:
        current, path = stack.pop()
        for required in decisions.get(current, {}).get("requires", []):
            if required == start:
                return [*path, required]
            if required not in path and required in decisions:
                stack.append((required, [*path, required]))
    return None


def _label(element: Any) -> str:
    name = element.get("name")
    return f"{element.get('id')!r} ({name})" if name else repr(element.get("id"))


def _compile_table(decision: Any, table: Any, requires: list[str], default_language: str | None,
                   find: Any) -> dict[str, Any]:
    hit_policy = (table.get("hitPolicy") or "UNIQUE").strip().upper()
    if table.get("aggregation"):
        find("dmn_hit_policy_unsupported", f"Decision {_label(decision)}: COLLECT with the aggregation "
             f"{table.get('aggregation')} is not supported; use COLLECT without an aggregation and add the values up "
             "in a script task", table.sourceline, policy=f"COLLECT {table.get('aggregation')}")
    elif hit_policy not in HIT_POLICIES:
        find("dmn_hit_policy_unsupported", f"Decision {_label(decision)}: the hit policy {hit_policy} is not "
             "supported; use UNIQUE, FIRST, ANY, RULE ORDER or COLLECT", table.sourceline, policy=hit_policy)
    inputs, outputs = [], []
    for column, element in enumerate(_children(table, "input"), start=1):
        label = element.get("label") or element.get("id")
        expression = next(iter(_children(element, "inputExpression")), None)
        if expression is None:
            find("dmn_cell_invalid", f"Decision {_label(decision)}, input column {column} ({label}) has no input "
                 "expression; write the variable name it tests", element.sourceline, column=column)
            inputs.append({"id": element.get("id"), "label": label, "type": "", "expression": None})
            continue
        type_ref = _type(expression.get("typeRef"), decision, f"input column {column} ({label})",
                         expression.sourceline, find)
        text, line = _text(expression)
        node = _cell(text, line, "expression", decision, f"the input expression of column {column} ({label})",
                     _language(expression, default_language), find, column=column)
        inputs.append({"id": element.get("id"), "label": label, "type": type_ref, "expression": node})
    for column, element in enumerate(_children(table, "output"), start=1):
        label = element.get("label") or element.get("name") or element.get("id")
        type_ref = _type(element.get("typeRef"), decision, f"output column {column} ({label})", element.sourceline,
                         find)
        if not element.get("name"):
            find("dmn_output_name_missing", f"Decision {_label(decision)}, output column {column} ({label}) has no "
                 "output name; set the name the result is stored under", element.sourceline, column=column)
        outputs.append({"id": element.get("id"), "name": element.get("name") or "", "label": label, "type": type_ref})
    rules = []
    for number, rule in enumerate(_children(table, "rule"), start=1):
        where = f"rule {number} ({rule.get('id')})"
        tests = []
        for column, entry in enumerate(_children(rule, "inputEntry"), start=1):
            text, line = _text(entry)
            label = inputs[column - 1]["label"] if column <= len(inputs) else column
            tests.append(_cell(text, line, "test", decision, f"{where}, input column {column} ({label})",
                               _language(entry, default_language), find, rule=rule.get("id"), rule_number=number,
                               column=column))
        results = []
        for column, entry in enumerate(_children(rule, "outputEntry"), start=1):
            text, line = _text(entry)
            label = outputs[column - 1]["label"] if column <= len(outputs) else column
            if not (text or "").strip():
                results.append(None)  # an empty output cell leaves the output out of the rule's result
                continue
            results.append(_cell(text, line, "expression", decision, f"{where}, output column {column} ({label})",
                                 _language(entry, default_language), find, rule=rule.get("id"), rule_number=number,
                                 column=column))
        if len(tests) != len(inputs) or len(results) != len(outputs):
            find("dmn_table_invalid", f"Decision {_label(decision)}, {where} has {len(tests)} input and {len(results)} "
                 f"output cells for {len(inputs)} input and {len(outputs)} output columns; save the table again from "
                 "Camunda Modeler", rule.sourceline, rule=rule.get("id"), rule_number=number)
        rules.append({"id": rule.get("id"), "number": number, "tests": tests, "outputs": results})
    return {"id": decision.get("id"), "name": decision.get("name") or "", "hit_policy": hit_policy,
            "requires": requires, "inputs": inputs, "outputs": outputs, "rules": rules}


def _type(type_ref: str | None, decision: Any, where: str, line: int | None, find: Any) -> str:
    value = (type_ref or "").strip()
    if value not in TYPES:
        find("dmn_type_unsupported", f"Decision {_label(decision)}, {where}: the type {value!r} is not supported; use "
             "string, integer, long, double or boolean (compare dates as ISO text with the type string)", line,
             type=value)
        return ""
    return value


def _cell(text: str | None, line: int | None, kind: str, decision: Any, where: str, language: str | None,
          find: Any, **params: Any) -> list[Any] | None:
    if language is not None:
        find("dmn_expression_language_unsupported", f"Decision {_label(decision)}, {where}: the expression language "
             f"{language!r} is not supported; clear it (FEEL is the default) and write FEEL", line, language=language,
             **params)
        return None
    try:
        return parse_unary_tests(text) if kind == "test" else parse_expression(text)
    except FeelUnsupported as exc:
        instead = _WRITE_INSTEAD_CONDITION if kind == "test" else _WRITE_INSTEAD_VALUE
        find("dmn_cell_invalid", f"Decision {_label(decision)}, {where}: {(text or '').strip()!r} is not supported: "
             f"{exc}; {instead}", line, cell=(text or "").strip(), **params)
        return None


# ---------------------------------------------------------------------------------------------------------
# Business rule tasks in the BPMN
# ---------------------------------------------------------------------------------------------------------

def camunda(name: str) -> str:
    return f"{{{CAMUNDA_MODEL_NS}}}{name}"


def business_rule_task_findings(node: Any) -> list[tuple[str, str, str]]:
    """Problems of a business rule task's Camunda attributes: ``(code, message, severity)``."""
    found = []
    ref = node.get(camunda("decisionRef")) or ""
    if "${" in ref or "#{" in ref:
        found.append(("decision_ref_expression_unsupported", f"The decision reference {ref!r} is an expression; write "
                      "the decision id", "error"))
    binding = node.get(camunda("decisionRefBinding"))
    if binding not in (None, "", "latest", "deployment"):
        found.append(("decision_binding_unsupported", f"The decision binding {binding!r} is not supported: the "
                      "decision is always the one uploaded with the process; choose the binding 'latest'", "error"))
    for attribute in ("decisionRefVersion", "decisionRefVersionTag", "decisionRefTenantId"):
        if node.get(camunda(attribute)):
            found.append(("decision_binding_unsupported", f"camunda:{attribute} is not supported: the decision is "
                          "always the one uploaded with the process; remove it", "error"))
    mapping = node.get(camunda("mapDecisionResult"))
    if mapping is not None and mapping not in MAPPINGS:
        found.append(("decision_map_unsupported", f"The result mapping {mapping!r} is not supported; choose one of "
                      f"{', '.join(MAPPINGS)}", "error"))
    variable = node.get(camunda("resultVariable"))
    if variable is None or not variable.strip():
        found.append(("decision_result_unused", "The business rule task has no result variable, so the decision's "
                      "result is not stored (as in Camunda); set 'Result variable' to keep it", "warning"))
    elif (not (name := variable.strip()).isidentifier() or name.startswith("_")) or name == "decisionResult":
        found.append(("decision_result_variable_invalid", f"The result variable {variable!r} must be a variable name "
                      "(letters, digits, _; not starting with _ and not 'decisionResult')", "error"))
    if node.find(f"{{{BPMN_MODEL_NS}}}extensionElements/{camunda('inputOutput')}") is not None:
        found.append(("decision_io_unsupported", "Input/output parameters on a business rule task are not supported "
                      "(an output mapping of decisionResult would be lost); set 'Result variable' and 'Map decision "
                      "result' instead", "error"))
    for implementation in ("class", "expression", "delegateExpression", "type"):
        if node.get(camunda(implementation)):
            found.append(("decision_implementation_unsupported", f"A business rule task implemented by "
                          f"camunda:{implementation} is not supported; choose Implementation 'DMN'", "error"))
    return found


# ---------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------

def _failed(message: str, code: str = "decision_failed", **params: Any) -> EngineIncident:
    return EngineIncident(message, code=code, params=params)


def convert(type_ref: str, value: Any, where: str) -> Any:
    """``value`` as Camunda's type transformer for ``type_ref`` gives it (``None`` stays ``None``)."""
    if value is None or not type_ref:
        return value
    if type_ref == "string":
        return ("true" if value else "false") if isinstance(value, bool) else str(value)
    if type_ref == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif type_ref in ("integer", "long"):
        number: Any = value
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                number = None
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        if isinstance(number, int) and not isinstance(number, bool) and -_INT_RANGE[type_ref] <= number \
                < _INT_RANGE[type_ref]:
            return number
    elif type_ref == "double":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise _failed(f"{where}: {value!r} cannot be converted to the type {type_ref}", code="decision_type_mismatch")


def evaluate_table(table: Mapping[str, Any], variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The result of one decision table: one dict (output name -> value) per matched rule, in rule order."""
    label = f"Decision {table['id']!r}"
    values = [convert(column["type"], evaluate(column["expression"], variables),
                      f"{label}, input {column['label']!r}") for column in table["inputs"]]
    matched = [rule for rule in table["rules"]
               if all(matches(test, values[index], variables) for index, test in enumerate(rule["tests"]))]
    policy = table["hit_policy"]
    if policy == "UNIQUE" and len(matched) > 1:
        raise _failed(f"{label} has the hit policy UNIQUE, but rules {_numbers(matched)} all match; make the rules "
                      "exclusive or choose the hit policy FIRST", code="decision_not_unique", decision=table["id"])
    if policy in ("UNIQUE", "FIRST", "ANY"):
        results = [_outputs(table, rule, variables) for rule in matched]
        if policy == "ANY" and any(result != results[0] for result in results[1:]):
            raise _failed(f"{label} has the hit policy ANY, but rules {_numbers(matched)} match with different "
                          "outputs", code="decision_not_unique", decision=table["id"])
        return results[:1]
    return [_outputs(table, rule, variables) for rule in matched]


def _numbers(rules: list[Mapping[str, Any]]) -> str:
    return ", ".join(str(rule["number"]) for rule in rules)


def _outputs(table: Mapping[str, Any], rule: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    result = {}
    for column, node in zip(table["outputs"], rule["outputs"], strict=False):
        if node is not None:
            result[column["name"]] = convert(column["type"], evaluate(node, variables),
                                             f"Decision {table['id']!r}, rule {rule['number']}, output "
                                             f"{column['label']!r}")
    return result


def _order(decisions: Mapping[str, Mapping[str, Any]], decision_id: str, order: list[str]) -> list[str]:
    """Camunda's ``buildDecisionTree``: required decisions first (depth first), each once."""
    if decision_id in order:
        return order
    for required in decisions[decision_id]["requires"]:
        _order(decisions, required, order)
    order.append(decision_id)
    return order


def evaluate_decision(decisions: Mapping[str, Mapping[str, Any]], decision_id: str,
                      variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The result of ``decision_id`` after the decisions it requires (whose results are variables for it)."""
    context = dict(variables)
    result: list[dict[str, Any]] = []
    for current in _order(decisions, decision_id, []):
        result = evaluate_table(decisions[current], context)
        if current != decision_id:
            if len(result) == 1 and decisions[current]["hit_policy"] != "COLLECT":
                context.update(result[0])
            elif result:
                for name in dict.fromkeys(key for entries in result for key in entries):
                    context[name] = [entries[name] for entries in result if name in entries]
    return result


def map_result(result: list[dict[str, Any]], mapping: str | None, decision_id: str) -> Any:
    """``camunda:mapDecisionResult`` applied to a decision result (default ``resultList``)."""
    mapping = mapping or "resultList"
    if mapping == "resultList":
        return result
    if mapping == "collectEntries":
        names = list(dict.fromkeys(key for entries in result for key in entries))
        if len(names) > 1:
            raise _failed(f"Decision {decision_id!r}: the result mapping collectEntries needs one output, but the "
                          f"result has {', '.join(names)}; use resultList", code="decision_result_unsuitable")
        return [entries[names[0]] for entries in result if names[0] in entries] if names else []
    if len(result) > 1:
        raise _failed(f"Decision {decision_id!r}: the result mapping {mapping} needs at most one matching rule, but "
                      f"{len(result)} match; use collectEntries or resultList, or the hit policy FIRST",
                      code="decision_result_unsuitable")
    if not result:
        return None
    if mapping == "singleResult":
        return result[0]
    if len(result[0]) > 1:
        raise _failed(f"Decision {decision_id!r}: the result mapping singleEntry needs one output, but the result has "
                      f"{', '.join(result[0])}; use singleResult", code="decision_result_unsuitable")
    return next(iter(result[0].values()), None)


# ---------------------------------------------------------------------------------------------------------
# The task spec, its parser and its converter
# ---------------------------------------------------------------------------------------------------------

class DecisionTask(BpmnSpecMixin):
    """A business rule task (Implementation DMN). ``decision``: ``ref``, ``resultVariable``,
    ``mapDecisionResult`` and ``decisions`` (the referenced one and those it requires, compiled)."""

    def __init__(self, wf_spec: Any, bpmn_id: str, decision: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.decision = dict(decision or {})

    def _run_hook(self, my_task: Any) -> bool:
        ref = self.decision["ref"]
        try:
            result = evaluate_decision(self.decision["decisions"], ref, my_task.data)
            variable = self.decision.get("resultVariable")
            if variable:
                my_task.data[variable] = copy.deepcopy(map_result(result, self.decision.get("mapDecisionResult"), ref))
        except EngineIncident as exc:
            raise exc.with_task(my_task) from None
        return True


class DecisionTaskParser(CamundaTaskParser):
    """Builds :class:`DecisionTask` from the decisions the parser compiled (``parser.decisions``)."""

    def create_task(self) -> DecisionTask:
        ref = self.get_decision_ref(self.node)
        decisions = getattr(self.process_parser.parser, "decisions", {})
        if ref not in decisions:
            raise ValidationException(f"No decision with id {ref!r} in the uploaded DMN files", node=self.node,
                                      file_name=self.filename)
        needed = {current: decisions[current] for current in _reachable(decisions, ref)}
        spec = {"ref": ref, "resultVariable": (self.node.get(camunda("resultVariable")) or "").strip() or None,
                "mapDecisionResult": self.node.get(camunda("mapDecisionResult")) or None, "decisions": needed}
        return DecisionTask(self.spec, self.bpmn_id, decision=spec, **self.bpmn_attributes)

    @staticmethod
    def get_decision_ref(node: Any) -> str | None:
        return node.get(camunda("decisionRef"))


def _reachable(decisions: Mapping[str, Mapping[str, Any]], ref: str) -> list[str]:
    seen: list[str] = []
    stack = [ref]
    while stack:
        current = stack.pop()
        if current in seen or current not in decisions:
            continue
        seen.append(current)
        stack.extend(decisions[current]["requires"])
    return seen


class DecisionTaskConverter(BpmnTaskSpecConverter):
    def to_dict(self, spec: DecisionTask) -> dict[str, Any]:
        dct = self.get_default_attributes(spec)
        dct["decision"] = spec.decision
        return dct
