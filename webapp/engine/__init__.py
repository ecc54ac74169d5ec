"""The workflow engine: the only package that imports SpiffWorkflow, and it imports nothing of Flask or the app.

Deploy: :func:`check_definition` (one report of every problem; compiled definitions when clean).
Run: :class:`WorkflowRuntime` (start, load/dump, user tasks, variables, timers, service tasks, history).
Errors: everything raised is an :class:`EngineError`; after one, discard the workflow object.
"""

from .budget import BudgetExceeded, Limits
from .deploy import CompiledDefinition, Report, check_definition, deploy
from .errors import (
    DefinitionInvalid,
    EngineError,
    EngineIncident,
    ExpressionError,
    FieldError,
    FormInvalid,
    ScriptFailed,
    ServiceFailed,
    StateInvalid,
    TaskNotFound,
    TaskNotReady,
    TaskRefused,
    WrongTaskType,
)
from .expressions import juel_to_python
from .forms import EnumOption, FormFieldInfo
from .lint import Problem
from .parser import ExtendedCamundaParser, role_for_lane
from .runtime import HistoryEntry, ProcessDefinition, ServiceTaskInfo, UserTaskInfo, WorkflowRuntime
from .services import ServiceCall, ServiceRegistry
from .timers import frozen_clock

__all__ = [
    "BudgetExceeded",
    "CompiledDefinition",
    "DefinitionInvalid",
    "EngineError",
    "EngineIncident",
    "EnumOption",
    "ExpressionError",
    "ExtendedCamundaParser",
    "FieldError",
    "FormFieldInfo",
    "FormInvalid",
    "HistoryEntry",
    "Limits",
    "Problem",
    "ProcessDefinition",
    "Report",
    "ScriptFailed",
    "ServiceCall",
    "ServiceFailed",
    "ServiceRegistry",
    "ServiceTaskInfo",
    "StateInvalid",
    "TaskNotFound",
    "TaskNotReady",
    "TaskRefused",
    "UserTaskInfo",
    "WorkflowRuntime",
    "WrongTaskType",
    "check_definition",
    "deploy",
    "frozen_clock",
    "juel_to_python",
    "role_for_lane",
]
