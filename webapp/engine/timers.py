"""Timers and dates: bare ISO 8601 values, the engine clock, task due dates.

Camunda Modeler users type timer values bare (``PT48H``, ``P3D``, ``R3/PT24H``,
``2026-03-05T08:00:00+08:00``); SpiffWorkflow evaluates them as Python, where ``PT48H`` is an unknown
name. :func:`timer_expression` rewrites each value at parse time: an ISO literal becomes a quoted
string, ``${...}`` is translated, anything else stays Python (e.g. ``"P%dD" % days``).

The clock: SpiffWorkflow's timer module reads ``datetime.now(UTC)``. Importing this module
replaces that module's ``datetime`` with a subclass whose ``now()`` honours :func:`frozen_clock`
(a context variable, so it is per thread and per task). Without a frozen clock it is the real time.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from .errors import ExpressionError
from .expressions import is_juel, juel_to_python

_frozen: ContextVar[datetime | None] = ContextVar("yanxun_engine_clock", default=None)


def now() -> datetime:
    """The engine's current time (aware, UTC unless frozen with another zone)."""
    return _frozen.get() or datetime.now(UTC)


@contextmanager
def frozen_clock(at: datetime) -> Iterator[datetime]:
    """Make the engine (timers, due dates, task timestamps) see ``at`` as now, within this context."""
    if at.tzinfo is None:
        raise ValueError("frozen_clock needs an aware datetime")
    token = _frozen.set(at)
    try:
        yield at
    finally:
        _frozen.reset(token)


class _EngineDatetime(datetime):
    """``datetime`` for SpiffWorkflow's timer module whose ``now()`` is the engine clock."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        frozen = _frozen.get()
        if frozen is None:
            return datetime.now(tz)
        return frozen.astimezone(tz) if tz is not None else frozen.astimezone().replace(tzinfo=None)


def _install_clock() -> None:
    _spiff_timer.datetime = _EngineDatetime


_install_clock()

# ---------------------------------------------------------------------------------------------------------
# Non-interrupting cycle boundary timers
# ---------------------------------------------------------------------------------------------------------

class BoundaryCycleTimerEventDefinition(CycleTimerEventDefinition):
    """A cycle timer on a non-interrupting boundary event whose paths outlive the task it is attached to.

    SpiffWorkflow hangs every path a cycle spawns under the one waiting boundary event, so completing the
    task (which cancels that event) cancels them all. Camunda 7 keeps them. Here each firing completes the
    waiting event with its path and leaves a fresh waiting event for the cycles still to come, as a fired
    duration timer does; only that fresh one is cancelled with the task.
    """

    def update_task(self, my_task: Any) -> None:
        if not self.cycle_complete(my_task):
            return
        event_value = my_task.internal_data.pop("event_value")
        if event_value["cycles"] != 0:
            following = my_task.parent._add_child(my_task.task_spec, TaskState.WAITING)
            following._set_internal_data(event_value=event_value)
            following.task_spec._update(following)
        for output in my_task.task_spec.outputs:
            child = my_task._add_child(output, TaskState.FUTURE)
            child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
        my_task._set_internal_data(event_fired=True)
        my_task._ready()


def keep_cycle_paths(spec: Any) -> None:
    """Give every non-interrupting cycle boundary timer of ``spec`` the Camunda behaviour above."""
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if type(definition) is CycleTimerEventDefinition and getattr(task_spec, "cancel_activity", True) is False:
            task_spec.event_definition = BoundaryCycleTimerEventDefinition(
                definition.name, definition.expression, description=definition.description)


# ---------------------------------------------------------------------------------------------------------
# Timer values
# ---------------------------------------------------------------------------------------------------------

TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")
_LOOKS_ISO = re.compile(r"^(P[\dT]|R\d*/|\d{4}-)", re.IGNORECASE)
_CRON = re.compile(r"^[\d*?/,\-#LW A-Z]+$")
_KIND_NAMES = {"timeDate": "a date and time such as 2026-03-05T08:00:00+08:00",
               "timeDuration": "a duration such as PT48H or P3D",
               "timeCycle": "a repeating interval such as R3/PT24H"}


def timer_expression(kind: str, text: str | None) -> str:
    """The Python expression SpiffWorkflow should evaluate for a timer value typed in the Modeler.

    Raises :class:`ExpressionError` for empty values, cron, and invalid ISO literals.
    """
    value = (text or "").strip()
    if not value:
        raise ExpressionError("The timer has no value", code="timer_empty", expression=text)
    if is_juel(value):
        return juel_to_python(value)
    if _LOOKS_ISO.match(value):
        check_iso(kind, value)
        return repr(value)
    if len(value.split()) >= 5 and _CRON.match(value.upper()):
        raise ExpressionError(f"Timer {value!r} is a cron expression, which is not supported; use "
                              f"{_KIND_NAMES.get(kind, 'ISO 8601')}", code="timer_cron_unsupported", expression=text)
    literal = _string_literal(value)
    if literal is not None:
        check_iso(kind, literal)
    return value


def _string_literal(value: str) -> str | None:
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return None
    return literal if isinstance(literal, str) else None


def check_iso(kind: str, value: str) -> None:
    """Raise :class:`ExpressionError` unless ``value`` is valid ISO 8601 of the kind the timer needs."""
    expected = _KIND_NAMES.get(kind, "ISO 8601")
    upper = value.upper()
    try:
        if kind == "timeDuration":
            if not upper.startswith("P"):
                raise ValueError("not a duration")
            TimerEventDefinition.parse_iso_duration(value)
        elif kind == "timeCycle":
            if not upper.startswith("R"):
                raise ValueError("not a repeating interval")
            TimerEventDefinition.parse_iso_recurring_interval(value)
        else:
            if upper.startswith(("P", "R")):
                raise ValueError("not a date")
            TimerEventDefinition.parse_time_or_duration(value)
    except Exception as exc:  # the library raises bare Exception/ValueError/AttributeError
        raise ExpressionError(f"Timer value {value!r} is not valid ISO 8601; expected {expected}",
                              code="timer_invalid", expression=value) from exc


def is_naive_date(value: str) -> bool:
    """True for an ISO date-time literal without a zone offset (read in the server's time zone)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is None


# ---------------------------------------------------------------------------------------------------------
# Re-arming waiting timers after variables changed (Camunda 7: ManagementService.recalculateJobDuedate)
# ---------------------------------------------------------------------------------------------------------

def referenced_names(expression: str) -> set[str] | None:
    """The names a (Python) timer expression reads; None when it cannot be parsed."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def recalculated_timer(task: Any, data: Mapping[str, Any], changed: set[str]) -> Any:
    """The new ``event_value`` of waiting timer ``task`` once its variables are ``data``, or None to keep it.

    * timeDate: its expression is evaluated again (a literal gives the same date again);
    * timeDuration: kept -- the duration counts from when the timer started, as in Camunda 7;
    * timeCycle: kept, unless its expression reads a variable in ``changed``: then the new value is
      evaluated and its schedule starts again from now, with all its repetitions (Camunda's
      ``recalculateJobDuedate(jobId, false)``). A literal cycle never moves.

    Only timers that wait and have not fired are re-armed; timers of events with several definitions are
    kept. Raises :class:`ExpressionError` (``timer_invalid``) when the new value is not of the timer's kind.
    """
    definition = getattr(task.task_spec, "event_definition", None)
    if task.state != TaskState.WAITING or task.internal_data.get("event_fired") \
            or task.internal_data.get("event_value") is None:
        return None
    if isinstance(definition, TimeDateEventDefinition):
        return _evaluate_timer(task, definition.expression, data, "timeDate")
    if isinstance(definition, CycleTimerEventDefinition):
        names = referenced_names(definition.expression)
        if not (names or set()) & changed:
            return None
        value = _evaluate_timer(task, definition.expression, data, "timeCycle")
        cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(value)
        return {"cycles": cycles, "next": start.isoformat(), "duration": duration.total_seconds()}
    return None


def _evaluate_timer(task: Any, expression: str, data: Mapping[str, Any], kind: str) -> str:
    engine = task.workflow.script_engine
    try:
        value = engine.environment.evaluate(expression, dict(data))
        if not isinstance(value, str):
            raise ExpressionError(f"Timer {expression!r} gave a {type(value).__name__}, not "
                                  f"{_KIND_NAMES[kind]}", code="timer_invalid", expression=expression)
        check_iso(kind, value)
    except ExpressionError as exc:
        exc.with_task(task)
        raise
    return value


# ---------------------------------------------------------------------------------------------------------
# Due and follow-up dates of user tasks
# ---------------------------------------------------------------------------------------------------------

def check_due(text: str) -> None:
    """Lint a ``camunda:dueDate``/``followUpDate`` literal: an ISO duration or date (expressions pass)."""
    if is_juel(text):
        return
    _to_datetime(text.strip(), now(), text)


def resolve_due(text: str | None, evaluate: Callable[[str], Any], base: datetime) -> datetime | None:
    """``P3D`` (relative to ``base``, when the task became ready), an ISO date/date-time, or ``${expr}``.

    An expression may yield a datetime, a date, or an ISO string of either form. Naive values are read
    in the server's local time zone, as SpiffWorkflow does for timers.
    """
    if text is None or not text.strip():
        return None
    value: Any = evaluate(text) if is_juel(text) else text.strip()
    if value is None:
        return None
    return _to_datetime(value, base, text)


def _to_datetime(value: Any, base: datetime, text: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    if isinstance(value, date):
        return datetime.combine(value, time()).astimezone()
    if isinstance(value, str):
        try:
            if value.upper().startswith("P"):
                return base + TimerEventDefinition.get_timedelta_from_start(
                    TimerEventDefinition.parse_iso_duration(value), base)
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.astimezone()
        except Exception as exc:  # the library raises bare Exception
            raise ExpressionError(f"Date {text!r} gave {value!r}, which is neither an ISO 8601 duration "
                                  "nor a date", code="date_invalid", expression=text) from exc
    raise ExpressionError(f"Date {text!r} gave a {type(value).__name__}, not a date",
                          code="date_invalid", expression=text)
