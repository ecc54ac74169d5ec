"""Running instances: start, load/dump state (without the spec), user tasks, timers, service tasks, history.

One :class:`WorkflowRuntime` per process (worker), holding the sandbox, the service registry and a cache
of restored specs (one per compiled definition, shared by all its instances; our multi-instance specs never
change at run time).

Contract for callers: every method that acts on a workflow raises only
:class:`~webapp.engine.errors.EngineError` subclasses. After any such error the workflow object may be
half-advanced: discard it (roll back the transaction) and do not save it. A ``BpmnWorkflow`` object must
never be used by two threads at once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.bpmn.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition as CamundaMessageEventDefinition
from SpiffWorkflow.exceptions import TaskNotFoundException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from . import budget
from .budget import BudgetExceeded, Limits, remaining, time_exceeded
from .errors import (
    EngineError,
    EngineIncident,
    StateInvalid,
    TaskNotFound,
    TaskNotReady,
    WrongTaskType,
)
from .events import throw_error
from .expressions import SandboxEnvironment, SandboxScriptEngine, is_juel, resolve_list, resolve_single, split_list
from .forms import FormFieldInfo, field_infos, validate_form
from .multiinstance import CamundaMultiInstance, instance_local_names, note_process_variables
from .services import (
    ServiceCall,
    ServiceRegistry,
    apply_result,
    build_call,
    call_handler,
    evaluate_parameter,
    lookup,
    service_topic,
)
from .specs import TopicServiceTask, build_registry, spec_from_json
from .timers import BoundaryCycleTimerEventDefinition, frozen_clock, recalculated_timer, resolve_due
from .timers import now as clock_now

DEFAULT_PRIORITY = 50  # Camunda's default task priority
#: How deep an instance's task tree may grow: each element passed on the way adds a level, and SpiffWorkflow
#: follows the tree recursively (at about 1,000 levels it gives up and calls the instance finished).
MAX_DEPTH = 800


@dataclass(frozen=True)
class ProcessDefinition:
    """A restored spec, shared by every instance of one compiled definition."""

    process_id: str
    content_hash: str | None
    spec: Any = field(repr=False)
    subprocess_specs: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class UserTaskInfo:
    """A READY human task as the inbox needs it. ``role_codes``: candidateGroups if set, else the lane's role."""

    task_id: str
    bpmn_id: str
    name: str | None
    process_id: str
    lane: str | None
    role_codes: list[str]
    candidate_users: list[str]
    assignee: str | None
    ready_at: datetime | None
    due_at: datetime | None
    follow_up_at: datetime | None
    priority: int
    form_key: str | None
    form_fields: list[FormFieldInfo]
    documentation: str | None
    properties: dict[str, Any]
    inputs: dict[str, Any]
    #: The task's own variables as an instance of a multi-instance activity (its element variable, e.g.
    #: ``{"subgroup": {...}, "loopCounter": 1}``; those of enclosing instances too); ``{}`` elsewhere.
    local: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceTaskInfo:
    task_id: str
    bpmn_id: str
    name: str | None
    topic: str | None
    state: str
    started_at: datetime | None
    failure: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    task_id: str
    bpmn_id: str
    name: str | None
    lane: str | None
    type: str
    state: str
    ready_at: datetime | None
    finished_at: datetime | None


class WorkflowRuntime:
    """The engine API used by the web layer and the workers."""

    def __init__(self, services: ServiceRegistry | None = None, *, helpers: Mapping[str, str] | None = None,
                 limits: Limits | None = None, cache_size: int = 128) -> None:
        self.services = services or ServiceRegistry()
        self._environment = SandboxEnvironment(helpers, limits)
        self.script_engine = SandboxScriptEngine(self._environment, services=self.services)
        self.registry = build_registry()
        self._serializer = BpmnWorkflowSerializer(self.registry)
        self._serializer_lock = threading.Lock()  # the registry flips a shared flag while serializing
        self._cache: OrderedDict[str, ProcessDefinition] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = cache_size

    @property
    def limits(self) -> Limits:
        """The budget of every step (time, memory and data of designers' code, tasks per step)."""
        return self._environment.limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        self._environment.limits = limits

    # -- definitions and persistence ---------------------------------------------------------------------------

    def definition(self, spec_json: str | ProcessDefinition) -> ProcessDefinition:
        """The restored spec for ``spec_json`` (a :class:`CompiledDefinition`'s), cached by its hash."""
        if isinstance(spec_json, ProcessDefinition):
            return spec_json
        key = hashlib.sha256(spec_json.encode("utf-8")).hexdigest()
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        try:
            spec, subprocess_specs, meta = spec_from_json(self.registry, spec_json)
        except EngineError:
            raise
        except Exception as exc:
            raise StateInvalid(f"The compiled definition cannot be restored: {exc}", code="spec_invalid") from exc
        definition = ProcessDefinition(meta.get("process_id") or spec.name, meta.get("content_hash"), spec,
                                       subprocess_specs)
        with self._cache_lock:
            self._cache[key] = definition
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return definition

    def start(self, definition: str | ProcessDefinition, data: Mapping[str, Any] | None = None, *, initiator: str,
              now: datetime | None = None) -> BpmnWorkflow:
        """A new instance with ``data`` and ``initiator`` as its first variables, run to its first wait."""
        process = self.definition(definition)
        with self._engine(now):
            workflow = BpmnWorkflow(process.spec, dict(process.subprocess_specs), script_engine=self.script_engine)
            workflow.task_tree.data.update(copy.deepcopy(dict(data or {})))
            workflow.task_tree.data["initiator"] = initiator
            self._run_on(workflow)
        return workflow

    def dump(self, workflow: BpmnWorkflow) -> tuple[str, str]:
        """``(state_json, serializer_version)``; the state holds no spec (store the definition id with it)."""
        with self._serializer_lock, self._engine(None):
            try:
                return self._serializer.serialize_json(workflow), SERIALIZER_VERSION
            except TypeError as exc:
                raise StateInvalid(f"The process data holds a value that cannot be stored: {exc}",
                                   code="data_not_serializable") from exc

    def load(self, definition: str | ProcessDefinition, state_json: str) -> BpmnWorkflow:
        """Restore an instance saved by :meth:`dump` onto the cached spec (older serializer versions migrate)."""
        process = self.definition(definition)
        try:
            dct = json.loads(state_json)
            version = dct.pop(BpmnWorkflowSerializer.VERSION_KEY, None)
            if version != SERIALIZER_VERSION:
                if version not in MIGRATIONS:
                    raise StateInvalid(f"Instance state has unknown serializer version {version!r}")
                with self._serializer_lock:  # migrations rewrite spec and state together
                    dct["spec"] = self.registry.convert(process.spec)
                    dct["subprocess_specs"] = {k: self.registry.convert(v) for k, v in process.subprocess_specs.items()}
                MIGRATIONS[version](dct)
            workflow = self.registry.restore(dct, spec=process.spec, subprocess_specs=process.subprocess_specs)
        except EngineError:
            raise
        except Exception as exc:
            raise StateInvalid(f"The instance state cannot be loaded: {type(exc).__name__}: {exc}") from exc
        workflow.script_engine = self.script_engine
        return workflow

    # -- user tasks --------------------------------------------------------------------------------------------

    def declared_roles(self, definition: str | ProcessDefinition, bpmn_id: str) -> list[str] | None:
        """The role codes user task ``bpmn_id`` names in the diagram: its candidateGroups, else its lane's role
        (``[]``: none). For a task that is over, when only the definition is left. None when the element is
        unknown or a group is an expression (only the running task knew its value)."""
        process = self.definition(definition)
        for spec in (process.spec, *process.subprocess_specs.values()):
            task_spec = spec.task_specs.get(bpmn_id)
            if task_spec is None:
                continue
            if isinstance(task_spec, CamundaMultiInstance):  # the instances' spec has the routing
                task_spec = spec.task_specs[task_spec.task_spec]
            camunda = (getattr(task_spec, "extensions", None) or {}).get("camunda", {})
            groups = split_list(camunda.get("candidateGroups"))
            if any(is_juel(group) for group in groups):
                return None
            return groups or ([camunda["laneRole"]] if camunda.get("laneRole") else [])
        return None

    def ready_user_tasks(self, workflow: BpmnWorkflow) -> list[UserTaskInfo]:
        """Every READY human task with its routing, dates and form."""
        with self._engine(None):
            return [self._user_task_info(task) for task in workflow.get_tasks(state=TaskState.READY, manual=True)]

    def _user_task_info(self, task: Any) -> UserTaskInfo:
        spec = task.task_spec
        extensions = dict(getattr(spec, "extensions", None) or {})
        camunda = extensions.pop("camunda", {})
        engine = task.workflow.script_engine

        def evaluate(text: str) -> Any:
            return engine.evaluate(task, text)

        ready_at = _parse_time(task.internal_data.get("ready_at")) or datetime.fromtimestamp(
            task.last_state_change, UTC)
        groups = resolve_list(camunda.get("candidateGroups"), evaluate)
        form = getattr(spec, "form", None)
        return UserTaskInfo(
            task_id=str(task.id),
            bpmn_id=spec.bpmn_id,
            name=spec.bpmn_name,
            process_id=task.workflow.spec.name,
            lane=spec.lane,
            role_codes=groups or ([camunda["laneRole"]] if camunda.get("laneRole") else []),
            candidate_users=resolve_list(camunda.get("candidateUsers"), evaluate),
            assignee=resolve_single(camunda.get("assignee"), evaluate),
            ready_at=ready_at,
            due_at=resolve_due(camunda.get("dueDate"), evaluate, ready_at),
            follow_up_at=resolve_due(camunda.get("followUpDate"), evaluate, ready_at),
            priority=_priority(camunda.get("priority"), evaluate),
            form_key=camunda.get("formKey") or (form.key if form is not None else None) or None,
            form_fields=field_infos(form, task.data, evaluate),
            documentation=spec.documentation,
            properties=extensions,
            inputs={name: evaluate_parameter(param, evaluate) for name, param in camunda.get("inputs", {}).items()},
            local={name: copy.deepcopy(task.data[name]) for name in sorted(instance_local_names(task))
                   if name in task.data},
        )

    def complete_user_task(self, workflow: BpmnWorkflow, task_id: str, data: Mapping[str, Any], *,
                           now: datetime | None = None, validated: Callable[[], None] | None = None) -> None:
        """Validate ``data`` against the task's form, store it, complete the task and run the engine on.

        Refuses unknown ids (:class:`TaskNotFound`), non-human tasks (:class:`WrongTaskType`) and tasks that
        are not READY (:class:`TaskNotReady`); invalid data raises :class:`FormInvalid` before anything
        changes. ``validated`` is called once the data passed, before the engine runs on (the caller puts the
        completion on record there). Authorisation (role, assignee) is the caller's job.
        """
        task = self._task(workflow, task_id)
        if not task.task_spec.manual:
            raise WrongTaskType(f"Task {_name(task)!r} is not a user task").with_task(task)
        _require_state(task, TaskState.READY)
        engine = workflow.script_engine
        with self._engine(now):
            cleaned = validate_form(getattr(task.task_spec, "form", None), data, task.data,
                                    lambda text: engine.evaluate(task, text))
        if validated is not None:
            validated()
        with self._engine(now):
            task.data.update(copy.deepcopy(cleaned))
            outputs = (getattr(task.task_spec, "extensions", None) or {}).get("camunda", {}).get("outputs", {})
            for name, param in outputs.items():
                task.data[name] = evaluate_parameter(param, lambda text: engine.evaluate(task, text))
            task.run()
            self._run_on(workflow)

    # -- variables ---------------------------------------------------------------------------------------------

    def set_variables(self, workflow: BpmnWorkflow, values: Mapping[str, Any]) -> list[str]:
        """Set process variables on a running instance and re-arm its waiting timers; the bpmn ids of the timers
        re-armed (each once, in the order of the task tree).

        As Camunda 7's ``runtimeService.setVariables(processInstanceId, values)`` followed by
        ``managementService.recalculateJobDuedate`` for every timer job:

        * every value is set on the process scope: every task of the instance (waiting, ready, predicted, inside
          subprocesses and multi-instance activities, and the finished ones, whose data SpiffWorkflow still merges
          at joins and :meth:`variables` reads) and the workflow's own data see it. A name that is local to a
          multi-instance instance (its element variable, ``loopCounter``) keeps its local value inside that
          instance, as the instance's local variable hides the process one in Camunda; the instance does not
          report the new values as its own when it completes (so ``collect`` does not list them);
        * every waiting timer that has not fired is re-armed (see :func:`~webapp.engine.timers.recalculated_timer`):
          a timeDate timer takes the new value of its expression (a date in the past fires at the next
          :meth:`tick`), a timeDuration timer keeps its moment (durations count from when the timer started),
          a timeCycle timer keeps its schedule unless its expression reads a variable whose value changed, in which
          case its schedule starts again from now (engine clock) with all its repetitions;
        * user tasks' due and follow-up dates (and assignees, candidates) are expressions evaluated when read, so
          :meth:`ready_user_tasks` reports the new dates, and :meth:`next_timer_at` the moved timers. Unlike
          Camunda 7, which fixes a task's due date and assignee when the task is created (moving them takes
          ``taskService.saveTask``), an open task's due date here follows the variable: what extending a deadline
          needs.

        Nothing runs: a timer moved into the past fires at the next :meth:`tick`. Refused before anything changes,
        with :class:`StateInvalid`: a name that is not a variable name (``variable_name_invalid``), a value that is
        not JSON-serialisable (``data_not_serializable``, as :meth:`dump`); with :class:`ExpressionError` naming the
        timer: a timer value that is not a date (or, for a cycle, a repeating interval). A finished instance is
        refused (``instance_completed``).
        """
        values = _storable_variables(values)
        with self._engine(None):
            if workflow.is_completed():
                raise EngineError("The instance has finished; its variables can no longer be set",
                                  code="instance_completed")
            scopes = [workflow, *workflow.subprocesses.values()]
            tasks = [task for scope in scopes for task in scope.tasks.values()]
            updates: list[tuple[Any, dict[str, Any]]] = []
            timers: list[tuple[Any, Any]] = []
            for task in tasks:
                hidden = instance_local_names(task)
                update = {name: value for name, value in values.items() if name not in hidden}
                changed = {name for name, value in update.items() if task.data.get(name, _MISSING) != value}
                updates.append((task, update))
                event_value = recalculated_timer(task, {**task.data, **update}, changed)
                if event_value is not None:
                    timers.append((task, event_value))
            for task, update in updates:  # every new timer value is valid: now change the instance
                task.data.update(copy.deepcopy(update))
                if task.state & TaskState.NOT_FINISHED_MASK:
                    note_process_variables(task, update)
            for scope in scopes:
                running = scope.top_workflow.get_task_from_id(scope.parent_task_id) if scope.parent_task_id else None
                hidden = instance_local_names(running) if running is not None else set()
                scope.data.update(copy.deepcopy({k: v for k, v in values.items() if k not in hidden}))
            rearmed: list[str] = []
            for task, event_value in timers:
                task.internal_data["event_value"] = event_value
                if task.task_spec.bpmn_id not in rearmed:
                    rearmed.append(task.task_spec.bpmn_id)
            return rearmed

    # -- timers and messages -----------------------------------------------------------------------------------

    def tick(self, workflow: BpmnWorkflow, now: datetime | None = None) -> None:
        """Fire due timers and run the engine on (``now`` defaults to the engine clock)."""
        with self._engine(now):
            workflow.refresh_timers()
            self._run_on(workflow)

    def next_timer_at(self, workflow: BpmnWorkflow) -> datetime | None:
        """When the earliest waiting timer is due (store it; tick the instance then)."""
        times = []
        with self._engine(None):
            events = workflow.waiting_events()
        for event in events:
            if event.event_type in _TIMER_EVENT_TYPES and isinstance(event.value, str):
                try:
                    times.append(TimerEventDefinition.get_datetime(event.value))
                except ValueError:
                    continue
        return min(times).astimezone(UTC) if times else None

    def waiting_messages(self, workflow: BpmnWorkflow) -> list[str]:
        """Names of the messages the instance waits for."""
        with self._engine(None):
            names = [e.name for e in workflow.waiting_events() if e.event_type == "MessageEventDefinition"]
        return list(dict.fromkeys(names))

    def send_message(self, workflow: BpmnWorkflow, name: str, payload: Mapping[str, Any] | None = None, *,
                     now: datetime | None = None) -> None:
        """Deliver message ``name``: its payload becomes process variables, as in Camunda 7 (and, for Camunda message
        events, is also stored in the event's result variable, ``<event id>_Response`` by default)."""
        waiting = [task for task in workflow.event_manager.tasks.values()
                   if isinstance(getattr(task.task_spec, "event_definition", None), MessageEventDefinition)
                   and task.task_spec.event_definition.name == name]
        if not waiting:
            raise EngineError(f"The instance is not waiting for message {name!r}", code="message_not_awaited",
                              params={"message": name})
        definition = waiting[0].task_spec.event_definition
        body = dict(payload or {})
        for task in waiting:  # Camunda 7 sets a correlated message's variables on the process
            task.data.update(body)
        with self._engine(now):
            if isinstance(definition, CamundaMessageEventDefinition):
                event = BpmnEvent(type(definition)(name), {"payload": body, "result_var": definition.result_var})
            else:
                event = BpmnEvent(type(definition)(name), body)
            workflow.send_event(event)
            self._run_on(workflow)

    # -- service tasks -----------------------------------------------------------------------------------------

    def started_service_tasks(self, workflow: BpmnWorkflow) -> list[ServiceTaskInfo]:
        """Service tasks waiting for a worker (async topics), plus failed ones (state ERROR)."""
        with self._engine(None):
            tasks = workflow.get_tasks(state=TaskState.STARTED | TaskState.ERROR, spec_class=TopicServiceTask)
            return [_service_info(task) for task in tasks]

    def service_call(self, workflow: BpmnWorkflow, task_id: str) -> ServiceCall:
        """The call a worker hands to the handler of a STARTED service task (inputs evaluated now)."""
        task = self._service_task(workflow, task_id, TaskState.STARTED)
        with self._engine(None):
            return build_call(task)

    def call_service_handler(self, workflow: BpmnWorkflow, task_id: str) -> Any:
        """Worker side of an async topic, first half: run the handler of a STARTED service task and return its
        result, changing nothing (store it with :meth:`complete_service_task`). Failures are ``ServiceFailed``."""
        task = self._service_task(workflow, task_id, TaskState.STARTED)
        with self._engine(None):
            return call_handler(lookup(task), build_call(task), task)

    def execute_service_task(self, workflow: BpmnWorkflow, task_id: str, *, now: datetime | None = None) -> None:
        """Worker side of an async topic: run its handler, store the result, complete, run on."""
        task = self._service_task(workflow, task_id, TaskState.STARTED)
        with self._engine(now):
            apply_result(task, call_handler(lookup(task), build_call(task), task))
            task.complete()
            self._run_on(workflow)

    def complete_service_task(self, workflow: BpmnWorkflow, task_id: str, result: Any = None, *,
                              now: datetime | None = None) -> None:
        """Complete a STARTED service task with a result obtained elsewhere."""
        task = self._service_task(workflow, task_id, TaskState.STARTED)
        with self._engine(now):
            apply_result(task, result)
            task.complete()
            self._run_on(workflow)

    def fail_service_task(self, workflow: BpmnWorkflow, task_id: str, message: str, *,
                          bpmn_error_code: str | None = None, now: datetime | None = None) -> None:
        """Record a worker's failure.

        With ``bpmn_error_code`` the error is thrown as a BPMN error, caught as Camunda catches it: by the task's
        error boundary event, else an error event subprocess around it (the flow continues there;
        ``service_error`` holds code and message); without one the task goes to ERROR
        with ``message`` (an incident, listed by :meth:`started_service_tasks`) until
        :meth:`retry_service_task`.
        """
        task = self._service_task(workflow, task_id, TaskState.STARTED)
        with self._engine(now):
            if bpmn_error_code is None:
                task.internal_data["failure"] = {"message": message, "at": clock_now().isoformat()}
                task.error()
                return
            payload = {"service_error": {"code": bpmn_error_code, "message": message}}
            if not throw_error(task, bpmn_error_code, payload):
                raise EngineIncident(f"No error boundary event on {_name(task)!r} or error event subprocess around "
                                     f"it catches error code {bpmn_error_code!r}",
                                     code="bpmn_error_uncaught").with_task(task)
            self._run_on(workflow)

    def retry_service_task(self, workflow: BpmnWorkflow, task_id: str) -> None:
        """Put a failed (ERROR) service task back to STARTED for a worker to run again."""
        task = self._service_task(workflow, task_id, TaskState.ERROR)
        with self._engine(None):
            task.internal_data.pop("failure", None)
            task._set_state(TaskState.STARTED)

    # -- state ---------------------------------------------------------------------------------------------

    def is_completed(self, workflow: BpmnWorkflow) -> bool:
        with self._engine(None):
            return workflow.is_completed()

    def variables(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        """The process data: the end data once completed, else that of the most recently finished task."""
        with self._engine(None):
            if workflow.is_completed():
                return dict(workflow.data)
            finished = workflow.get_tasks(state=TaskState.COMPLETED)
            latest = max(finished, key=lambda t: t.last_state_change, default=workflow.task_tree)
            return dict(latest.data)

    def history(self, workflow: BpmnWorkflow) -> list[HistoryEntry]:
        """Finished BPMN elements (completed, cancelled or failed) in the order they finished."""
        with self._engine(None):
            tasks = [t for t in workflow.get_tasks(state=TaskState.FINISHED_MASK)
                     if getattr(t.task_spec, "bpmn_id", None)]
        tasks.sort(key=lambda t: t.last_state_change)
        return [HistoryEntry(
            task_id=str(t.id), bpmn_id=t.task_spec.bpmn_id, name=t.task_spec.bpmn_name, lane=t.task_spec.lane,
            type=type(t.task_spec).__name__, state=TaskState.get_name(t.state),
            ready_at=_parse_time(t.internal_data.get("ready_at")),
            finished_at=_parse_time(t.internal_data.get("completed_at"))
            or datetime.fromtimestamp(t.last_state_change, UTC),
        ) for t in tasks]

    def user_task_names(self, definition: str | ProcessDefinition) -> dict[str, str]:
        """Bpmn id -> name of every human task of the definition (the id where it has no name)."""
        process = self.definition(definition)
        return {spec.bpmn_id: spec.bpmn_name or spec.bpmn_id for spec in process.spec.task_specs.values()
                if getattr(spec, "manual", False) and getattr(spec, "bpmn_id", None)}

    def upcoming_user_tasks(self, definition: str | ProcessDefinition, after: list[str],
                            done: set[str] | frozenset[str] = frozenset(), limit: int = 10) -> list[tuple[str, str]]:
        """(bpmn id, name) of the human tasks reachable from the elements ``after``, nearest first.

        A walk of the diagram, not a prediction: every branch of a gateway is followed, and nothing in ``done``
        (or already listed) is entered, so a loop back to an earlier step ends the walk there.
        """
        process = self.definition(definition)
        specs = {getattr(s, "bpmn_id", None): s for s in process.spec.task_specs.values()}
        queue = [spec for bpmn_id in after if (spec := specs.get(bpmn_id)) is not None]
        seen = {id(spec) for spec in queue}
        found: list[tuple[str, str]] = []
        while queue and len(found) < limit:
            spec = queue.pop(0)
            for following in spec.outputs:
                if id(following) in seen:
                    continue
                seen.add(id(following))
                bpmn_id = getattr(following, "bpmn_id", None)
                if bpmn_id in done:
                    continue
                if getattr(following, "manual", False) and bpmn_id:
                    found.append((bpmn_id, following.bpmn_name or bpmn_id))
                queue.append(following)
        return found[:limit]

    # -- helpers -------------------------------------------------------------------------------------------

    def _task(self, workflow: BpmnWorkflow, task_id: str) -> Any:
        try:
            return workflow.get_task_from_id(UUID(str(task_id)))
        except (ValueError, TaskNotFoundException):
            raise TaskNotFound(f"There is no task {task_id!r} in this instance", task_id=str(task_id)) from None

    def _service_task(self, workflow: BpmnWorkflow, task_id: str, state: int) -> Any:
        task = self._task(workflow, task_id)
        if not isinstance(task.task_spec, TopicServiceTask):
            raise WrongTaskType(f"Task {_name(task)!r} is not a service task").with_task(task)
        _require_state(task, state)
        return task

    def _run_on(self, workflow: BpmnWorkflow) -> None:
        """``do_engine_steps`` within the step budget: at most ``max_steps`` tasks completed, and an instance
        that ends must have reached an end event (SpiffWorkflow gives up on a deep enough task tree and calls
        the instance finished)."""
        limits, count = self.limits, 0

        def counted(task: Any) -> None:
            nonlocal count
            count += 1
            if count > limits.max_steps:
                raise BudgetExceeded(f"The step completed more than {limits.max_steps} tasks without waiting for "
                                     "anyone (an endless automatic loop?)", code="budget_steps").with_task(task)
            if task.depth > MAX_DEPTH:
                raise BudgetExceeded(f"The instance went round its loops more than SpiffWorkflow can follow "
                                     f"({MAX_DEPTH} steps deep)", code="budget_depth").with_task(task)
            if remaining(limits) <= 0:
                raise time_exceeded(limits).with_task(task)

        workflow.do_engine_steps(did_complete_task=counted)
        if workflow.is_completed() and not _reached_end(workflow):
            raise EngineIncident("The instance stopped without reaching an end event", code="end_not_reached")

    @contextmanager
    def _engine(self, now: datetime | None) -> Iterator[None]:
        """Freeze the clock if asked, open the step's budget, and turn every exception into an
        :class:`EngineError`."""
        with frozen_clock(now) if now is not None else nullcontext(), budget.action(self.limits):
            try:
                yield
            except EngineError:
                raise
            except Exception as exc:
                raise _wrap(exc) from exc


_MISSING = object()
#: ``PendingBpmnEvent.event_type`` of the timers (the class name of their definition; a timeDate timer's is
#: ``TimeDateEventDefinition``, which does not end in ``TimerEventDefinition``).
_TIMER_EVENT_TYPES = frozenset(cls.__name__ for cls in (TimeDateEventDefinition, DurationTimerEventDefinition,
                                                        CycleTimerEventDefinition, BoundaryCycleTimerEventDefinition))


def _storable_variables(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as a plain dict, or :class:`StateInvalid` for a name that is no variable name or a value that is
    not JSON-serialisable."""
    checked: dict[str, Any] = {}
    for name, value in dict(values).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise StateInvalid(f"Variable name {name!r} is not a variable name (letters, digits, _)",
                               code="variable_name_invalid", params={"variable": str(name)})
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StateInvalid(f"Variable {name!r} holds a value that cannot be stored: {exc}",
                               code="data_not_serializable", params={"variable": name}) from exc
        checked[name] = copy.deepcopy(value)
    return checked


def _wrap(exc: Exception) -> EngineError:
    """Our own error hidden inside a SpiffWorkflow one (e.g. from a DMN cell), or an incident for the rest."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, EngineError):
            return cause.with_task(getattr(exc, "task", None))
        cause = cause.__cause__ or cause.__context__
    message = str(exc.args[0]) if exc.args else type(exc).__name__
    # An exclusive gateway says so in a WorkflowException, an inclusive one in a WorkflowTaskException.
    code = "gateway_no_match" if message.startswith("No conditions satisfied") else "engine_incident"
    if isinstance(exc, WorkflowTaskException):
        return EngineIncident(message, original=exc, code=code).with_task(exc.task)
    if isinstance(exc, WorkflowException):
        spec = exc.task_spec
        return EngineIncident(message, original=exc, code=code, bpmn_id=getattr(spec, "bpmn_id", None),
                              task_name=getattr(spec, "bpmn_name", None))
    return EngineIncident(f"{type(exc).__name__}: {exc}", original=exc, code="engine_failure")


def _reached_end(workflow: BpmnWorkflow) -> bool:
    """Did the (completed) top-level process finish through an end event rather than by being cut short?"""
    return any(isinstance(task.task_spec, EndEvent) and task.state == TaskState.COMPLETED
               for task in workflow.get_tasks(state=TaskState.COMPLETED))


def _require_state(task: Any, state: int) -> None:
    if task.state != state:
        actual = TaskState.get_name(task.state)
        raise TaskNotReady(f"Task {_name(task)!r} is {actual}, not {TaskState.get_name(state)}",
                           state=actual).with_task(task)


def _name(task: Any) -> str:
    return task.task_spec.bpmn_name or task.task_spec.bpmn_id or task.task_spec.name


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _priority(text: str | None, evaluate: Any) -> int:
    if text is None or not str(text).strip():
        return DEFAULT_PRIORITY
    value = evaluate(text) if is_juel(text) else text
    try:
        return int(value)
    except (TypeError, ValueError):
        raise EngineError(f"Priority {text!r} gave {value!r}, not a whole number", code="priority_invalid") from None


def _service_info(task: Any) -> ServiceTaskInfo:
    camunda = (getattr(task.task_spec, "extensions", None) or {}).get("camunda", {})
    return ServiceTaskInfo(
        task_id=str(task.id), bpmn_id=task.task_spec.bpmn_id, name=task.task_spec.bpmn_name,
        topic=service_topic(camunda), state=TaskState.get_name(task.state),
        started_at=_parse_time(task.internal_data.get("started_at")),
        failure=(task.internal_data.get("failure") or {}).get("message"),
    )
