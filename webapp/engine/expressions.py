"""Expressions: the JUEL subset designers type in Camunda Modeler, and the Python sandbox that runs them.

Every expression the engine evaluates (gateway conditions, timers, multi-instance conditions, DMN
cells, assignees, due dates, input parameters) and every script task goes through
:class:`SandboxEnvironment`, which compiles with RestrictedPython (no ``_``-names, no imports, guarded
attribute/item access) instead of SpiffWorkflow's plain ``eval``/``exec``.

Expression text is read as follows:

* ``${...}`` is JUEL and translated by :func:`juel_to_python`. Supported: names, dotted access
  (``a.b`` reads the key ``b`` of the dict ``a``), string/number/boolean/null literals,
  ``! && || == != < > <= >=``, ``not and or eq ne lt gt le ge``, ``empty x``, parentheses.
  Everything else (method calls, ``#{}``, ``? :``, arithmetic, brackets, composite text) is refused.
* text without ``${`` is a Python expression.
* a variable that is not in the task data is an error naming the variable (as in Camunda), never
  a silent ``None``.

The sandbox has no CPU or memory limit: run engine steps in a worker with a time limit.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import operator
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, limited_builtins, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.PrintCollector import PrintCollector
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from .errors import EngineError, ExpressionError, ScriptFailed, ServiceFailed

# ---------------------------------------------------------------------------------------------------------
# JUEL -> Python
# ---------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
      | (?P<name>[^\W\d]\w*)
      | (?P<op>&&|\|\||==|!=|<=|>=|[!<>().])
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_WORD_OPERATORS = {"and": "&&", "or": "||", "not": "!", "eq": "==", "ne": "!=",
                   "lt": "<", "gt": ">", "le": "<=", "ge": ">="}
_LITERALS = {"true": "True", "false": "False", "null": "None"}
_PY_COMPARISON = {"==": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}


def is_juel(text: str | None) -> bool:
    """True if ``text`` uses Camunda's expression syntax (``${...}`` or ``#{...}``)."""
    return bool(text) and ("${" in text or "#{" in text)


@lru_cache(maxsize=4096)
def juel_to_python(text: str) -> str:
    """Translate one ``${...}`` JUEL expression to Python; other text is returned stripped (it is Python).

    Raises :class:`ExpressionError` (code ``expression_unsupported``, ``expression_syntax`` or
    ``feel_unsupported``) for anything outside the supported subset.
    """
    stripped = text.strip()
    if "#{" in stripped:
        raise _unsupported(text, "deferred expressions '#{...}' are not supported; write '${...}'")
    if "${" not in stripped:
        if stripped.startswith("="):
            raise ExpressionError(
                f"Expression {text!r} looks like FEEL (Camunda 8), which is not supported; "
                "write '${...}' or Python", code="feel_unsupported", expression=text)
        return stripped
    if not (stripped.startswith("${") and stripped.endswith("}")):
        raise _unsupported(text, "text around '${...}' is not supported; the whole value must be one '${...}'")
    tokens = _tokenize(stripped[2:-1], text)
    if not tokens:
        raise ExpressionError(f"Expression {text!r} is empty", code="expression_syntax", expression=text)
    return _JuelParser(tokens, text).parse()


def _unsupported(text: str, why: str) -> ExpressionError:
    return ExpressionError(f"Expression {text!r}: {why}", code="expression_unsupported", expression=text)


def _tokenize(inner: str, text: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _TOKEN.finditer(inner):
        kind, value = match.lastgroup, match.group()
        if kind == "ws":
            continue
        if kind == "name" and value in _WORD_OPERATORS:
            kind, value = "op", _WORD_OPERATORS[value]
        if kind == "other":
            if value in "'\"":
                raise ExpressionError(f"Expression {text!r} has an unterminated string",
                                      code="expression_syntax", expression=text)
            if value in "{}$#":
                raise _unsupported(text, "only one '${...}' covering the whole value is supported")
        tokens.append((kind, value))
    return tokens


class _JuelParser:
    """Recursive descent over the JUEL subset; output is fully parenthesised, so JUEL precedence holds."""

    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.text = text

    def parse(self) -> str:
        result = self._or()
        if self.pos < len(self.tokens):
            raise self._unexpected()
        return result

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _accept(self, kind: str, value: str | None = None) -> str | None:
        token = self._peek()
        if token and token[0] == kind and (value is None or token[1] == value):
            self.pos += 1
            return token[1]
        return None

    def _unexpected(self) -> ExpressionError:
        token = self._peek()
        if token is None:
            return ExpressionError(f"Expression {self.text!r} ends too early",
                                   code="expression_syntax", expression=self.text)
        value = token[1]
        if value in ("+", "-", "*", "/", "%") or value in ("div", "mod"):
            why = f"arithmetic ('{value}') is not supported; compute the value in a script task or write Python"
        elif value in ("?", ":"):
            why = "the conditional operator '? :' is not supported; use a gateway"
        elif value in ("[", "]"):
            why = "bracket access is not supported; use dotted names such as 'application.hours'"
        elif value == "=":
            why = "assignment '=' is not supported; compare with '==' or 'eq'"
        elif value == "instanceof":
            why = "'instanceof' is not supported"
        else:
            return ExpressionError(f"Expression {self.text!r}: unexpected {value!r}",
                                   code="expression_syntax", expression=self.text)
        return _unsupported(self.text, why)

    def _binary(self, operand: Callable[[], str], operators: Mapping[str, str]) -> str:
        left = operand()
        while (token := self._peek()) and token[0] == "op" and token[1] in operators:
            self.pos += 1
            left = f"({left} {operators[token[1]]} {operand()})"
        return left

    def _or(self) -> str:
        return self._binary(self._and, {"||": "or"})

    def _and(self) -> str:
        return self._binary(self._equality, {"&&": "and"})

    def _equality(self) -> str:
        return self._binary(self._relational, {"==": "==", "!=": "!="})

    def _relational(self) -> str:
        return self._binary(self._unary, {"<": "<", ">": ">", "<=": "<=", ">=": ">="})

    def _unary(self) -> str:
        if self._accept("op", "!"):
            return f"(not {self._unary()})"
        if self._accept("name", "empty"):
            return f"juel_empty({self._unary()})"
        if self._accept("other", "-"):
            number = self._accept("num")
            if number is None:
                raise _unsupported(self.text, "arithmetic ('-') is not supported; only negative numbers are")
            return repr(-_number(number))
        return self._primary()

    def _primary(self) -> str:
        token = self._peek()
        if token is None:
            raise self._unexpected()
        kind, value = token
        if kind == "str":
            self.pos += 1
            return repr(re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "num":
            self.pos += 1
            return repr(_number(value))
        if kind == "op" and value == "(":
            self.pos += 1
            inner = self._or()
            if not self._accept("op", ")"):
                raise self._unexpected()
            return f"({inner})"
        if kind == "name":
            self.pos += 1
            return self._path(value)
        raise self._unexpected()

    def _path(self, name: str) -> str:
        if name in _LITERALS:
            return _LITERALS[name]
        if name in ("empty", "div", "mod", "instanceof"):
            self.pos -= 1
            raise self._unexpected()
        if keyword.iskeyword(name):
            raise _unsupported(self.text, f"{name!r} cannot be used as a variable name")
        result = name
        while self._accept("op", "."):
            prop = self._accept("name")
            if prop is None:
                raise ExpressionError(f"Expression {self.text!r}: a name must follow '.'",
                                      code="expression_syntax", expression=self.text)
            result += f"[{prop!r}]"
        if (token := self._peek()) and token[1] == "(":
            raise _unsupported(self.text, "method and function calls are not supported")
        return result


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def juel_empty(value: Any) -> bool:
    """JUEL's ``empty``: null, or an empty string, list or map."""
    return value is None or (isinstance(value, str | list | tuple | dict | set | frozenset) and len(value) == 0)


# ---------------------------------------------------------------------------------------------------------
# Compilation (cached: restricted compilation costs far more than evaluation)
# ---------------------------------------------------------------------------------------------------------

_LINE = re.compile(r"^Line (\d+):\s*")


def _compile_errors(errors: Iterable[str]) -> tuple[str, int | None, bool]:
    messages, line, syntax = [], None, False
    for error in errors:
        match = _LINE.match(error)
        if match and line is None:
            line = int(match.group(1))
        syntax = syntax or any(kind in error for kind in ("SyntaxError", "IndentationError", "TabError"))
        messages.append(_LINE.sub("", error))
    return "; ".join(messages), line, syntax


class _CompileError(Exception):
    def __init__(self, detail: str, syntax: bool) -> None:
        super().__init__(detail)
        self.detail, self.syntax = detail, syntax


@lru_cache(maxsize=4096)
def _compile_eval(source: str) -> CodeType:
    result = compile_restricted_eval(source, "<expression>")
    if result.errors:
        detail, _, syntax = _compile_errors(result.errors)
        raise _CompileError(detail, syntax)
    return result.code


def compile_expression(text: str) -> CodeType:
    """Translate (if JUEL) and compile ``text``; raises :class:`ExpressionError` naming the original text."""
    if text is None or not text.strip():
        raise ExpressionError("The expression is empty", code="expression_syntax", expression=text)
    try:
        return _compile_eval(juel_to_python(text))
    except _CompileError as exc:
        if exc.syntax:
            raise ExpressionError(f"Expression {text!r} is not valid: {exc.detail}",
                                  code="expression_syntax", expression=text) from None
        raise ExpressionError(f"Expression {text!r} is not allowed: {exc.detail}",
                              code="expression_forbidden", expression=text) from None


@lru_cache(maxsize=1024)
def compile_script(script: str) -> CodeType:
    """Compile a script task's Python under RestrictedPython; imports are refused up front."""
    result = compile_restricted_exec(script or "", "<script>")
    if result.errors:
        detail, line, syntax = _compile_errors(result.errors)
        code = "script_syntax" if syntax else "script_forbidden"
        raise ExpressionError(f"Script line {line}: {detail}", code=code, expression=script, line=line)
    for node in ast.walk(ast.parse(script)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ExpressionError(
                f"Script line {node.lineno}: imports are not allowed; use the built-in helpers",
                code="script_forbidden", expression=script, line=node.lineno)
    return result.code


# ---------------------------------------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------------------------------------

_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
            ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    try:
        return _INPLACE[op](target, value)
    except KeyError:
        raise ExpressionError(f"Operator {op!r} is not supported", code="expression_forbidden") from None


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _clock_import(name: str, *args: Any, **kwargs: Any) -> Any:
    """``date.today()`` and friends import ``time`` from C through the caller's builtins; nothing else may."""
    if name == "time":
        return time
    raise ExpressionError(f"Importing {name!r} is not allowed", code="expression_forbidden")


_EXTRA_BUILTINS: dict[str, Any] = {
    "__import__": _clock_import,
    "dict": dict, "min": min, "max": max, "sum": sum, "sorted": sorted, "any": any, "all": all,
    "enumerate": enumerate, "zip": zip, "reversed": reversed, "map": map, "filter": filter,
    "set": set, "frozenset": frozenset, "math": math,
    "date": date, "datetime": datetime, "timedelta": timedelta, "timezone": timezone,
    "juel_empty": juel_empty,
}


class SandboxEnvironment(TaskDataEnvironment):
    """RestrictedPython-backed replacement for SpiffWorkflow's ``eval``/``exec`` environment.

    ``helpers`` (functions or values for designers) are added as builtins, so a task variable with the
    same name simply shadows them instead of breaking every script.
    """

    def __init__(self, helpers: Mapping[str, Any] | None = None) -> None:
        builtins = {**safe_builtins, **limited_builtins, **_EXTRA_BUILTINS, **(helpers or {})}
        super().__init__({
            "__builtins__": builtins,
            "_getattr_": safer_getattr_raise,
            "_getitem_": default_guarded_getitem,
            "_getiter_": default_guarded_getiter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": full_write_guard,
            "_inplacevar_": _inplacevar,
            "_apply_": _apply,
            "_print_": PrintCollector,
        })

    def evaluate(self, expression: str, context: Mapping[str, Any],
                 external_context: Mapping[str, Any] | None = None) -> Any:
        code = compile_expression(expression)
        scope = {**self.globals, **(external_context or {}), **context}
        try:
            return eval(code, scope)  # noqa: S307 - RestrictedPython-compiled code with guarded globals
        except EngineError:
            raise
        except NameError as exc:
            raise _missing_variable(expression, exc.name or str(exc), context) from exc
        except KeyError as exc:
            key = exc.args[0] if exc.args else "?"
            raise ExpressionError(f"Expression {expression!r} reads {key!r}, which is not set",
                                  code="variable_missing", expression=expression, variable=str(key)) from exc
        except Exception as exc:
            raise ExpressionError(f"Expression {expression!r} failed: {type(exc).__name__}: {exc}",
                                  code="expression_failed", expression=expression) from exc

    def execute(self, script: str, context: dict[str, Any],
                external_context: Mapping[str, Any] | None = None) -> bool:
        code = compile_script(script)
        external_context = dict(external_context or {})
        self.check_for_overwrite(context, external_context)
        context.update(self.globals)
        context.update(external_context)
        try:
            exec(code, context)  # noqa: S102 - RestrictedPython-compiled code with guarded globals
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
            context.pop("_print", None)
        return True


def _missing_variable(expression: str, name: str, context: Mapping[str, Any]) -> ExpressionError:
    hint = difflib.get_close_matches(name, [str(k) for k in context], n=1)
    suffix = f" Did you mean {hint[0]!r}?" if hint else ""
    return ExpressionError(
        f"Expression {expression!r} uses {name!r}, which is not set in the process data.{suffix}",
        code="variable_missing", expression=expression, variable=name)


def _script_line(exc: BaseException) -> int | None:
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == "<script>"]
    return lines[-1] if lines else None


class SandboxScriptEngine(PythonScriptEngine):
    """Script engine wired to :class:`SandboxEnvironment`; raises our errors (with task ids) directly.

    ``services`` is the :class:`~webapp.engine.services.ServiceRegistry` that service tasks dispatch to.
    The engine is not serialized with a workflow: re-attach it after every load (the runtime does).
    """

    def __init__(self, environment: SandboxEnvironment | None = None, services: Any = None) -> None:
        super().__init__(environment=environment or SandboxEnvironment())
        self.services = services

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except EngineError as exc:
            exc.with_task(task)
            raise

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> bool:
        try:
            return self.environment.execute(script, task.data, external_context)
        except EngineError as exc:
            exc.with_task(task)
            raise
        except Exception as exc:
            line = _script_line(exc)
            where = f" on line {line}" if line else ""
            name = task.task_spec.bpmn_name or task.task_spec.bpmn_id
            raise ScriptFailed(f"Script {name!r} failed{where}: {type(exc).__name__}: {exc}",
                               original=exc, line=line).with_task(task) from exc

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        """Not used: our service tasks dispatch through the registry (the stock method hides errors)."""
        raise ServiceFailed("Service calls go through the service registry", topic=None,
                            code="service_misrouted").with_task(task)


# ---------------------------------------------------------------------------------------------------------
# Assignees, candidate users and groups
# ---------------------------------------------------------------------------------------------------------

def split_list(text: str | None) -> list[str]:
    """Split a Camunda list attribute at top-level commas, keeping ``${a, b}`` and quoted text intact."""
    parts, current, depth, quote = [], [], 0, ""
    for index, char in enumerate(text or ""):
        if quote:
            quote = "" if char == quote and text[index - 1] != "\\" else quote
        elif char in "'\"" and depth:
            quote = char
        elif char in "$#" and text[index + 1:index + 2] == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == "," and not depth:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def resolve_single(text: str | None, evaluate: Callable[[str], Any]) -> str | None:
    """An assignee: ``${expr}`` is evaluated, anything else is the literal user name."""
    if text is None or not text.strip():
        return None
    if not is_juel(text):
        return text.strip()
    value = evaluate(text)
    return None if value is None or value == "" else str(value)


def resolve_list(text: str | None, evaluate: Callable[[str], Any]) -> list[str]:
    """Candidate users or groups: ``alice, ${reviewers}`` -> literal items plus evaluated ones.

    An expression may yield a string (split at commas, as Camunda does), a list, or ``None``.
    """
    result: list[str] = []
    for part in split_list(text):
        if not is_juel(part):
            values: Iterable[Any] = [part]
        else:
            value = evaluate(part)
            if value is None:
                values = []
            elif isinstance(value, str):
                values = split_list(value)
            elif isinstance(value, list | tuple | set | frozenset):
                values = value
            else:
                values = [value]
        result.extend(str(v).strip() for v in values if v is not None and str(v).strip())
    return list(dict.fromkeys(result))
