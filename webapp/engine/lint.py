"""Upload checks on the XML of BPMN and DMN files: every problem with file, line, element and a code.

SpiffWorkflow accepts much that only fails at run time (JUEL conditions, bare timers, unknown topics)
and silently drops much Camunda Modeler writes; these checks make such problems visible at upload.
:func:`~webapp.engine.deploy.check_definition` runs them and SpiffWorkflow's own parser.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS

from .dmn import business_rule_task_findings, compile_dmn
from .errors import ExpressionError
from .expressions import compile_expression, compile_script, is_juel, split_list, variable_of
from .forms import CONSTRAINTS, FIELD_TYPES, coerce
from .multiinstance import COUNTERS, LOOP_COUNTER
from .parser import ExtendedCamundaParser, role_for_lane
from .services import service_topic
from .timers import TIMER_KINDS, check_due, is_naive_date, timer_expression

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"
ACTIVITI_NS = "http://activiti.org/bpmn"
DMN_NAMESPACES = frozenset(DMN_SCHEMAS)

FLOW_NODES = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "implicitThrowEvent", "task", "userTask", "serviceTask", "scriptTask", "manualTask", "businessRuleTask",
    "sendTask", "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
    "callChoreography", "choreographyTask", "subChoreography",
})
SUPPORTED_NODES = frozenset(
    etree.QName(tag).localname
    for tag in {**ExtendedCamundaParser.PARSER_CLASSES, **ExtendedCamundaParser.OVERRIDE_PARSER_CLASSES}
) - {"adHocSubProcess"}  # Camunda 7 runs no ad-hoc subprocess; SpiffWorkflow's needs a completion condition
GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
                      "complexGateway"})
CONTAINERS = frozenset({"subProcess", "transaction", "adHocSubProcess"})
PYTHON_LANGUAGES = frozenset({"", "python", "python3", "py"})
_MI_VARIABLES = re.compile(r"\b(nrOfInstances|nrOfActiveInstances|nrOfCompletedInstances|loopCounter)\b")
DATA_REFERENCES = ("dataStoreReference", "dataObjectReference")
_OWNERS = FLOW_NODES | {"sequenceFlow", "lane", "process", *DATA_REFERENCES}
_SHORT_NS = {f"{{{BPMN_NS}}}": "bpmn:", f"{{{CAMUNDA_NS}}}": "camunda:", f"{{{BPMNDI_NS}}}": "bpmndi:"}


@dataclass(frozen=True)
class Problem:
    """One finding. ``code`` is stable and ``params`` fill the web layer's translated message."""

    code: str
    message: str
    file: str
    line: int | None = None
    element_id: str | None = None
    element_name: str | None = None
    severity: str = "error"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A name typed with line breaks in the Modeler must not break the one-line 'file:line: ...' report.
        if self.element_name is not None:
            object.__setattr__(self, "element_name", one_line(self.element_name))


def one_line(text: str | None) -> str | None:
    """``text`` with every run of whitespace (line breaks included) as one space; ``None`` stays ``None``."""
    return " ".join(text.split()) if text is not None else None


@dataclass(frozen=True)
class LintContext:
    known_roles: frozenset[str]
    known_topics: frozenset[str]
    known_form_keys: frozenset[str]
    process_ids: frozenset[str]
    decision_ids: frozenset[str]


def bpmn(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def camunda(name: str) -> str:
    return f"{{{CAMUNDA_NS}}}{name}"


def local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


# ---------------------------------------------------------------------------------------------------------
# Schemas (built once per process; lxml schema objects keep a shared error log, hence the lock)
# ---------------------------------------------------------------------------------------------------------

_schema_lock = threading.Lock()


@lru_cache(maxsize=1)
def bpmn_validator() -> BpmnValidator:
    return BpmnValidator()


@lru_cache(maxsize=8)
def _dmn_schema(namespace: str) -> Any:
    return BpmnValidator(DMN_SCHEMAS[namespace]).validator


def schema_problems(file: str, root: Any, kind: str) -> list[Problem]:
    """XSD errors of a BPMN or DMN document (all of them, with lines)."""
    copy = deepcopy(root)  # preprocess() edits the tree it validates; deepcopy keeps the line numbers
    with _schema_lock:
        if kind == "bpmn":
            validator = bpmn_validator()
            validator.preprocess(copy)
            schema = validator.validator
        else:
            schema = _dmn_schema(etree.QName(root).namespace)
        schema.validate(copy)
        errors = [(error.line, error.message) for error in schema.error_log]
    by_line: dict[int, Any] = {}
    for element in root.iter():
        if isinstance(element.tag, str):
            by_line.setdefault(element.sourceline, element)  # the outermost element that starts on the line
    problems = []
    for line, message in errors:
        for long, short in _SHORT_NS.items():
            message = message.replace(long, short)
        message = message.split(" Expected is one of")[0]
        element = by_line.get(line)
        while element is not None and not element.get("id"):  # name the nearest element that has an id
            element = element.getparent()
        problems.append(Problem("xsd_invalid", f"Not valid BPMN/DMN: {message}", file, line,
                                element.get("id") if element is not None else None,
                                element.get("name") if element is not None else None))
    return problems


# ---------------------------------------------------------------------------------------------------------
# BPMN
# ---------------------------------------------------------------------------------------------------------

def platform_problems(file: str, root: Any) -> list[Problem]:
    """Files from Camunda 8 or Activiti: nothing else in them is worth checking."""
    namespaces = set(root.nsmap.values()) | {etree.QName(e).namespace for e in root.iter() if isinstance(e.tag, str)}
    if ZEEBE_NS in namespaces or root.get(f"{{{MODELER_NS}}}executionPlatform") == "Camunda Cloud":
        # Name the first zeebe: element (or attribute), and the BPMN element it belongs to, where the file has one.
        first = next((e for e in root.iter() if isinstance(e.tag, str) and (
            etree.QName(e).namespace == ZEEBE_NS or any(a.startswith(f"{{{ZEEBE_NS}}}") for a in e.attrib))), root)
        owner = first
        while owner is not None and not (etree.QName(owner).namespace == BPMN_NS and owner.get("id")):
            owner = owner.getparent()
        owner = owner if owner is not None and owner is not root else None
        what = f"zeebe:{etree.QName(first).localname}" if etree.QName(first).namespace == ZEEBE_NS else None
        return [Problem("camunda8_unsupported",
                        "This diagram was made for Camunda 8" + (f" ({what})" if what else " (zeebe)") + ", which "
                        "YanXun cannot run; in Camunda Modeler create a 'BPMN diagram (Camunda 7)' and model it there",
                        file, first.sourceline, owner.get("id") if owner is not None else None,
                        one_line(owner.get("name")) if owner is not None else None)]
    if ACTIVITI_NS in namespaces:
        return [Problem("legacy_namespace",
                        f"The diagram uses the old Activiti namespace {ACTIVITI_NS}; save it with Camunda Modeler "
                        f"(Camunda 7) so that it uses {CAMUNDA_NS}", file, root.sourceline)]
    return []


class BpmnLinter:
    """Checks one BPMN document; :meth:`run` returns the problems."""

    def __init__(self, file: str, root: Any, context: LintContext) -> None:
        self.file = file
        self.root = root
        self.ctx = context
        self.problems: list[Problem] = []
        self.element_ids = {e.get("id") for e in root.iter() if isinstance(e.tag, str)
                            and etree.QName(e).namespace == BPMN_NS and e.get("id")}

    def report(self, code: str, message: str, at: Any, *, severity: str = "error", **params: Any) -> None:
        """Record a problem at element ``at``, named after its nearest BPMN ancestor with an id."""
        owner = at
        while owner is not None and not (local(owner) in _OWNERS and etree.QName(owner).namespace == BPMN_NS):
            owner = owner.getparent()
        self.problems.append(Problem(code, message, self.file, at.sourceline,
                                     owner.get("id") if owner is not None else None,
                                     owner.get("name") if owner is not None else None, severity, params))

    def run(self) -> list[Problem]:
        processes = list(self.root.iterchildren(bpmn("process")))
        for reference in self.root.iter(*(bpmn(tag) for tag in DATA_REFERENCES)):
            self.report("data_reference_ignored", f"{_label(reference)} is documentation only: Camunda 7 and YanXun "
                        "store nothing there and its associations move no data; the process data holds every "
                        "variable", reference, severity="warning")
        if not any(p.get("isExecutable", "true") == "true" for p in processes):
            self.report("no_executable_process", "The file has no executable process (tick 'Executable' in the "
                        "process properties)", self.root)
        for process in processes:
            starters = [a for a in ("candidateStarterGroups", "candidateStarterUsers") if process.get(camunda(a))]
            if starters:
                self.report("starter_restriction_ignored", f"{', '.join(starters)} is ignored: who may start the "
                            "process is decided by the application that starts it", process, severity="warning")
            self.check_scope(process)
            self.check_lanes(process)
        self.check_diagram(processes)
        return self.problems

    # -- structure -------------------------------------------------------------------------------------------

    def check_scope(self, scope: Any) -> None:
        """A process or (embedded) subprocess: its nodes, flows and nested scopes."""
        outgoing: dict[str, int] = {}
        for flow in scope.iterchildren(bpmn("sequenceFlow")):
            outgoing[flow.get("sourceRef")] = outgoing.get(flow.get("sourceRef"), 0) + 1
        nodes = {child.get("id"): child for child in scope if local(child) in FLOW_NODES}
        for node_id, node in nodes.items():
            tag = local(node)
            if tag not in SUPPORTED_NODES:
                self.report("element_unsupported", f"{tag} is not supported; model it with the supported "
                            "elements (e.g. an exclusive or parallel gateway)", node, element=tag)
                continue
            if outgoing.get(node_id, 0) > 1 and tag not in GATEWAYS and tag != "startEvent":
                self.report("implicit_split", f"{_label(node)} has {outgoing[node_id]} outgoing flows; use a gateway "
                            "after it to split the flow", node, count=outgoing[node_id])
            self.check_node(node, tag)
            if tag in CONTAINERS:
                self.check_scope(node)
        for flow in scope.iterchildren(bpmn("sequenceFlow")):
            self.check_flow(flow, nodes, outgoing)

    def check_node(self, node: Any, tag: str) -> None:
        self.check_common(node)
        checker = getattr(self, f"check_{tag}", None)
        if checker is not None:
            checker(node)
        if tag in ("startEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "endEvent"):
            self.check_event_trigger(node, tag)
        for loop in node.iterchildren(bpmn("multiInstanceLoopCharacteristics")):
            self.check_multi_instance(node, loop)
        for loop in node.iterchildren(bpmn("standardLoopCharacteristics")):
            # Camunda 7 does not run standard loops (the marker is drawn, the activity runs once); SpiffWorkflow would
            # repeat it, or refuse it without a condition. Refuse it: there is no way to run it as Camunda does.
            self.report("loop_unsupported", f"{_label(node)} has a loop marker (standard loop), which Camunda 7 does "
                        "not run; draw a flow back to it through an exclusive gateway, or use a multi-instance "
                        "marker", loop)
        compensation = next(node.iterchildren(bpmn("compensateEventDefinition")), None)
        if local(node) == "boundaryEvent" and compensation is not None:
            self.report("compensation_unsupported", f"{_label(node)} is a compensation boundary event, which YanXun "
                        "cannot run; draw the undo step as a task on the path that needs it", node)
        for link in node.iterchildren(bpmn("linkEventDefinition")):
            # SpiffWorkflow has no link events: the throw would end the path there. Camunda 7 jumps to the catch.
            self.report("link_event_unsupported", f"{_label(node)} is a link event, which YanXun cannot follow; "
                        "draw the sequence flow from the element before the throwing link to the element after "
                        "the catching one", link)
        for timer in node.iterchildren(bpmn("timerEventDefinition")):
            self.check_timer(timer)
        for conditional in node.iterchildren(bpmn("conditionalEventDefinition")):
            for condition in conditional.iterchildren(bpmn("condition")):
                self.expression(condition, condition.text, "Condition")
        for message in node.iterchildren(bpmn("messageEventDefinition")):
            if local(node) in ("intermediateThrowEvent", "endEvent"):
                # Camunda 7 runs it as its implementation (a Java class, expression or topic) or as a no-op without
                # one; SpiffWorkflow fails on it. Nothing in YanXun receives the message either way.
                self.report("message_throw_unsupported", f"{_label(node)} throws a message, which YanXun cannot "
                            "send; draw a service task with a topic to notify someone, or a plain (none) event",
                            message)
                continue
            if message.get(camunda("expression")):
                self.expression(message, message.get(camunda("expression")), "Message payload")

    def check_common(self, node: Any) -> None:
        for extensions in node.iterchildren(bpmn("extensionElements")):
            for listener in extensions.iterchildren(camunda("executionListener"), camunda("taskListener")):
                self.report("listener_ignored", f"{local(listener)}s are ignored by YanXun; use a service task or "
                            "a timer boundary event instead", listener, severity="warning")
            for properties in extensions.iterchildren(camunda("properties")):
                for item in properties.iterchildren(camunda("property")):
                    if item.get("name") == "camunda":
                        self.report("property_reserved", "The extension property name 'camunda' is reserved", item)
            for retry in extensions.iterchildren(camunda("failedJobRetryTimeCycle")):
                self.report("retry_cycle_ignored", "The retry time cycle is ignored: a failing asynchronous service "
                            "is retried as its topic was registered (30 s, 60 s, 120 s..., five attempts)", retry,
                            severity="warning")
            for injected in extensions.iterchildren(camunda("field")):
                self.report("field_injection_ignored", f"Field {injected.get('name')!r} is ignored: handlers get "
                            "no injected fields; pass the value as an input parameter", injected, severity="warning")
            if local(node) not in ("userTask", "serviceTask"):
                for io in extensions.iterchildren(camunda("inputOutput")):
                    self.report("io_ignored", "Input/output parameters are only used on user and service tasks",
                                io, severity="warning")

    def check_flow(self, flow: Any, nodes: Mapping[str, Any], outgoing: Mapping[str, int]) -> None:
        source = nodes.get(flow.get("sourceRef"))
        if (source is not None and local(source) in ("exclusiveGateway", "inclusiveGateway")
                and outgoing.get(source.get("id"), 0) > 1 and source.get("default") != flow.get("id")
                and next(flow.iterchildren(bpmn("conditionExpression")), None) is None):
            # Camunda 7 takes such a flow as if its condition held; SpiffWorkflow refuses it (for lack of a clearer
            # word, as "exclusive"). Say what to do instead.
            self.report("flow_condition_missing", f"Flow {_name(flow)!r} leaves "
                        f"{_label(source)} without a condition and is not its default flow; give it a condition "
                        "(${true} if it should always be taken) or make it the default flow", flow)
        for condition in flow.iterchildren(bpmn("conditionExpression")):
            if source is not None and local(source) not in ("exclusiveGateway", "inclusiveGateway"):
                self.report("condition_ignored", f"The condition on flow {flow.get('id')!r} is ignored: only flows "
                            "leaving an exclusive or inclusive gateway can have conditions", condition)
                continue
            language = (condition.get("language") or "").strip().lower()
            if language not in PYTHON_LANGUAGES:
                self.report("condition_language_unsupported", f"Condition scripts in {language!r} are not supported; "
                            "choose Type 'Expression' and write ${...} or Python", condition, language=language)
            elif condition.get(camunda("resource")):
                self.report("condition_resource_unsupported", "External condition scripts are not supported",
                            condition)
            else:
                self.expression(condition, condition.text, f"Condition of flow {_name(flow)!r}")

    # -- element types ---------------------------------------------------------------------------------------

    def check_userTask(self, node: Any) -> None:  # noqa: N802 - named after the BPMN element
        self.check_parameters(node)
        form_key = node.get(camunda("formKey"))
        if form_key is not None and form_key not in self.ctx.known_form_keys:
            self.report("form_key_unknown", f"Form key {form_key!r} names no registered form", node, form_key=form_key)
        if node.get(camunda("formRef")) is not None:
            self.report("form_ref_unsupported", "Camunda Forms (formRef) are not supported; use 'Generated Task "
                        "Forms' or a form key", node)
        self.check_form_fields(node)
        groups = node.get(camunda("candidateGroups"))
        for part in split_list(groups):
            if is_juel(part):
                self.expression(node, part, "Candidate groups")
            elif part not in self.ctx.known_roles:
                self.report("candidate_group_unknown", f"Candidate group {part!r} is not a role code "
                            f"(known: {_known(self.ctx.known_roles)})", node, role=part)
        for attribute, what in (("assignee", "Assignee"), ("candidateUsers", "Candidate users")):
            for part in split_list(node.get(camunda(attribute))):
                if is_juel(part):
                    self.expression(node, part, what)
        for attribute, what in (("dueDate", "Due date"), ("followUpDate", "Follow-up date")):
            value = node.get(camunda(attribute))
            if value is not None:
                self.check_date(node, value, what)
        priority = node.get(camunda("priority"))
        if priority is not None:
            if is_juel(priority):
                self.expression(node, priority, "Priority")
            elif not re.fullmatch(r"\s*-?\d+\s*", priority):
                self.report("priority_invalid", f"Priority {priority!r} is not a whole number", node)

    def check_manualTask(self, node: Any) -> None:  # noqa: N802
        self.check_form_fields(node)

    def check_startEvent(self, node: Any) -> None:  # noqa: N802
        if node.get(camunda("initiator")):
            # Camunda 7 stores the starting user under this name; here that variable is always 'initiator'.
            self.report("start_initiator_unsupported", f"Initiator variable {node.get(camunda('initiator'))!r} is "
                        "not set by YanXun; leave the field empty and write ${initiator}", node)
        if next(node.iter(camunda("formData")), None) is not None or node.get(camunda("formKey")):
            self.report("start_form_ignored", "Start event forms are ignored; the application starts the process",
                        node, severity="warning")
        self.check_message_start(node)
        self.check_event_subprocess_start(node)

    def check_message_start(self, node: Any) -> None:
        """The application starts a process through its none start event and sends no message that could start
        one, so a process that only a message starts would sit with nothing to do."""
        process = node.getparent()
        if local(process) != "process" or next(node.iterchildren(bpmn("messageEventDefinition")), None) is None:
            return
        if any(not _event_definitions(start) for start in process.iterchildren(bpmn("startEvent"))):
            return
        self.report("message_start_unsupported", f"{_label(node)} is a message start event, and YanXun starts "
                    "processes itself and never by a message, so the process would never begin; draw a none start "
                    "event (a plain circle) instead", node)

    def check_event_trigger(self, node: Any, tag: str) -> None:
        """Events that would deploy and then never fire, or fire otherwise than in Camunda 7, are refused by name:
        YanXun starts processes itself (no timer, conditional or signal starts), and would keep a
        signal inside one instance where Camunda 7 broadcasts it to all. (Message catches stay: the engine delivers
        messages, and the application will send them through a correlation API.)"""
        kinds = {local(d) for d in _event_definitions(node)}
        in_event_subprocess = node.getparent().get("triggeredByEvent") == "true"
        if "signalEventDefinition" in kinds:
            self.report("signal_unsupported", f"{_label(node)} uses a signal, which Camunda 7 broadcasts to every "
                        "instance and YanXun does not; within one process use an escalation, between processes a "
                        "user task or a timer", node)
        if tag == "startEvent" and local(node.getparent()) == "process" and kinds & {
                "timerEventDefinition", "conditionalEventDefinition"}:
            self.report("start_trigger_unsupported", f"{_label(node)} would start the process by a timer or a "
                        "condition, but YanXun starts processes from its own pages; draw a none start event, then an "
                        "intermediate timer or a gateway if it must wait", node)
        if tag == "startEvent" and in_event_subprocess and "timerEventDefinition" in kinds \
                and node.get("isInterrupting") == "false":
            self.report("event_subprocess_timer_unsupported", f"{_label(node)}: a non-interrupting timer event "
                        "subprocess would keep the instance open after its end; attach a non-interrupting timer "
                        "boundary event to the task it reminds about instead", node)

    def check_event_subprocess_start(self, node: Any) -> None:
        """Error and escalation start events start only event subprocesses: anywhere else nothing starts them."""
        kinds = [local(d)[:-len("EventDefinition")] for d in _event_definitions(node)
                 if local(d) in ("errorEventDefinition", "escalationEventDefinition")]
        if kinds and node.getparent().get("triggeredByEvent") != "true":
            self.report("start_event_misplaced", f"{_label(node)} is an {kinds[0]} start event, which only an event "
                        "subprocess can have; draw a none start event here, or put it in an event subprocess", node,
                        kind=kinds[0])

    def check_serviceTask(self, node: Any) -> None:  # noqa: N802
        self.check_parameters(node)
        for definition in node.iter(camunda("errorEventDefinition")):
            self.report("external_error_definition_unsupported", "Error event definitions on an external task are "
                        "not evaluated; the worker reports the BPMN error itself: remove it", definition)
        attrs = {name: node.get(camunda(name)) for name in ("topic", "class", "expression", "delegateExpression",
                                                             "type")}
        if next(node.iter(camunda("connector")), None) is not None:
            self.report("service_connector_unsupported", "Connectors are not supported; set Implementation to "
                        "'External' with a topic", node)
            return
        if attrs["expression"]:
            self.report("service_expression_unsupported", "Java expressions cannot run here; set Implementation to "
                        "'External' with a topic", node)
            return
        if attrs["type"] == "external" and not attrs["topic"]:
            self.report("service_topic_missing", "The external service task has no topic", node)
            return
        topic = service_topic({k: v for k, v in attrs.items() if v})
        if topic is None:
            if attrs["delegateExpression"]:
                self.report("service_delegate_unsupported", "A delegate expression must be a single name such as "
                            "${creditCheck}", node)
            else:
                self.report("service_implementation_missing", "The service task has no implementation; set "
                            "Implementation to 'External' with a topic", node)
        elif topic not in self.ctx.known_topics:
            self.report("service_topic_unknown", f"No service is registered for topic {topic!r} "
                        f"(known: {_known(self.ctx.known_topics)})", node, topic=topic)

    def check_sendTask(self, node: Any) -> None:  # noqa: N802
        if any(node.get(camunda(a)) for a in ("class", "expression", "delegateExpression", "topic")):
            self.report("send_task_unsupported", "Send tasks with an implementation are not supported; use a "
                        "service task", node)

    def check_scriptTask(self, node: Any) -> None:  # noqa: N802
        script_format = (node.get("scriptFormat") or "").strip().lower()
        if script_format not in PYTHON_LANGUAGES:
            self.report("script_format_unsupported", f"Scripts are run as Python; format {script_format!r} is not "
                        "supported", node, format=script_format)
            return
        if node.get(camunda("resource")):
            self.report("script_resource_unsupported", "External script resources are not supported; write the "
                        "script inline", node)
            return
        script = next(node.iterchildren(bpmn("script")), None)
        if script is None or not (script.text or "").strip():
            self.report("script_missing", "The script task has no script", node)
            return
        if node.get(camunda("resultVariable")):
            self.report("script_result_ignored", "camunda:resultVariable is ignored on script tasks; assign the "
                        "variable in the script", node, severity="warning")
        try:
            compile_script(script.text)
        except ExpressionError as exc:
            line = script.sourceline + (exc.line or 1) - 1
            self.problems.append(Problem(exc.code, f"Script of {_label(node)}: {exc.message}", self.file, line,
                                         node.get("id"), node.get("name")))
        self.check_mi_variables(script, script.text)

    def check_businessRuleTask(self, node: Any) -> None:  # noqa: N802
        ref = node.get(camunda("decisionRef"))
        if not ref:
            self.report("decision_ref_missing", "The business rule task has no decision reference "
                        "(Implementation 'DMN')", node)
        elif ref not in self.ctx.decision_ids:
            self.report("decision_missing", f"Decision {ref!r} is not in the uploaded DMN files", node, decision=ref)
        for code, message, severity in business_rule_task_findings(node):
            self.report(code, message, node, severity=severity)

    def check_callActivity(self, node: Any) -> None:  # noqa: N802
        called = node.get("calledElement")
        if not called:
            self.report("called_element_missing", "The call activity names no process", node)
        elif called not in self.ctx.process_ids:
            self.report("called_process_missing", f"Called process {called!r} is not in the uploaded files", node,
                        process=called)
        if (next(node.iter(camunda("in"), camunda("out")), None) is not None
                or node.get(camunda("variableMappingClass")) or node.get(camunda("variableMappingDelegateExpression"))):
            self.report("call_mapping_ignored", "In/out mappings are ignored: the called process sees all "
                        "variables and returns all of them", node, severity="warning")
        binding = node.get(camunda("calledElementBinding"))
        if binding in ("version", "versionTag"):
            self.report("call_binding_unsupported", f"Binding {binding!r} of {_label(node)} is not supported: the "
                        "call always runs the called process deployed with this upload; clear the binding (or use "
                        "'latest' or 'deployment')", node, binding=binding)

    # -- details ---------------------------------------------------------------------------------------------

    def check_parameters(self, node: Any) -> None:
        for mapping in node.iter(camunda("inputOutput")):
            for param in mapping:
                if local(param) in ("inputParameter", "outputParameter"):
                    self.check_parameter(param, param.get("name"))

    def check_parameter(self, element: Any, name: str | None) -> None:
        children = [c for c in element if isinstance(c.tag, str)]
        if not children:
            if is_juel(element.text):
                self.expression(element, element.text, f"Parameter {name!r}")
            return
        kind = local(children[0])
        if kind in ("list", "map"):
            for item in children[0]:
                if isinstance(item.tag, str):
                    self.check_parameter(item, name)
        else:
            self.report("parameter_script_unsupported", f"Parameter {name!r}: only text, ${{...}}, list and map "
                        "values are supported", element)

    def check_form_fields(self, node: Any) -> None:
        seen: set[str] = set()
        for form_field in node.iter(camunda("formField")):
            fid, ftype = form_field.get("id") or "", form_field.get("type") or ""
            if not fid.isidentifier() or fid in seen:
                why = "is used twice" if fid in seen else "must be a variable name (letters, digits, _)"
                self.report("form_field_id_invalid", f"Form field id {fid!r} {why}", form_field, field=fid)
            seen.add(fid)
            if fid in self.element_ids:
                self.report("id_collision", f"Form field id {fid!r} is also the id of a BPMN element; rename one",
                            form_field, field=fid)
            if ftype not in FIELD_TYPES:
                self.report("form_field_type_unsupported", f"Form field {fid!r} has type {ftype!r}; use one of "
                            f"{', '.join(sorted(FIELD_TYPES))}", form_field, field=fid, type=ftype)
                continue
            options = [v.get("id") for v in form_field.iterchildren(camunda("value"))]
            for value_id in options:
                if value_id in self.element_ids:
                    self.report("id_collision", f"Enum value id {value_id!r} is also the id of a BPMN element; "
                                "rename one", form_field, field=fid)
            if ftype == "enum" and not options:
                self.report("form_enum_empty", f"Enum field {fid!r} has no values", form_field, field=fid)
            for constraint in form_field.iter(camunda("constraint")):
                self.check_constraint(form_field, fid, ftype, constraint)
            default = form_field.get("defaultValue")
            if default:
                if is_juel(default):
                    self.expression(form_field, default, f"Default of field {fid!r}")
                else:
                    try:
                        coerce(ftype, default, options)
                    except ValueError as exc:
                        self.report("form_default_invalid", f"Default {default!r} of field {fid!r} is not {exc}",
                                    form_field, field=fid)

    def check_constraint(self, form_field: Any, fid: str, ftype: str, constraint: Any) -> None:
        name, config = constraint.get("name") or "", constraint.get("config")
        if name not in CONSTRAINTS:
            self.report("form_constraint_unsupported", f"Constraint {name!r} on field {fid!r} is not supported; "
                        f"use {', '.join(sorted(CONSTRAINTS))}", constraint, field=fid, constraint=name)
            return
        valid = True
        if name in ("minlength", "maxlength"):
            valid = ftype == "string" and bool(re.fullmatch(r"\d+", config or ""))
        elif name in ("min", "max"):
            try:
                coerce(ftype if ftype in ("long", "date") else "", config or "")
            except ValueError:
                valid = False
        if not valid:
            self.report("form_constraint_invalid", f"Constraint {name}={config!r} does not fit the {ftype} field "
                        f"{fid!r}", constraint, field=fid, constraint=name)

    def check_multi_instance(self, node: Any, loop: Any) -> None:
        """Camunda 7 multi-instance (see :mod:`~webapp.engine.multiinstance`): cardinality or collection."""
        cardinality = next(loop.iterchildren(bpmn("loopCardinality")), None)
        cardinality_text = (cardinality.text or "").strip() if cardinality is not None else ""
        collection = loop.get(camunda("collection"))
        if cardinality_text and collection is not None:
            self.report("mi_cardinality_and_collection", f"{_label(node)} has both a loop cardinality and a "
                        "collection; keep one (the collection, to run once per item)", loop)
        elif not cardinality_text and collection is None:
            self.report("mi_cardinality_missing", f"{_label(node)} is multi-instance without a loop cardinality or "
                        "a collection; set Loop cardinality (e.g. 3 or ${count}) or Collection and Element "
                        "variable", loop)
        if cardinality_text and not re.fullmatch(r"\d+", cardinality_text):
            self.expression(cardinality, cardinality_text, "Loop cardinality", allowed=("loopCounter",))
        if collection is not None:
            if variable_of(collection) is None:
                if is_juel(collection):
                    self.expression(loop, collection, "Collection", allowed=())
                else:
                    self.report("mi_collection_invalid", f"Collection {collection!r} must be a variable name (or "
                                "${name}, or a ${...} expression giving a list)", loop)
            if not loop.get(camunda("elementVariable")):
                self.report("mi_element_variable_missing", "A multi-instance collection needs an element variable",
                            loop)
        element_variable = loop.get(camunda("elementVariable"))
        if element_variable is not None and not element_variable.strip().isidentifier():
            self.report("mi_element_variable_invalid", f"Element variable {element_variable!r} must be a variable "
                        "name (letters, digits, _)", loop)
        for attribute, label in (("asyncBefore", "asynchronous before"), ("asyncAfter", "asynchronous after")):
            if loop.get(camunda(attribute)) == "true":
                self.report("mi_async_unsupported", f"{_label(node)}: multi-instance '{label}' is not supported "
                            "(YanXun starts the instances together, in one step); untick it", loop,
                            attribute=attribute)
        for retry in loop.iter(camunda("failedJobRetryTimeCycle")):
            self.report("mi_async_unsupported", f"{_label(node)}: multi-instance retry time cycles are not "
                        "supported; remove it", retry, attribute="failedJobRetryTimeCycle")
        for condition in loop.iterchildren(bpmn("completionCondition")):
            if (condition.text or "").strip():
                self.expression(condition, condition.text, "Completion condition",
                                allowed=("loopCounter", *COUNTERS))
        collect = _property(node, "collect")
        if collect is not None and not collect.strip().isidentifier():
            self.report("mi_collect_invalid", f"Extension property collect={collect!r} must be a variable name", node)
        elif collect is not None and collect.strip() in (element_variable, LOOP_COUNTER, *COUNTERS):
            self.report("mi_collect_invalid", f"Extension property collect={collect!r} must not be the element "
                        "variable or a multi-instance variable", node)

    def check_timer(self, timer: Any) -> None:
        values = [child for child in timer if local(child) in TIMER_KINDS]
        if not values:
            self.report("timer_empty", "The timer has no type and value", timer)
            return
        for value in values:
            kind, text = local(value), value.text
            try:
                python = timer_expression(kind, text)
                if python != repr((text or "").strip()):
                    compile_expression(python)
            except ExpressionError as exc:
                self.report(exc.code, f"Timer of {_label(timer.getparent())}: {exc.message}", value)
                continue
            if kind == "timeDate" and text and is_naive_date(text.strip()):
                self.report("timer_no_zone", f"Timer date {text.strip()!r} has no time zone; the server's zone will "
                            "be used (add e.g. +08:00)", value, severity="warning")

    def check_date(self, node: Any, value: str, what: str) -> None:
        if is_juel(value):
            self.expression(node, value, what)
            return
        try:
            check_due(value)
        except ExpressionError:
            self.report("date_invalid", f"{what} {value!r} is neither an ISO 8601 duration (P3D) nor a date, nor "
                        "${...}", node)

    def expression(self, element: Any, text: str | None, what: str, *, allowed: Iterable[str] | None = None) -> None:
        try:
            compile_expression(text)
        except ExpressionError as exc:
            self.report(exc.code, f"{what}: {exc.message}", element, expression=text)
            return
        self.check_mi_variables(element, text, allowed)

    def check_mi_variables(self, element: Any, text: str | None, allowed: Iterable[str] | None = None) -> None:
        """``nrOf*Instances`` exist only in completion conditions; ``loopCounter`` in multi-instance activities
        (and what they contain)."""
        if allowed is None:
            allowed = (LOOP_COUNTER,) if _in_multi_instance(element) else ()
        match = next((m for m in _MI_VARIABLES.finditer(text or "") if m.group(1) not in allowed), None)
        if match:
            self.report("mi_variable_unsupported", f"{match.group(1)} does not exist here: nrOfInstances, "
                        "nrOfActiveInstances and nrOfCompletedInstances only in a completion condition, loopCounter "
                        "only in a multi-instance activity", element, variable=match.group(1))

    # -- lanes and diagram -----------------------------------------------------------------------------------

    def check_lanes(self, process: Any) -> None:
        lanes_of = {}
        for ref in process.iter(bpmn("flowNodeRef")):
            chain = list(ref.iterancestors(bpmn("lane")))
            node_id = (ref.text or "").strip()
            if len(chain) > len(lanes_of.get(node_id, [])):
                lanes_of[node_id] = chain
        reported: set[str] = set()
        for task in process.iter(bpmn("manualTask")):
            # Camunda 7 passes straight through a manual task; SpiffWorkflow would wait for someone: refuse both.
            self.report("manual_task_unsupported", f"{_label(task)} is a manual task, which Camunda runs as a no-op "
                        "and nobody's inbox would show; draw a user task for work someone must do", task)
        for task in process.iter(bpmn("userTask")):
            chain, node = [], task
            while node is not None and not chain and node is not process:
                chain, node = lanes_of.get(node.get("id") or "", []), node.getparent()
            roles = [role_for_lane(lane.get("id"), lane.get("name"), self.ctx.known_roles) for lane in chain]
            if task.get(camunda("candidateGroups")) or any(roles):
                continue
            if chain:
                lane = chain[0]
                if lane.get("id") not in reported:
                    reported.add(lane.get("id"))
                    self.report("lane_role_unknown", f"Lane {_name(lane)!r} (id "
                                f"{lane.get('id')!r}) does not name a role: give it the id of a role code, e.g. "
                                f"'Lane_teacher' (known: {_known(self.ctx.known_roles)})", lane, lane=lane.get("id"))
            elif not (task.get(camunda("assignee")) or task.get(camunda("candidateUsers"))):
                self.report("task_unroutable", f"{_label(task)} has no lane, candidate groups, candidate users or "
                            "assignee, so nobody can work on it", task)

    def check_diagram(self, processes: list[Any]) -> None:
        if next(self.root.iterchildren(f"{{{BPMNDI_NS}}}BPMNDiagram"), None) is None:
            self.report("di_missing", "The file has no diagram layout, so Camunda Modeler cannot open it; save it "
                        "from Camunda Modeler", self.root)
            return
        shapes = {s.get("bpmnElement") for s in self.root.iter(f"{{{BPMNDI_NS}}}BPMNShape")}
        edges = {e.get("bpmnElement") for e in self.root.iter(f"{{{BPMNDI_NS}}}BPMNEdge")}
        for process in processes:
            for element in process.iter():
                tag = local(element)
                if tag in FLOW_NODES and element.get("id") not in shapes:
                    self.report("di_shape_missing", f"{_label(element)} has no shape in the diagram", element)
                elif tag == "sequenceFlow" and element.get("id") not in edges:
                    self.report("di_edge_missing", f"Flow {element.get('id')!r} has no line in the diagram", element)


def _event_definitions(event: Any) -> list[Any]:
    return [child for child in event if local(child).endswith("EventDefinition")]


def _property(node: Any, name: str) -> str | None:
    """The value of extension property ``name`` of ``node`` (its own, not its children's)."""
    for extensions in node.iterchildren(bpmn("extensionElements")):
        for properties in extensions.iterchildren(camunda("properties")):
            for item in properties.iterchildren(camunda("property")):
                if item.get("name") == name:
                    return item.get("value") or ""
    return None


def _in_multi_instance(element: Any) -> bool:
    """Is ``element`` part of a multi-instance activity (the activity, its attributes or its contents)?"""
    return any(next(ancestor.iterchildren(bpmn("multiInstanceLoopCharacteristics")), None) is not None
               for ancestor in (element, *element.iterancestors()))


def _label(element: Any) -> str:
    return f"{local(element)} {_name(element)!r}"


def _name(element: Any) -> str:
    return one_line(element.get("name")) or element.get("id")


def _known(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


# ---------------------------------------------------------------------------------------------------------
# DMN
# ---------------------------------------------------------------------------------------------------------

def dmn_problems(file: str, root: Any) -> list[Problem]:
    """Every problem of a DMN document: cells outside the FEEL subset, unsupported hit policies and types,
    missing required decisions (see :mod:`webapp.engine.dmn`)."""
    _, findings = compile_dmn(root)
    return [Problem(f.code, f.message, file, f.line, f.element_id, f.element_name, params=f.params) for f in findings]
