"""Conditional events that see the instance's variables as Camunda 7 does.

SpiffWorkflow evaluates a waiting conditional event against its own copy of the data, taken when it
started to wait, so a variable set later in a parallel branch never reaches it and the event never
fires. Camunda has one set of process variables and re-evaluates the condition whenever they change.
:class:`SharedConditionalEventDefinition` evaluates against that set: the event's own data with every
change made since by a finished task of its process, in the order they finished. SpiffWorkflow already
re-checks waiting events each time a task finishes.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.util.task import TaskState

from .errors import EngineError


class SharedConditionalEventDefinition(ConditionalEventDefinition):
    """A condition evaluated against :func:`process_variables` (see the module docstring)."""

    def has_fired(self, my_task: Any) -> bool:
        environment = my_task.workflow.script_engine.environment
        try:
            fired = environment.evaluate(self.expression, process_variables(my_task),
                                         external_context=my_task.workflow.data_objects)
        except EngineError as exc:
            raise exc.with_task(my_task) from exc
        my_task._set_internal_data(has_fired=fired)
        return bool(fired)


def process_variables(task: Any) -> dict[str, Any]:
    """``task``'s data plus every variable a finished task of its process set or changed, oldest change first."""
    variables = dict(task.data)
    finished = task.workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True)
    for done in sorted(finished, key=lambda t: t.last_state_change):
        before = done.parent.data if done.parent is not None else {}
        variables.update({name: value for name, value in done.data.items()
                          if name not in before or before[name] != value})
    return variables


def share_conditions(spec: Any) -> None:
    """Give every conditional event of ``spec`` the Camunda behaviour above."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if type(definition) is ConditionalEventDefinition:
            task_spec.event_definition = SharedConditionalEventDefinition(
                definition.expression, name=definition.name, description=definition.description)
