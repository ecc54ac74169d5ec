"""Camunda 7 multi-instance activities, run as Camunda 7 runs them.

SpiffWorkflow's Camunda multi-instance classes write each instance's element variable back into the collection,
drop every other variable the instance sets, know no ``nrOf*Instances`` and change the shared spec at run time.
These classes replace them (the parser builds them for every activity with ``multiInstanceLoopCharacteristics``):

* the number of instances comes from ``loopCardinality`` (a whole number or an expression giving one) or from
  ``camunda:collection`` (a variable name, ``${name}``/``#{name}``, or an expression giving a list), evaluated
  once when the activity starts; an empty collection or a cardinality of 0 passes straight through;
* each instance sees ``loopCounter`` (0, 1, ...) and the ``camunda:elementVariable`` (its item of the
  collection) as its own variables; neither reaches the process;
* every other variable an instance sets (form fields, output parameters, a subprocess's variables) is set on the
  process when the instance completes, as Camunda's ``setVariable`` does: the instance completed last wins; the
  boundary events waiting on the activity get them too, so a path they start (a reminder, an interrupting message)
  sees them;
* ``completionCondition`` is evaluated after each completed instance with the process variables, that
  instance's element variable and ``loopCounter``, and ``nrOfInstances``, ``nrOfActiveInstances`` and
  ``nrOfCompletedInstances``; when it holds, the instances still open are cancelled and the flow goes on;
* our extension (Camunda 7 has none for it): the extension property ``collect`` names a list variable that
  the activity fills with one entry per completed instance, ``{<elementVariable>: item, "loopCounter": i,
  <each variable the instance set>: value}``, ordered by ``loopCounter``; it is emptied when the activity starts.
"""

from __future__ import annotations

import hashlib
import json
import re
from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn.serializer.default.task_spec import MultiInstanceTaskConverter
from SpiffWorkflow.bpmn.specs.bpmn_task_spec import BpmnTaskSpec
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import ParallelMultiInstanceTask as BaseParallel
from SpiffWorkflow.bpmn.specs.defaults import SequentialMultiInstanceTask as BaseSequential
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.util.task import TaskState

from .errors import EngineIncident
from .expressions import variable_of

#: Variables each instance has for itself (Camunda: local to the instance or to the multi-instance body).
COUNTERS = ("nrOfInstances", "nrOfActiveInstances", "nrOfCompletedInstances")
LOOP_COUNTER = "loopCounter"


def _fingerprint(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


class CamundaMultiInstance(MultiInstanceTask):
    """What parallel and sequential instances share: items, instances, merging, the completion condition."""

    def __init__(self, wf_spec: Any, bpmn_id: str, task_spec: str, cardinality: str | None = None,
                 condition: str | None = None, collection: str | None = None, element_variable: str | None = None,
                 collect: str | None = None, **kwargs: Any) -> None:
        for unused in ("data_input", "data_output", "input_item", "output_item"):
            kwargs.pop(unused, None)
        super().__init__(wf_spec, bpmn_id, task_spec, cardinality=cardinality, condition=condition, **kwargs)
        self.collection = collection
        self.element_variable = element_variable
        self.collect = collect

    # -- start -------------------------------------------------------------------------------------------------

    def _items(self, my_task: Any) -> list[Any]:
        engine = my_task.workflow.script_engine
        if self.cardinality is not None:
            text = self.cardinality.strip()
            value = int(text) if re.fullmatch(r"\d+", text) else engine.evaluate(my_task, text)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise EngineIncident(f"Loop cardinality {self.cardinality!r} of {_label(self)} gave {value!r}, not "
                                     "a whole number of 0 or more", code="mi_cardinality_invalid").with_task(my_task)
            return list(range(value))
        text = self.collection or ""
        name = variable_of(text)
        if name is not None:
            if name not in my_task.data:
                raise EngineIncident(f"Collection variable {name!r} of {_label(self)} does not exist",
                                     code="mi_collection_missing", params={"variable": name}).with_task(my_task)
            value = my_task.data[name]
        else:
            value = engine.evaluate(my_task, text)
        if not isinstance(value, list | tuple):
            raise EngineIncident(f"Collection {text!r} of {_label(self)} gave {type(value).__name__} {value!r}, "
                                 "not a list", code="mi_collection_invalid").with_task(my_task)
        return list(value)

    def _start(self, my_task: Any) -> int:
        """Evaluate the items once, reset the collect list; returns how many instances there are."""
        BpmnTaskSpec._update_hook(self, my_task)  # inherit the data (and data-object inputs)
        items = self._items(my_task)
        my_task.internal_data["merged"] = []
        my_task.internal_data["mi"] = {"items": deepcopy(items), "next": 0, "completed": 0}
        if self.collect:
            my_task.data[self.collect] = []
        return len(items)

    def _create_instance(self, my_task: Any) -> None:
        state = my_task.internal_data["mi"]
        index = state["next"]
        state["next"] = index + 1
        task_spec = my_task.workflow.spec.task_specs[self.task_spec]
        if not task_spec.completed_event.is_connected(self.merge_child):
            task_spec.completed_event.connect(self.merge_child)
        own = {LOOP_COUNTER: index}
        if self.element_variable:
            own[self.element_variable] = deepcopy(state["items"][index])
        # The instance inherits the process data, which would overwrite its own variables (an enclosing
        # instance's loopCounter, say): keep them out of the parent while the instance is created.
        shadowed = {name: my_task.data.pop(name) for name in list(own) if name in my_task.data}
        try:
            child = my_task._add_child(task_spec, TaskState.WAITING)
            child.triggered = True
            child.data.update(own)
            child.internal_data["key_or_index"] = index
            child.internal_data["mi_seen"] = {}
            child.task_spec._update(child)
        finally:
            my_task.data.update(shadowed)
        child.internal_data["mi_seen"] = {key: _fingerprint(value) for key, value in child.data.items()}

    # -- completion --------------------------------------------------------------------------------------------

    def merge_child(self, workflow: Any, child: Any) -> None:
        my_task = child.parent
        state = my_task.internal_data["mi"]
        seen = child.internal_data.get("mi_seen", {})
        local = {LOOP_COUNTER, *COUNTERS, self.element_variable, self.collect}
        changed = {key: value for key, value in child.data.items()
                   if key not in local and seen.get(key) != _fingerprint(value)}
        my_task.data.update(deepcopy(changed))
        index = child.internal_data.get("key_or_index", 0)
        own = {LOOP_COUNTER: index}
        if self.element_variable:
            own[self.element_variable] = deepcopy(state["items"][index])
        if self.collect:
            entries = list(my_task.data.get(self.collect) or [])
            entries.append({**own, **deepcopy(changed)})
            entries.sort(key=lambda entry: entry.get(LOOP_COUNTER, 0))
            my_task.data[self.collect] = entries
        _share_with_attached_events(my_task, {**changed, **({self.collect: my_task.data[self.collect]}
                                                              if self.collect else {})})
        my_task.internal_data["merged"].append(str(child.id))
        state["completed"] += 1
        self._after_instance(my_task, own)

    def _condition_holds(self, my_task: Any, own: dict[str, Any]) -> bool:
        if not (self.condition or "").strip():
            return False
        state = my_task.internal_data["mi"]
        total = len(state["items"])
        counters = {"nrOfInstances": total, "nrOfCompletedInstances": state["completed"],
                    "nrOfActiveInstances": self._active(my_task)}
        engine = my_task.workflow.script_engine
        return bool(engine.evaluate(my_task, self.condition, {**counters, **own}))

    def _active(self, my_task: Any) -> int:
        raise NotImplementedError

    def _after_instance(self, my_task: Any, own: dict[str, Any]) -> None:
        raise NotImplementedError


class CamundaParallelMultiInstance(CamundaMultiInstance, BaseParallel):
    """All instances at once (``isSequential`` false)."""

    def _update_hook(self, my_task: Any) -> bool | None:
        count = self._start(my_task)
        if count == 0:
            return True
        for _ in range(count):
            self._create_instance(my_task)
        if my_task.state != TaskState.READY:
            my_task._set_state(TaskState.STARTED)
        return None

    def _active(self, my_task: Any) -> int:
        state = my_task.internal_data["mi"]
        return len(state["items"]) - state["completed"]

    def _after_instance(self, my_task: Any, own: dict[str, Any]) -> None:
        state = my_task.internal_data["mi"]
        if self._condition_holds(my_task, own):
            for instance in self._instances(my_task):
                if not instance.has_state(TaskState.FINISHED_MASK):
                    instance.cancel()
            my_task._set_state(TaskState.READY)
        elif state["completed"] >= len(state["items"]):
            my_task._set_state(TaskState.READY)


class CamundaSequentialMultiInstance(CamundaMultiInstance, BaseSequential):
    """One instance after the other, in the order of the collection (``isSequential`` true)."""

    def _update_hook(self, my_task: Any) -> bool | None:
        if self._start(my_task) == 0:
            return True
        my_task._set_state(TaskState.STARTED)
        self._create_instance(my_task)
        return None

    def _active(self, my_task: Any) -> int:
        return 1

    def _after_instance(self, my_task: Any, own: dict[str, Any]) -> None:
        state = my_task.internal_data["mi"]
        if self._condition_holds(my_task, own) or state["next"] >= len(state["items"]):
            my_task._set_state(TaskState.READY)
        else:
            self._create_instance(my_task)


class CamundaMultiInstanceConverter(MultiInstanceTaskConverter):
    """Stores the Camunda attributes (collection, element variable, collect) with the spec."""

    def to_dict(self, spec: Any) -> dict[str, Any]:
        dct = super().to_dict(spec)
        dct.update(collection=spec.collection, element_variable=spec.element_variable, collect=spec.collect)
        return dct


def _share_with_attached_events(my_task: Any, values: dict[str, Any]) -> None:
    """Give the boundary events still waiting on the activity the variables an instance just set.

    SpiffWorkflow's boundary event holds a copy of the data from when the activity started, and the path it starts
    inherits that copy; in Camunda 7 the instance set them on the process, so a path leaving by a boundary event
    (a reminder, or a message interrupting the activity) sees what the instances completed so far set.
    """
    split = my_task.parent
    if split is None or not isinstance(split.task_spec, BoundaryEventSplit) or not values:
        return
    for event in split.children:
        if event is not my_task and isinstance(event.task_spec, BoundaryEvent) \
                and event.has_state(TaskState.NOT_FINISHED_MASK):
            event.data.update(deepcopy(values))


def instance_local_names(task: Any) -> set[str]:
    """The variables local to the multi-instance instances ``task`` belongs to (their element variable and
    ``loopCounter``), as Camunda 7 keeps them local to each instance's execution: ``task`` is an instance, or is
    inside one (a subprocess instance's tasks, nested instances). Empty outside multi-instance activities."""
    names: set[str] = set()
    current = task
    while current is not None:
        parent = current.parent
        if parent is None:  # the root of a subprocess: go on from the task that runs it
            parent_id = getattr(current.workflow, "parent_task_id", None)
            current = current.workflow.top_workflow.get_task_from_id(parent_id) if parent_id is not None else None
            continue
        spec = parent.task_spec
        if isinstance(spec, CamundaMultiInstance) and "key_or_index" in current.internal_data:
            names.add(LOOP_COUNTER)
            if spec.element_variable:
                names.add(spec.element_variable)
        current = parent
    return names


def note_process_variables(task: Any, values: dict[str, Any]) -> None:
    """``values`` were set on the process while ``task`` (a running instance) was open: they are not the
    instance's own, so completing it neither copies them as its changes nor lists them in ``collect``."""
    seen = task.internal_data.get("mi_seen")
    if seen is not None:
        seen.update({key: _fingerprint(value) for key, value in values.items()})


def _label(spec: Any) -> str:
    return repr(spec.bpmn_name or spec.bpmn_id)
