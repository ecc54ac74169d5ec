"""A Camunda 7 parser that keeps what SpiffWorkflow's ``CamundaParser`` drops.

Kept in ``task_spec.extensions["camunda"]`` (plain JSON, so it survives the serializer):

* user tasks: ``assignee``, ``candidateUsers``, ``candidateGroups``, ``dueDate``, ``followUpDate``,
  ``priority``, ``formKey`` (the form fields stay in ``task_spec.form``), plus ``laneId``/``laneRole``;
* service tasks: ``topic``, ``class``, ``expression``, ``delegateExpression``, ``type``,
  ``resultVariable``;
* both: ``inputs``/``outputs`` from ``camunda:inputOutput``.

Plain tasks pass through (:class:`~webapp.engine.specs.PassThroughTask`); start, end and throw events catch
errors and escalations as Camunda does (:mod:`webapp.engine.events`); non-interrupting cycle timers keep
what they spawned (:func:`~webapp.engine.timers.keep_cycle_paths`); conditional events see the process
variables (:mod:`webapp.engine.conditions`).

``camunda:properties`` stay where SpiffWorkflow puts them (top-level keys of ``extensions``), so a
property may not be called ``camunda``.

Lanes and roles: a lane names a role code when its id is the code or ends with ``_<code>``
(``teacher``, ``Lane_teacher``, ``Lane_school_officer``; the longest matching code wins), or, failing
that, when its name is exactly the code. Its name is free text (``教师``). Nested lanes: the innermost
lane that names a role wins. ``candidateGroups`` on a task wins over the lane.

Use a fresh parser per upload (SpiffWorkflow refuses a process id it has already seen).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from lxml import etree
from SpiffWorkflow.bpmn.parser.event_parsers import ReceiveTaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ReceiveTask
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaEndEventParser,
    CamundaEventDefinitionParser,
    CamundaIntermediateThrowEventParser,
)
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser, UserTaskParser

from .conditions import share_conditions
from .dmn import DecisionTask, DecisionTaskParser, compile_dmn
from .events import EventSubprocessStartEvent, EventSubprocessStartParser, ScopedEndEvent, ScopedThrowEvent
from .multiinstance import CamundaParallelMultiInstance, CamundaSequentialMultiInstance
from .specs import HumanTask, PassThroughTask, TopicServiceTask
from .timers import keep_cycle_paths, timer_expression

USER_TASK_ATTRIBUTES = ("assignee", "candidateUsers", "candidateGroups", "dueDate", "followUpDate", "priority",
                        "formKey")
SERVICE_TASK_ATTRIBUTES = ("topic", "class", "expression", "delegateExpression", "type", "resultVariable")
#: Activities that may carry multiInstanceLoopCharacteristics (user and service tasks have their own parsers).
MULTI_INSTANCE_TAGS = ("task", "scriptTask", "businessRuleTask", "subProcess", "callActivity", "transaction",
                       "sendTask", "receiveTask")
_TIMER_KINDS = {TimeDateEventDefinition: "timeDate", DurationTimerEventDefinition: "timeDuration",
                CycleTimerEventDefinition: "timeCycle"}


def role_for_lane(lane_id: str | None, lane_name: str | None, known_roles: Iterable[str]) -> str | None:
    """The role code a lane names (see the module docstring), or ``None``."""
    roles = set(known_roles)
    matches = [role for role in roles if lane_id and (lane_id == role or lane_id.endswith(f"_{role}"))]
    if matches:
        return max(matches, key=len)
    name = (lane_name or "").strip()
    return name if name in roles else None


def parse_parameters(node: Any) -> dict[str, dict[str, Any]]:
    """``camunda:inputOutput`` of a task node as ``{"inputs": {...}, "outputs": {...}}``."""
    result: dict[str, dict[str, Any]] = {"inputs": {}, "outputs": {}}
    prefix = f"{{{CAMUNDA_MODEL_NS}}}"
    for io in node.iterchildren(full_tag("extensionElements")):
        for mapping in io.iterchildren(f"{prefix}inputOutput"):
            for param in mapping.iterchildren(f"{prefix}inputParameter", f"{prefix}outputParameter"):
                key = "inputs" if param.tag.endswith("inputParameter") else "outputs"
                result[key][param.get("name")] = _parameter(param)
    return result


def _parameter(element: Any) -> dict[str, Any]:
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return {"type": "text", "value": element.text}
    child = children[0]
    kind = etree.QName(child).localname
    if kind == "list":
        return {"type": "list", "items": [_parameter(item) for item in child if isinstance(item.tag, str)]}
    if kind == "map":
        return {"type": "map", "entries": {entry.get("key"): _parameter(entry)
                                           for entry in child if isinstance(entry.tag, str)}}
    return {"type": kind, "format": child.get("scriptFormat"), "resource": child.get("resource"),
            "value": child.text}


def _camunda_extensions(task_parser: Any, attributes: tuple[str, ...]) -> dict[str, Any]:
    camunda = {name: value for name in attributes if (value := task_parser.attribute(name, "camunda")) is not None}
    camunda.update(parse_parameters(task_parser.node))
    parser = task_parser.process_parser.parser
    lanes = parser.lanes_of(task_parser.node)
    if lanes:
        camunda["laneId"] = lanes[0][0]
        camunda["laneRole"] = parser.role_of_lanes(lanes)
    return camunda


class MultiInstanceParserMixin:
    """Builds our Camunda 7 multi-instance specs (:mod:`~webapp.engine.multiinstance`) for any activity."""

    def _add_multiinstance_task(self, loop_characteristics: Any) -> None:
        prefix = f"{{{CAMUNDA_MODEL_NS}}}"
        cardinality = next(loop_characteristics.iterchildren(full_tag("loopCardinality")), None)
        condition = next(loop_characteristics.iterchildren(full_tag("completionCondition")), None)
        collection = loop_characteristics.get(f"{prefix}collection")
        cardinality_text = (cardinality.text or "").strip() if cardinality is not None else None
        if not cardinality_text and collection is None:
            self.raise_validation_exception("A multi-instance activity needs a loop cardinality or a collection")
        collect = None
        for extensions in self.node.iterchildren(full_tag("extensionElements")):
            for properties in extensions.iterchildren(f"{prefix}properties"):
                for item in properties.iterchildren(f"{prefix}property"):
                    if item.get("name") == "collect" and (item.get("value") or "").strip():
                        collect = item.get("value").strip()
        sequential = loop_characteristics.get("isSequential") == "true"
        original = self.spec.task_specs.pop(self.task.name)
        cls = CamundaSequentialMultiInstance if sequential else CamundaParallelMultiInstance
        self.task = cls(self.spec, original.name, "", cardinality=cardinality_text or None,
                        condition=(condition.text or "").strip() or None if condition is not None else None,
                        collection=collection, element_variable=loop_characteristics.get(f"{prefix}elementVariable"),
                        collect=collect, bpmn_name=self.node.get("name"),
                        description="Sequential MultiInstance" if sequential else "Parallel MultiInstance")
        self._copy_task_attrs(original, loop_characteristics)


def _with_multi_instance(parser_class: type) -> type:
    return type(parser_class.__name__, (MultiInstanceParserMixin, parser_class), {})


class ExtUserTaskParser(MultiInstanceParserMixin, UserTaskParser):
    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        extensions["camunda"] = _camunda_extensions(self, USER_TASK_ATTRIBUTES)
        return extensions


class ExtServiceTaskParser(MultiInstanceParserMixin, CamundaTaskParser):
    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        extensions["camunda"] = _camunda_extensions(self, SERVICE_TASK_ATTRIBUTES)
        return extensions


class CamundaReceiveTaskParser(CamundaEventDefinitionParser, ReceiveTaskParser):
    """A receive task with the Camunda message definition its catch events get (the stock parser gives it the plain
    BPMN one, which the Camunda serializer cannot store), so it waits for and takes a message like them."""


class ExtendedCamundaParser(CamundaParser):
    """``CamundaParser`` keeping the attributes above, rewriting timer values, resolving lane roles."""

    OVERRIDE_PARSER_CLASSES: ClassVar[dict[str, tuple[type, type]]] = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        **{full_tag(tag): (_with_multi_instance(parser_class), spec_class)
           for tag in MULTI_INSTANCE_TAGS
           for parser_class, spec_class in [{**CamundaParser.PARSER_CLASSES,
                                             **CamundaParser.OVERRIDE_PARSER_CLASSES}[full_tag(tag)]]},
        full_tag("userTask"): (ExtUserTaskParser, HumanTask),
        full_tag("serviceTask"): (ExtServiceTaskParser, TopicServiceTask),
        full_tag("task"): (_with_multi_instance(CamundaTaskParser), PassThroughTask),
        full_tag("startEvent"): (EventSubprocessStartParser, EventSubprocessStartEvent),
        full_tag("endEvent"): (CamundaEndEventParser, ScopedEndEvent),
        full_tag("intermediateThrowEvent"): (CamundaIntermediateThrowEventParser, ScopedThrowEvent),
        full_tag("businessRuleTask"): (_with_multi_instance(DecisionTaskParser), DecisionTask),
        full_tag("receiveTask"): (_with_multi_instance(CamundaReceiveTaskParser), ReceiveTask),
    }

    def __init__(self, *, known_roles: Iterable[str] = (), validator: Any = None) -> None:
        super().__init__(validator=validator)
        self.known_roles = frozenset(known_roles)
        self._lane_chains: dict[int, dict[str, list[tuple[str, str]]]] = {}
        self._normalized: set[int] = set()
        self.decisions: dict[str, dict[str, Any]] = {}

    def add_dmn_xml(self, node: Any, filename: str | None = None) -> None:
        """Compile every decision of a DMN document (see :mod:`webapp.engine.dmn`); SpiffWorkflow's own DMN
        parser is not used (it takes the first decision of a file only, and reads cells as Python)."""
        decisions, _ = compile_dmn(node)  # the deploy check reports the problems
        for decision_id in decisions:
            if decision_id in self.decisions:
                element = next(e for e in node.iter() if e.get("id") == decision_id)
                raise ValidationException(f"Decision id {decision_id!r} is used twice in the upload; rename one",
                                          node=element, file_name=filename)
        self.decisions.update(decisions)

    def _add_diagram_indexes(self, bpmn: Any) -> None:
        super()._add_diagram_indexes(bpmn)
        key = self._document_key(bpmn)
        if key in self._lane_chains:
            return
        chains: dict[str, list[tuple[str, str]]] = {}
        for ref in bpmn.xpath(".//bpmn:flowNodeRef", namespaces=self.namespaces):
            chain = [(lane.get("id"), lane.get("name")) for lane in ref.iterancestors(full_tag("lane"))]
            node_id = (ref.text or "").strip()
            if len(chain) > len(chains.get(node_id, [])):
                chains[node_id] = chain
        self._lane_chains[key] = chains

    def lanes_of(self, node: Any) -> list[tuple[str, str]]:
        """``[(lane id, lane name), ...]`` from innermost to outermost; subprocess contents inherit."""
        chains = self._lane_chains.get(id(node.getroottree().getroot()), {})
        current = node
        while current is not None and current.tag != full_tag("process"):
            chain = chains.get(current.get("id") or "")
            if chain:
                return chain
            current = current.getparent()
        return []

    def role_of_lanes(self, lanes: list[tuple[str, str]]) -> str | None:
        for lane_id, lane_name in lanes:
            role = role_for_lane(lane_id, lane_name, self.known_roles)
            if role is not None:
                return role
        return None

    def get_spec(self, process_id: str, required: bool = True) -> Any:
        spec = super().get_spec(process_id, required)
        if spec is not None and id(spec) not in self._normalized:
            normalize_timers(spec)
            keep_cycle_paths(spec)
            share_conditions(spec)
            self._normalized.add(id(spec))
        return spec


def normalize_timers(spec: Any) -> None:
    """Rewrite every timer expression of ``spec`` in place (see :func:`~webapp.engine.timers.timer_expression`)."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        definitions = (definition.event_definitions if isinstance(definition, MultipleEventDefinition)
                       else [definition])
        for item in definitions:
            kind = _TIMER_KINDS.get(type(item))
            if kind is not None:
                item.expression = timer_expression(kind, item.expression)
