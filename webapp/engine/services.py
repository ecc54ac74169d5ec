"""Service tasks: a registry of Python handlers keyed by topic, and the dispatch the spec calls.

A BPMN service task names its handler with ``camunda:topic`` (Implementation = External), or, for
diagrams written for Java, ``camunda:delegateExpression="${name}"`` (key ``name``) or
``camunda:class`` (key = the class name). ``camunda:expression`` and connectors cannot run and are
refused by the lint.

* Synchronous handlers run inside the engine step: their result is stored and the task completes.
* Asynchronous handlers are not called by the engine: the task stays STARTED and a worker later runs
  :meth:`WorkflowRuntime.execute_service_task` (or completes it with a result it got elsewhere).

Results: with ``camunda:resultVariable`` the whole return value is stored under that name; otherwise
``camunda:outputParameter``s are evaluated against the task data plus the returned dict; otherwise the
returned dict is merged into the task data. ``None`` stores nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import EngineError, ServiceFailed
from .expressions import is_juel, juel_to_python


@dataclass(frozen=True)
class ServiceCall:
    """What a handler gets: the topic, the task, its evaluated input parameters and a copy of the data."""

    topic: str
    task_id: str
    bpmn_id: str
    task_name: str | None
    process_id: str
    inputs: Mapping[str, Any]
    data: Mapping[str, Any] = field(repr=False)


Handler = Callable[[ServiceCall], "dict[str, Any] | None"]


@dataclass(frozen=True)
class RegisteredService:
    topic: str
    handler: Handler
    is_async: bool


class ServiceRegistry:
    """Topic -> handler. Register everything at start-up; the registry is then read-only in practice."""

    def __init__(self) -> None:
        self._services: dict[str, RegisteredService] = {}

    def register(self, topic: str, handler: Handler, *, is_async: bool = False) -> Handler:
        """Register ``handler`` for ``topic`` (returns it); ``is_async`` handlers run in a worker, not in the step."""
        if topic in self._services:
            raise ValueError(f"Service topic {topic!r} is already registered")
        self._services[topic] = RegisteredService(topic, handler, is_async)
        return handler

    def get(self, topic: str) -> RegisteredService | None:
        return self._services.get(topic)

    def is_async(self, topic: str | None) -> bool:
        """Does ``topic``'s handler run on a worker (the task waits in STARTED)?"""
        service = self._services.get(topic or "")
        return service is not None and service.is_async

    @property
    def has_async(self) -> bool:
        """Is any handler asynchronous? (When none is, nothing needs a look for waiting service tasks.)"""
        return any(service.is_async for service in self._services.values())

    @property
    def topics(self) -> frozenset[str]:
        """Registered topics: pass these as ``known_topics`` when checking a definition."""
        return frozenset(self._services)

    def __contains__(self, topic: object) -> bool:
        return topic in self._services


def service_topic(camunda: Mapping[str, Any]) -> str | None:
    """The registry key of a service task from its ``camunda:`` attributes (see the module docstring)."""
    if camunda.get("topic"):
        return camunda["topic"]
    delegate = camunda.get("delegateExpression")
    if delegate:
        try:
            name = juel_to_python(delegate) if is_juel(delegate) else delegate.strip()
        except EngineError:
            return None
        return name if name.isidentifier() else None
    return camunda.get("class") or None


def camunda_of(task_spec: Any) -> dict[str, Any]:
    return (getattr(task_spec, "extensions", None) or {}).get("camunda", {})


def build_call(task: Any) -> ServiceCall:
    """Evaluate the task's input parameters and package the call (also used by workers for async topics)."""
    camunda = camunda_of(task.task_spec)
    engine = task.workflow.script_engine
    inputs = {name: evaluate_parameter(param, lambda text: engine.evaluate(task, text))
              for name, param in camunda.get("inputs", {}).items()}
    return ServiceCall(
        topic=service_topic(camunda) or "",
        task_id=str(task.id),
        bpmn_id=task.task_spec.bpmn_id,
        task_name=task.task_spec.bpmn_name,
        process_id=task.workflow.spec.name,
        inputs=MappingProxyType(inputs),
        data=MappingProxyType(copy.deepcopy(task.data)),
    )


def evaluate_parameter(param: Mapping[str, Any], evaluate: Callable[[str], Any]) -> Any:
    """A ``camunda:inputParameter``/``outputParameter``: text is a literal unless it is ``${...}``."""
    kind = param.get("type")
    if kind == "list":
        return [evaluate_parameter(item, evaluate) for item in param.get("items", [])]
    if kind == "map":
        return {key: evaluate_parameter(item, evaluate) for key, item in param.get("entries", {}).items()}
    value = param.get("value")
    if value is None:
        return None
    return evaluate(value) if is_juel(value) else value


def lookup(task: Any) -> RegisteredService:
    """The registered handler for a service task, or :class:`ServiceFailed` saying why there is none."""
    camunda = camunda_of(task.task_spec)
    topic = service_topic(camunda)
    registry = getattr(task.workflow.script_engine, "services", None)
    name = task.task_spec.bpmn_name or task.task_spec.bpmn_id
    if topic is None:
        raise ServiceFailed(f"Service task {name!r} names no topic", topic=None,
                            code="service_unknown").with_task(task)
    service = registry.get(topic) if registry is not None else None
    if service is None:
        raise ServiceFailed(f"No handler is registered for topic {topic!r} (service task {name!r})",
                            topic=topic, code="service_unknown").with_task(task)
    return service


def call_handler(service: RegisteredService, call: ServiceCall, task: Any) -> dict[str, Any] | None:
    """Run the handler; any exception becomes :class:`ServiceFailed` carrying the real one."""
    try:
        return service.handler(call)
    except EngineError as exc:
        exc.with_task(task)
        raise
    except Exception as exc:
        name = task.task_spec.bpmn_name or task.task_spec.bpmn_id
        raise ServiceFailed(f"Service {service.topic!r} failed in task {name!r}: {type(exc).__name__}: {exc}",
                            topic=service.topic, original=exc).with_task(task) from exc


def apply_result(task: Any, result: Any) -> None:
    """Store a handler's result in the task data (resultVariable, output parameters, or merge)."""
    camunda = camunda_of(task.task_spec)
    if camunda.get("resultVariable"):
        task.data[camunda["resultVariable"]] = result
        return
    if result is not None and not isinstance(result, Mapping):
        raise ServiceFailed(f"Service {service_topic(camunda)!r} returned a {type(result).__name__}; "
                            "return a dict or set camunda:resultVariable",
                            topic=service_topic(camunda), code="service_result_invalid").with_task(task)
    outputs = camunda.get("outputs")
    if not outputs:
        task.data.update(result or {})
        return
    engine = task.workflow.script_engine
    scope = {**task.data, **(result or {})}
    for name, param in outputs.items():
        task.data[name] = evaluate_parameter(param, lambda text: engine.environment.evaluate(text, scope))
