"""The FEEL subset of Camunda Modeler's decision tables: parsed at deploy, evaluated without ``eval``.

Camunda 7 (7.13 and later) reads every cell of a decision table as FEEL: input expressions and output
entries are FEEL expressions, input entries are FEEL *unary tests*. SpiffWorkflow reads them as Python,
so ``true`` fails and ``not("x")`` or ``"a","b"`` silently never match. This module parses the subset
designers draw and evaluates it as Camunda's FEEL engine (feel-scala 1.17, which is null-friendly) does:

* unary tests: ``-`` (or empty: anything), a literal or a name (equality), ``< <= > >=`` followed by one,
  intervals ``[a..b]``, ``(a..b)``, ``]a..b[`` and mixed, comma lists (any of them), ``not(...)`` of
  all that, and ``null``;
* expressions (input expressions and output entries): literals (``"text"``, numbers, ``true``, ``false``,
  ``null``), names and dotted paths (``application.hours``), ``+ - * /``, parentheses and one comparison
  (``hours > 40``, ``category = "research"``, ``!=``).

Everything else raises :class:`FeelUnsupported` with a hint saying what to write instead. Parsed forms are
plain JSON lists (they are stored in the compiled definition) and evaluated by :func:`matches` and
:func:`evaluate` in plain Python: there is no code to run, so no sandbox and no budget are needed.

Semantics, as in FEEL: a variable that is not set reads as ``null``; comparing values of different types
(or ``null`` with ``<``) gives ``null``, which does not match; ``=`` with ``null`` is true only for ``null``;
a list matches when any of its tests does; ``not(...)`` of ``null`` is ``null``. Arithmetic on ``null``, on
values of the wrong type or a division by zero gives ``null``. Whole numbers come back as ``int``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Node = list[Any]

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<num>(?:\d+(?:\.\d+)?|\.\d+))
      | (?P<range>\.\.)
      | (?P<op><=|>=|!=|==|&&|\|\||[<>=()\[\],+\-*/.?])
      | (?P<name>[^\W\d]\w*)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = {"true": True, "false": False, "null": None}
_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}
_COMPARISONS = ("<", "<=", ">", ">=")
_RESERVED = frozenset({"and", "or", "not", "in", "if", "then", "else", "for", "some", "every", "satisfies",
                       "between", "instance", "of", "function", "return"})


class FeelUnsupported(ValueError):
    """The text is not in the supported FEEL subset; ``str()`` says why and what to write instead."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup or "", match.group()
        if kind == "ws":
            continue
        if kind == "other":
            if value == "'":
                raise FeelUnsupported("FEEL text is written in double quotes: \"text\", not 'text'")
            if value == '"':
                raise FeelUnsupported("the text has an unterminated string (a \" is missing)")
            raise FeelUnsupported(f"{value!r} is not supported here")
        tokens.append((kind, value))
    return tokens


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), literal[1:-1])


def _number(text: str) -> int | float:
    if "." not in text:
        return int(text)
    value = float(text)
    return int(value) if value.is_integer() else value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def accept(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token[1] == value and token[0] in ("op", "range", "name"):
            self.pos += 1
            return True
        return False

    def expect(self, value: str, what: str) -> None:
        if not self.accept(value):
            raise self.unexpected(what)

    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def unexpected(self, what: str = "") -> FeelUnsupported:
        token = self.peek()
        if token is None:
            return FeelUnsupported(f"it ends too early{f' (expected {what})' if what else ''}")
        value = token[1]
        if value == "and" and self.pos > 0 and self.tokens[self.pos - 1] == ("name", "date"):
            return FeelUnsupported("the function date and time(...) is not supported" + _function_hint("date"))
        hints = {
            "==": "'==' is Python; in a condition cell write the value alone (\"a\") or a comparison (< 10)",
            "!=": "'!=' is Python; write not(\"a\")",
            "=": "write the value alone (\"a\"), not '= \"a\"'",
            "&&": "'&&' is not supported; put the conditions in separate input columns",
            "||": "'||' is not supported; list the values with commas: \"a\", \"b\"",
            "and": "'and' is not supported; put the conditions in separate input columns",
            "or": "'or' is not supported; list the values with commas: \"a\", \"b\"",
            "?": "'?' (the input value in an expression) is not supported; write a comparison such as < 10 or a "
                 "range such as [1..10]",
            "in": "'in' is not supported; write the values, a range or a list directly",
            "between": "'between' is not supported; write a range such as [1..10]",
        }
        if value in hints:
            return FeelUnsupported(hints[value])
        if value == "(" and self.pos > 0 and self.tokens[self.pos - 1][0] == "name":
            return FeelUnsupported(f"the function {self.tokens[self.pos - 1][1]}(...) is not supported"
                                   + _function_hint(self.tokens[self.pos - 1][1]))
        return FeelUnsupported(f"unexpected {value!r}{f' (expected {what})' if what else ''}")

    # -- expressions -------------------------------------------------------------------------------------

    def comparison(self) -> Node:
        node = self.expression()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in (*_COMPARISONS, "=", "!="):
            self.pos += 1
            node = ["compare", token[1], node, self.expression()]
        return node

    def expression(self) -> Node:
        node = self.term()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in ("+", "-"):
            self.pos += 1
            node = ["arith", token[1], node, self.term()]
        return node

    def term(self) -> Node:
        node = self.factor()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in ("*", "/"):
            self.pos += 1
            node = ["arith", token[1], node, self.factor()]
        return node

    def factor(self) -> Node:
        if self.accept("-"):
            operand = self.factor()
            if operand[0] == "lit" and isinstance(operand[1], int | float) and not isinstance(operand[1], bool):
                return ["lit", -operand[1]]
            return ["neg", operand]
        if self.accept("("):
            node = self.expression()
            self.expect(")", "')'")
            return node
        return self.primary()

    def primary(self) -> Node:
        token = self.peek()
        if token is None:
            raise self.unexpected("a value")
        kind, value = token
        if kind == "str":
            self.pos += 1
            return ["lit", _unescape(value)]
        if kind == "num":
            self.pos += 1
            return ["lit", _number(value)]
        if kind == "name":
            if value in _KEYWORDS:
                self.pos += 1
                return ["lit", _KEYWORDS[value]]
            if value in _PYTHON_WORDS:
                raise FeelUnsupported(f"{value!r} is Python; FEEL writes {_PYTHON_WORDS[value]}")
            if value in _RESERVED:
                raise self.unexpected()
            self.pos += 1
            path = [value]
            while (nxt := self.peek()) is not None and nxt == ("op", "."):
                self.pos += 1
                key = self.peek()
                if key is None or key[0] != "name":
                    raise FeelUnsupported("a name must follow '.'")
                self.pos += 1
                path.append(key[1])
            if (nxt := self.peek()) is not None and nxt[1] in ("(", "["):
                if nxt[1] == "(":
                    raise FeelUnsupported(f"the function {value}(...) is not supported" + _function_hint(value))
                raise FeelUnsupported("brackets (filters and indexes) are not supported; use a dotted name such "
                                      "as application.hours")
            return ["path", path]
        raise self.unexpected("a value")

    # -- unary tests -------------------------------------------------------------------------------------

    def unary_tests(self) -> Node:
        if self.peek() == ("name", "not") and self.peek(1) == ("op", "("):
            self.pos += 2
            tests = self.positive_tests()
            self.expect(")", "')' closing not(")
            if not self.done():
                raise self.unexpected()
            return ["not", tests]
        tests = self.positive_tests()
        if not self.done():
            raise self.unexpected()
        return ["any_of", tests]

    def positive_tests(self) -> list[Node]:
        tests = [self.positive_test()]
        while self.accept(","):
            tests.append(self.positive_test())
        return tests

    def positive_test(self) -> Node:
        token = self.peek()
        if token is None:
            raise self.unexpected("a value")
        if token[0] == "op" and token[1] in _COMPARISONS:
            self.pos += 1
            return ["cmp", token[1], self.endpoint()]
        if (token[0] == "op" and token[1] in ("[", "]")) or (token == ("op", "(") and self._is_interval()):
            return self.interval()
        if token == ("name", "not"):
            raise FeelUnsupported("not(...) must cover the whole cell: not(\"a\", \"b\")")
        return ["eq", self.endpoint()]

    def _is_interval(self) -> bool:
        depth = 0
        for kind, value in self.tokens[self.pos:]:
            if kind == "range" and depth == 1:
                return True
            if value in ("(", "["):
                depth += 1
            elif value in (")", "]"):
                depth -= 1
                if depth <= 0:
                    return False
        return False

    def interval(self) -> Node:
        opening = self.peek()
        self.pos += 1
        low = self.endpoint()
        if not self.accept(".."):
            raise self.unexpected("'..' of a range such as [1..10]")
        high = self.endpoint()
        closing = self.peek()
        if closing is None or closing[1] not in (")", "]", "["):
            raise self.unexpected("']' or ')' closing the range")
        self.pos += 1
        return ["range", opening[1] == "[", low, high, closing[1] == "]"]

    def endpoint(self) -> Node:
        node = self.expression()
        if node[0] not in ("lit", "path"):
            raise FeelUnsupported("a comparison or range takes a value or a variable name, not a calculation")
        return node


def _function_hint(name: str) -> str:
    if name in ("date", "time", "date and time", "duration"):
        return "; compare dates as ISO text instead: >= \"2026-09-01\""
    if name == "not":
        return "; not(...) must cover the whole cell"
    return ""


def parse_unary_tests(text: str | None) -> Node:
    """An input entry (a condition cell) as a test tree; ``-`` or empty matches anything."""
    stripped = (text or "").strip()
    if stripped in ("", "-"):
        return ["any"]
    parser = _Parser(stripped)
    if not parser.tokens:
        return ["any"]
    return parser.unary_tests()


def parse_expression(text: str | None) -> Node:
    """An input expression or output entry as an expression tree."""
    stripped = (text or "").strip()
    parser = _Parser(stripped)
    if not parser.tokens:
        raise FeelUnsupported("the expression is empty")
    if parser.tokens[0] == ("op", "<") or parser.tokens[0][0] == "range" or parser.tokens[0][1] in ("[", "]"):
        raise FeelUnsupported("a comparison or range belongs in a condition (input) cell; write a value here")
    node = parser.comparison()
    if not parser.done():
        if parser.peek() == ("op", ","):
            raise FeelUnsupported("a list of values belongs in a condition (input) cell; write one value here")
        raise parser.unexpected()
    return node


# -------------------------------------------------------------------------------------------------------
# Evaluation
# -------------------------------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def evaluate(node: Node, variables: Mapping[str, Any]) -> Any:
    """Value of an expression tree against ``variables`` (FEEL semantics; see the module docstring)."""
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        value: Any = variables.get(node[1][0])
        for key in node[1][1:]:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value
    if kind == "compare":
        left, right = evaluate(node[2], variables), evaluate(node[3], variables)
        if node[1] == "=":
            return _equal(left, right)
        if node[1] == "!=":
            equal = _equal(left, right)
            return None if equal is None else not equal
        return _compare(node[1], left, right)
    if kind == "neg":
        operand = evaluate(node[1], variables)
        return -operand if _is_number(operand) else None
    if kind == "arith":
        left, right = evaluate(node[2], variables), evaluate(node[3], variables)
        op = node[1]
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        if not (_is_number(left) and _is_number(right)):
            return None
        if op == "+":
            return _whole(left + right)
        if op == "-":
            return _whole(left - right)
        if op == "*":
            return _whole(left * right)
        return None if right == 0 else _whole(left / right)
    raise ValueError(f"unknown FEEL node {kind!r}")


def _comparable(a: Any, b: Any) -> bool:
    return (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))


def _equal(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return a is None and b is None
    if _comparable(a, b) or (isinstance(a, bool) and isinstance(b, bool)):
        return a == b
    if type(a) is type(b) and isinstance(a, list | dict):
        return a == b
    return None


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if not _comparable(a, b):
        return None
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _positive(node: Node, value: Any, variables: Mapping[str, Any]) -> bool | None:
    kind = node[0]
    if kind == "eq":
        return _equal(value, evaluate(node[1], variables))
    if kind == "cmp":
        return _compare(node[1], value, evaluate(node[2], variables))
    if kind == "range":
        low_closed, high_closed = node[1], node[4]
        low, high = evaluate(node[2], variables), evaluate(node[3], variables)
        above = _compare(">=" if low_closed else ">", value, low)
        below = _compare("<=" if high_closed else "<", value, high)
        if above is None or below is None:
            return None
        return above and below
    raise ValueError(f"unknown FEEL test {kind!r}")


def _any_of(tests: list[Node], value: Any, variables: Mapping[str, Any]) -> bool | None:
    results = [_positive(test, value, variables) for test in tests]
    if any(result is True for result in results):
        return True
    return None if any(result is None for result in results) else False


def matches(node: Node, value: Any, variables: Mapping[str, Any]) -> bool:
    """Does ``value`` (the column's input) pass the unary tests ``node``? ``null`` results do not."""
    kind = node[0]
    if kind == "any":
        return True
    if kind == "any_of":
        return _any_of(node[1], value, variables) is True
    if kind == "not":
        result = _any_of(node[1], value, variables)
        return result is False
    raise ValueError(f"unknown FEEL test {kind!r}")
