"""BPMN errors and escalations, caught where Camunda 7 catches them.

SpiffWorkflow's Camunda parser reads no error or escalation definition on a start event, so an event
subprocess started by one ran as soon as the instance started. And a thrown error went to any error
catcher waiting anywhere in the thrower's process. Here:

* an event subprocess's start event keeps its error/escalation definition (and ``isInterrupting``), so
  it waits until something throws;
* a throw (error end event, escalation throw/end event, a worker's BPMN error from a service task) is
  looked for, scope by scope from the thrower outwards, first on the boundary events attached to the
  activity it comes from, then in the event subprocesses of that scope;
* an interrupting event subprocess cancels everything else of its scope (the scope ends with it); a
  non-interrupting one runs alongside.

An error nothing catches ends its path like a none end event (as in Camunda 7); an escalation nothing
catches is ignored.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.parser.event_parsers import (
    CONDITIONAL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TIMER_EVENT_XPATH,
)
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, EndEvent, IntermediateThrowEvent, StartEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    CodeEventDefinition,
    ErrorEventDefinition,
)
from SpiffWorkflow.camunda.parser.event_parsers import CamundaStartEventParser
from SpiffWorkflow.util.task import TaskState

INTERRUPTING = "interrupting"


class EventSubprocessStartParser(CamundaStartEventParser):
    """Start events with error and escalation definitions too; ``isInterrupting`` in ``extensions``."""

    def create_task(self) -> Any:
        definition = self.get_event_definition([MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH,
                                                CONDITIONAL_EVENT_XPATH, ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH])
        task = self._create_task(definition)
        self.spec.start.connect(task)
        return task

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        if self.node.getparent().get("triggeredByEvent") == "true":
            is_error = bool(self.xpath(ERROR_EVENT_XPATH))
            extensions[INTERRUPTING] = is_error or self.node.get("isInterrupting", "true") == "true"
        return extensions


class ScopedThrow:
    """Mixin for throwing events: an error or escalation goes to :func:`throw`, anything else as before."""

    def _run_hook(self, my_task: Any) -> bool:
        if not isinstance(self.event_definition, CodeEventDefinition):
            return super()._run_hook(my_task)
        self.run_event.emit(my_task.workflow, my_task)
        throw(my_task, self.event_definition, deepcopy(my_task.data))
        return True


class ScopedEndEvent(ScopedThrow, EndEvent):
    """An error or escalation end event caught as Camunda catches it (an uncaught error just ends the path)."""


class ScopedThrowEvent(ScopedThrow, IntermediateThrowEvent):
    """An escalation throw event caught as Camunda catches it (an uncaught escalation is ignored)."""


class EventSubprocessStartEvent(StartEvent):
    """A start event that, when it starts an interrupting event subprocess, cancels the rest of its scope, which
    then ends when the event subprocess does.

    It runs once the thrower is done (the engine runs it as the next READY task), as a boundary event does.
    """

    def _run_hook(self, my_task: Any) -> bool:
        running = _task_running(my_task.workflow)
        if running is not None and (self.extensions or {}).get(INTERRUPTING):
            for task in _frontier(running.workflow):
                if task is not running:
                    task.cancel()
            running.task_spec._predict(running, mask=TaskState.NOT_FINISHED_MASK)
        return super()._run_hook(my_task)


def throw(task: Any, definition: CodeEventDefinition, payload: dict[str, Any]) -> bool:
    """Deliver an error or escalation thrown by ``task``; False when nothing catches it."""
    event = BpmnEvent(definition, payload=payload)
    current = task
    while current is not None:
        catchers = [sibling for sibling in _attached(current)
                    if sibling.task_spec.event_definition.catches(sibling, event)]
        if catchers:
            catcher = min(catchers, key=lambda c: _catch_all(c.task_spec.event_definition))
            catcher.task_spec.catch(catcher, event)
            catcher.task_spec._update(catcher)
            return True
        scope = current.workflow
        if _start_event_subprocess(scope, event):
            return True
        current = _task_running(scope)
    return False


def throw_error(task: Any, code: str, payload: dict[str, Any]) -> bool:
    """A BPMN error with ``code`` thrown by ``task`` (a service task a worker failed with a business error)."""
    return throw(task, ErrorEventDefinition(code, code=code), payload)


def _attached(task: Any) -> list[Any]:
    """The waiting boundary events attached to ``task``."""
    parent = task.parent
    if parent is None:
        return []
    return [sibling for sibling in parent.children if sibling is not task and isinstance(sibling.task_spec,
            BoundaryEvent) and sibling.state == TaskState.WAITING]


def _frontier(workflow: Any) -> list[Any]:
    """The unfinished tasks of ``workflow`` whose parent is finished: cancelling them cancels all the rest."""
    return [task for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK, skip_subprocesses=True)
            if task.parent is not None and not task.parent.has_state(TaskState.NOT_FINISHED_MASK)]


def _catch_all(definition: Any) -> bool:
    """Does ``definition`` catch every code? Camunda prefers a catcher naming the code thrown."""
    return getattr(definition, "code", None) is None


def _task_running(scope: Any) -> Any:
    """The task (in the enclosing process) that runs subprocess ``scope``; None for the instance itself."""
    parent_id = getattr(scope, "parent_task_id", None)
    return scope.top_workflow.get_task_from_id(parent_id) if parent_id is not None else None


def _start_event_subprocess(scope: Any, event: Any) -> bool:
    """Start the event subprocess of ``scope`` whose start event catches ``event`` (one naming its code first)."""
    top = scope.top_workflow
    start = scope.spec.start
    candidates = [(name, start_event) for name in start.trigger_specs
                  for start_event in getattr(top.subprocess_specs.get(name), "bpmn_start_events", [])
                  if start_event.event_definition == event.event_definition]
    if not candidates:
        return False
    name, start_event = min(candidates, key=lambda candidate: _catch_all(candidate[1].event_definition))
    subprocess = top.subprocesses[start.trigger_wf(scope.task_tree, name)]
    waiting = subprocess.get_next_task(state=TaskState.WAITING, spec_name=start_event.name)
    waiting.task_spec.catch(waiting, event)
    waiting.task_spec._update(waiting)
    return True
