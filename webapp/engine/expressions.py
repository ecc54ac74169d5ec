"""Expressions: the JUEL subset designers type in Camunda Modeler, and the Python sandbox that runs them.

Every expression the engine evaluates (gateway conditions, timers, multi-instance conditions, DMN
cells, assignees, due dates, input parameters) and every script task goes through
:class:`SandboxEnvironment`, which compiles with RestrictedPython (no ``_``-names, no imports, guarded
attribute/item access) instead of SpiffWorkflow's plain ``eval``/``exec``.

Expression text is read as follows:

* ``${...}`` (or ``#{...}``, which Camunda 7 evaluates the same way for this subset) is JUEL and
  translated by :func:`juel_to_python`. Supported: names, dotted access
  (``a.b`` reads the key ``b`` of the dict ``a``), string/number/boolean/null literals,
  ``! && || == != < > <= >=``, ``not and or eq ne lt gt le ge``, ``empty x``, parentheses.
  Everything else (method calls, ``? :``, arithmetic, brackets, composite text) is refused.
* text without ``${`` is a Python expression.
* a variable that is not in the task data is an error naming the variable (as in Camunda), never
  a silent ``None``.

Code runs in a sandbox process under the step's budget (:mod:`webapp.engine.budget`): time, memory and data
limits that nothing the code does can catch.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import keyword
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from .bounds import Unbounded, unbounded
from .budget import BudgetExceeded, Limits, pool
from .errors import EngineError, ExpressionError, ScriptFailed, ServiceFailed
from .sandbox import Unstorable, decode, encode, restricted_globals

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
    if "${" not in stripped and "#{" not in stripped:
        if stripped.startswith("="):
            raise ExpressionError(
                f"Expression {text!r} looks like FEEL (Camunda 8), which is not supported; "
                "write '${...}' or Python", code="feel_unsupported", expression=text)
        return stripped
    if not (stripped.startswith(("${", "#{")) and stripped.endswith("}")):
        raise _unsupported(text, "text around '${...}' is not supported; the whole value must be one '${...}'")
    tokens = _tokenize(stripped[2:-1], text)
    if not tokens:
        raise ExpressionError(f"Expression {text!r} is empty", code="expression_syntax", expression=text)
    return _JuelParser(tokens, text).parse()


def variable_of(text: str | None) -> str | None:
    """The variable a value names: ``list``, ``${list}`` or ``#{list}`` -> ``"list"``; ``None`` for anything else.

    For attributes that Camunda 7 reads as a variable name or an expression giving it, such as a multi-instance
    ``camunda:collection``.
    """
    stripped = (text or "").strip()
    if stripped[:2] in ("${", "#{") and stripped.endswith("}"):
        stripped = stripped[2:-1].strip()
    return stripped if stripped.isidentifier() and not keyword.iskeyword(stripped) else None


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
        python = juel_to_python(text)
        code = _compile_eval(python)
    except _CompileError as exc:
        if exc.syntax:
            raise ExpressionError(f"Expression {text!r} is not valid: {exc.detail}",
                                  code="expression_syntax", expression=text) from None
        raise ExpressionError(f"Expression {text!r} is not allowed: {exc.detail}",
                              code="expression_forbidden", expression=text) from None
    problem = _unbounded_expression(python)
    if problem:
        raise ExpressionError(f"Expression {text!r}: {problem.why}", code="expression_unbounded", expression=text)
    return code


@lru_cache(maxsize=4096)
def _unbounded_expression(python: str) -> Unbounded | None:
    return unbounded(ast.parse(python, mode="eval"))


@lru_cache(maxsize=1024)
def compile_script(script: str) -> CodeType:
    """Compile a script task's Python under RestrictedPython; imports are refused up front."""
    result = compile_restricted_exec(script or "", "<script>")
    if result.errors:
        detail, line, syntax = _compile_errors(result.errors)
        code = "script_syntax" if syntax else "script_forbidden"
        raise ExpressionError(f"Script line {line}: {detail}", code=code, expression=script, line=line)
    tree = ast.parse(script)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ExpressionError(
                f"Script line {node.lineno}: imports are not allowed; use the built-in helpers",
                code="script_forbidden", expression=script, line=node.lineno)
    problem = unbounded(tree)
    if problem:
        raise ExpressionError(f"Script line {problem.line}: {problem.why}", code="script_unbounded",
                              expression=script, line=problem.line)
    return result.code


# ---------------------------------------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------------------------------------

class SandboxEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's ``eval``/``exec`` environment, replaced: code is compiled here (errors name the text)
    and run in a sandbox process (:mod:`webapp.engine.sandbox`) within the step's :class:`Limits`.

    ``helpers`` are functions for designers, named ``{"name": "package.module:function"}`` (the sandbox
    process imports them); they are builtins there, so a task variable of the same name shadows them.
    """

    def __init__(self, helpers: Mapping[str, str] | None = None, limits: Limits | None = None) -> None:
        super().__init__({})
        self.helpers = dict(helpers or {})
        self.limits = limits or Limits()
        self._here: dict[str, Any] | None = None

    def _call(self, op: str, source: str, context: Mapping[str, Any],
              external_context: Mapping[str, Any] | None) -> dict[str, Any]:
        try:
            request = {"op": op, "src": source, "ctx": encode(dict(context)),
                       "ext": encode(dict(external_context or {})), "helpers": self.helpers}
        except Unstorable as exc:
            raise ExpressionError(f"The process data holds {exc}, which a script cannot be given",
                                  code="data_not_serializable") from None
        answer = pool.call(request, self.limits)
        kind = answer.get("kind")
        if kind == "memory":
            raise BudgetExceeded(f"The step needed more than its budget of {self.limits.memory_mb} MB of memory",
                                 code="budget_memory")
        if kind == "too_large":
            raise BudgetExceeded(f"The step produced more than {self.limits.data_kb} KB of process data",
                                 code="budget_data")
        if kind == "refused":
            raise ExpressionError(answer["message"], code=answer["code"])
        return answer

    def evaluate(self, expression: str, context: Mapping[str, Any],
                 external_context: Mapping[str, Any] | None = None) -> Any:
        code = compile_expression(expression)
        if is_juel(expression):
            return self._evaluate_here(expression, code, context, external_context)
        answer = self._call("eval", juel_to_python(expression), context, external_context)
        kind = answer.get("kind")
        if answer["ok"]:
            return decode(answer["value"])
        if kind == "name":
            raise _missing_variable(expression, answer["name"], context)
        if kind == "key":
            raise ExpressionError(f"Expression {expression!r} reads {answer['key']!r}, which is not set",
                                  code="variable_missing", expression=expression, variable=answer["key"])
        if kind == "unstorable":
            raise ExpressionError(f"Expression {expression!r} gave {answer['message']}, which cannot be used",
                                  code="expression_failed", expression=expression)
        raise ExpressionError(f"Expression {expression!r} failed: {answer['type']}: {answer['message']}",
                              code="expression_failed", expression=expression)

    def _evaluate_here(self, expression: str, code: CodeType, context: Mapping[str, Any],
                       external_context: Mapping[str, Any] | None) -> Any:
        """A translated ``${...}`` runs in this process: its subset (names, literals, comparisons, and/or/not,
        ``empty``) has no loops, calls or arithmetic, so it cannot run long or grow memory."""
        if self._here is None:
            self._here = restricted_globals()
        try:
            return eval(code, {**self._here, **(external_context or {}), **context})  # noqa: S307 - see above
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
        compile_script(script)
        answer = self._call("exec", script or "", context, external_context)
        if not answer["ok"]:
            raise ScriptError(answer)
        data = decode(answer["ctx"])
        context.clear()
        context.update(data)
        return True


class ScriptError(Exception):
    """A script's failure as the sandbox reported it (turned into :class:`ScriptFailed` with the task)."""

    def __init__(self, answer: Mapping[str, Any]) -> None:
        if answer.get("kind") == "unstorable":
            detail = f"it left {answer['message']} in the process data, which cannot be stored"
        else:
            detail = f"{answer.get('type')}: {answer.get('message')}"
        super().__init__(detail)
        self.line = answer.get("line")
        self.original = _builtin_error(answer.get("type"), answer.get("message"))


def _builtin_error(name: Any, message: Any) -> BaseException | None:
    """The sandbox's exception rebuilt when it is one of Python's own (so incidents keep its type)."""
    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            return None
    return None


def _missing_variable(expression: str, name: str, context: Mapping[str, Any]) -> ExpressionError:
    hint = difflib.get_close_matches(name, [str(k) for k in context], n=1)
    suffix = f" Did you mean {hint[0]!r}?" if hint else ""
    return ExpressionError(
        f"Expression {expression!r} uses {name!r}, which is not set in the process data.{suffix}",
        code="variable_missing", expression=expression, variable=name)


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
        except ScriptError as exc:
            where = f" on line {exc.line}" if exc.line else ""
            name = task.task_spec.bpmn_name or task.task_spec.bpmn_id
            original = exc.original or exc
            raise ScriptFailed(f"Script {name!r} failed{where}: {exc}", original=original,
                               line=exc.line).with_task(task) from original

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
