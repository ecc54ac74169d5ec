"""Our task-spec classes and the serializer registry that knows them.

* :class:`HumanTask` is Camunda's user task plus the times it became ready and was completed (engine
  clock, kept in ``internal_data`` so they survive serialization); due dates are relative to ``ready_at``.
* :class:`PassThroughTask` is a plain ``bpmn:task``, which Camunda 7 runs as a no-op.
* :class:`TopicServiceTask` dispatches to the :class:`~webapp.engine.services.ServiceRegistry`.
* Instance state is stored without the spec: :class:`StateOnlyWorkflowConverter` skips it on the way
  out and takes the cached spec object on the way in.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter, EventConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs.defaults import NoneTask, ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.serializer.task_spec import UserTaskConverter
from SpiffWorkflow.camunda.specs.user_task import UserTask

from .conditions import SharedConditionalEventDefinition
from .dmn import DecisionTask, DecisionTaskConverter
from .errors import StateInvalid
from .events import EventSubprocessStartEvent, ScopedEndEvent, ScopedThrowEvent
from .multiinstance import CamundaMultiInstanceConverter, CamundaParallelMultiInstance, CamundaSequentialMultiInstance
from .services import apply_result, build_call, call_handler, lookup
from .timers import BoundaryCycleTimerEventDefinition, now

SPEC_FORMAT = "yanxun-spec/1"


class HumanTask(UserTask):
    """Camunda user task that records ``ready_at``/``completed_at`` (ISO strings) in ``internal_data``."""

    def _on_ready_hook(self, my_task: Any) -> None:
        my_task.internal_data["ready_at"] = now().isoformat()
        super()._on_ready_hook(my_task)

    def _on_complete_hook(self, my_task: Any) -> None:
        my_task.internal_data["completed_at"] = now().isoformat()
        super()._on_complete_hook(my_task)


class PassThroughTask(NoneTask):
    """A plain ``bpmn:task``: Camunda 7 passes straight through it, so it is automatic (SpiffWorkflow's is manual,
    an open task nobody is offered)."""

    def __init__(self, wf_spec: Any, bpmn_id: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class TopicServiceTask(ServiceTask):
    """Service task run by the handler registered for its topic; async topics wait in STARTED."""

    def _run_hook(self, my_task: Any) -> bool | None:
        service = lookup(my_task)
        my_task.internal_data["started_at"] = now().isoformat()
        if service.is_async:
            return None
        result = call_handler(service, build_call(my_task), my_task)
        apply_result(my_task, result)
        return True


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Serializes a workflow without its spec; restores it onto a spec object passed by the caller.

    A dict that still carries ``spec`` (e.g. an old blob run through the migrations) restores as usual.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> BpmnWorkflow:
        if "spec" not in dct:
            if spec is None:
                raise StateInvalid("The instance state has no spec and none was given")
            # restore() returns non-dict objects unchanged, so the cached spec objects pass straight through
            dct["spec"], dct["subprocess_specs"] = spec, dict(subprocess_specs or {})
        return super().from_dict(dct)


def build_registry() -> Any:
    """A serializer registry for Camunda specs plus ours, with ``date`` values in task data."""
    config = dict(CAMUNDA_CONFIG)
    config[HumanTask] = UserTaskConverter
    config[TopicServiceTask] = BpmnTaskSpecConverter
    config[PassThroughTask] = BpmnTaskSpecConverter
    config[BoundaryCycleTimerEventDefinition] = config[CycleTimerEventDefinition]
    config[SharedConditionalEventDefinition] = config[ConditionalEventDefinition]
    for event_spec in (EventSubprocessStartEvent, ScopedEndEvent, ScopedThrowEvent):
        config[event_spec] = EventConverter
    config[CamundaParallelMultiInstance] = CamundaMultiInstanceConverter
    config[CamundaSequentialMultiInstance] = CamundaMultiInstanceConverter
    config[DecisionTask] = DecisionTaskConverter
    config[BpmnWorkflow] = StateOnlyWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return registry


def spec_to_json(registry: Any, spec: Any, subprocess_specs: dict[str, Any], **meta: Any) -> str:
    """The storable form of a parsed process: spec + subprocess specs + ``meta`` (process id, hash)."""
    return json.dumps({
        "format": SPEC_FORMAT,
        "serializer_version": SERIALIZER_VERSION,
        **meta,
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(sub) for name, sub in subprocess_specs.items()},
    }, ensure_ascii=False, sort_keys=True)


def spec_from_json(registry: Any, spec_json: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Inverse of :func:`spec_to_json`: ``(spec, subprocess_specs, meta)``."""
    dct = json.loads(spec_json)
    if dct.get("format") != SPEC_FORMAT:
        raise StateInvalid(f"Not a compiled definition (format {dct.get('format')!r})", code="spec_invalid")
    spec = registry.restore(dct.pop("spec"))
    subprocess_specs = {name: registry.restore(sub) for name, sub in dct.pop("subprocess_specs").items()}
    return spec, subprocess_specs, dct
