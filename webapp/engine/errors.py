"""The engine's exception hierarchy.

Every error that leaves ``webapp.engine`` is an :class:`EngineError`: SpiffWorkflow exceptions are
wrapped, never passed through. Each carries a stable ``code`` (for translation by the web layer), a
plain-English message, and, when a task was involved, its id, BPMN id and name.

After *any* of these errors raised by a call that acts on a workflow (start, complete, tick, ...), the
in-memory workflow may be half-advanced: the caller must discard it (roll back the transaction) and
never save it.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base class; ``code`` is stable, ``str(error)`` is the English message."""

    code = "engine_error"

    def __init__(self, message: str, *, code: str | None = None, task_id: str | None = None,
                 bpmn_id: str | None = None, task_name: str | None = None,
                 params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.task_id = task_id
        self.bpmn_id = bpmn_id
        self.task_name = task_name
        self.params = dict(params or {})

    def with_task(self, task: Any) -> EngineError:
        """Fill in the task fields from a SpiffWorkflow task, keeping any already set."""
        if task is not None:
            spec = task.task_spec
            self.task_id = self.task_id or str(task.id)
            self.bpmn_id = self.bpmn_id or getattr(spec, "bpmn_id", None)
            self.task_name = self.task_name or getattr(spec, "bpmn_name", None)
        return self


class DefinitionInvalid(EngineError):
    """A definition upload has errors; ``report`` lists all of them."""

    code = "definition_invalid"

    def __init__(self, report: Any) -> None:
        count = len(report.errors)
        super().__init__(f"The definition has {count} error{'s' if count != 1 else ''}.")
        self.report = report


class ExpressionError(EngineError):
    """An expression could not be translated, compiled or evaluated.

    ``expression`` is the designer's text; ``variable`` names the missing variable for
    ``code == "variable_missing"``.
    """

    code = "expression_invalid"

    def __init__(self, message: str, *, expression: str | None = None, variable: str | None = None,
                 line: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.expression = expression
        self.variable = variable
        self.line = line


class TaskRefused(EngineError):
    """The requested task cannot be acted upon."""

    code = "task_refused"


class TaskNotFound(TaskRefused):
    code = "task_not_found"


class TaskNotReady(TaskRefused):
    """The task exists but is not READY (or, for service tasks, not STARTED)."""

    code = "task_not_ready"

    def __init__(self, message: str, *, state: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.state = state


class WrongTaskType(TaskRefused):
    """E.g. completing a gateway as if it were a user task."""

    code = "task_wrong_type"


class FieldError:
    """One problem with one form field; ``str()`` gives the English message."""

    __slots__ = ("code", "message", "params")

    def __init__(self, code: str, message: str, **params: Any) -> None:
        self.code = code
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"FieldError({self.code!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldError) and (self.code, self.message) == (other.code, other.message)

    def __hash__(self) -> int:
        return hash((self.code, self.message))


class FormInvalid(EngineError):
    """Submitted form data violates the task's form; ``errors`` maps field id to its problems."""

    code = "form_invalid"

    def __init__(self, errors: dict[str, list[FieldError]], **kwargs: Any) -> None:
        fields = ", ".join(sorted(errors))
        super().__init__(f"The form has errors in: {fields}.", **kwargs)
        self.errors = errors


class EngineIncident(EngineError):
    """The workflow failed while running (script error, no gateway branch taken, engine bug...).

    ``original`` is the underlying exception, when there is one.
    """

    code = "engine_incident"

    def __init__(self, message: str, *, original: BaseException | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.original = original


class ScriptFailed(EngineIncident):
    """A script task raised; ``line`` is the line within the script, when known."""

    code = "script_failed"

    def __init__(self, message: str, *, line: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.line = line


class ServiceFailed(EngineIncident):
    """A service-task handler raised (``original`` is the real exception) or is missing."""

    code = "service_failed"

    def __init__(self, message: str, *, topic: str | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.topic = topic


class StateInvalid(EngineError):
    """Stored instance state cannot be loaded."""

    code = "state_invalid"
