"""What the deploy check can prove about a script or expression: that it would never end, or never fit.

The step budget stops everything at run time; this refuses, at deploy and naming the line, the cases that
need no running to be sure of: a ``while True`` that nothing leaves, a power of constants far too large to
compute (``10 ** 10 ** 8``), and a constant repetition of gigabytes (``"x" * 10 ** 10``).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

#: Largest constant result the check lets through: 100,000 bits (about 30,000 digits).
MAX_CONSTANT_BITS = 100_000
#: Largest constant repetition of a sequence literal (items or characters).
MAX_REPEAT = 50_000_000


@dataclass(frozen=True)
class Unbounded:
    line: int
    why: str


def unbounded(tree: ast.AST) -> Unbounded | None:
    """The first construct in ``tree`` that provably never ends or cannot fit, if any."""
    for node in ast.walk(tree):
        if isinstance(node, ast.While) and _always_true(node.test) and not _leaves(node.body):
            return Unbounded(node.lineno, "this 'while' loop never ends: its condition is always true and nothing "
                                          "in it leaves the loop (break, return or raise)")
        if isinstance(node, ast.BinOp):
            problem = _constant_problem(node)
            if problem:
                return Unbounded(node.lineno, problem)
    return None


def _always_true(test: ast.expr) -> bool:
    return isinstance(test, ast.Constant) and bool(test.value)


def _leaves(body: list[ast.stmt]) -> bool:
    """Does any statement of ``body`` break, return or raise (a break inside a nested loop leaves only that)?"""
    return any(_exits(statement) for statement in body)


def _exits(node: ast.AST) -> bool:
    if isinstance(node, ast.Break | ast.Return | ast.Raise):
        return True
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
        return False
    if isinstance(node, ast.While | ast.For | ast.AsyncFor):
        return any(isinstance(inner, ast.Return | ast.Raise) for inner in ast.walk(node))
    return any(_exits(child) for child in ast.iter_child_nodes(node))


def _constant_problem(node: ast.BinOp) -> str | None:
    if isinstance(node.op, ast.Pow):
        base, exponent = _magnitude(node.left), _magnitude(node.right)
        if base is not None and exponent is not None and base > 1 and exponent * math.log2(base) > MAX_CONSTANT_BITS:
            return "this power of constants is far too large to compute"
    if isinstance(node.op, ast.Mult):
        for sequence, count in ((node.left, node.right), (node.right, node.left)):
            times = _magnitude(count)
            if isinstance(sequence, ast.Constant) and isinstance(sequence.value, str | bytes):
                size = len(sequence.value)
            elif isinstance(sequence, ast.List | ast.Tuple):
                size = len(sequence.elts)
            else:
                continue
            if times is not None and size * times > MAX_REPEAT:
                return "this repetition builds a value far too large to keep"
    return None


def _magnitude(node: ast.expr) -> float | None:
    """The absolute value of a constant integer expression (+, *, ** of integer literals), or None."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return float(abs(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _magnitude(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow | ast.Mult | ast.Add):
        left, right = _magnitude(node.left), _magnitude(node.right)
        if left is None or right is None:
            return None
        try:
            if isinstance(node.op, ast.Pow):
                return math.inf if left > 1 and right * math.log2(left) > 1000 else left ** right
            return left * right if isinstance(node.op, ast.Mult) else left + right
        except OverflowError:
            return math.inf
    return None
