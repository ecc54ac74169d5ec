"""The sandbox process: where designers' scripts and expressions run, under limits they cannot catch.

This module is both imported (the restricted namespace, the value codec) and run as a program by
:mod:`webapp.engine.budget`, which keeps one such process per worker thread and talks to it over pipes.
It therefore imports nothing of ours: only the standard library and RestrictedPython.

Why a process of its own: a ``while True: pass``, a ``10 ** 10 ** 8`` or a 2 GB string cannot be stopped
from inside the Python process running it (a C-level operation holds the interpreter; a script can catch
any exception we raise into it). Here the caller kills the process when the time is up; the kernel refuses
memory beyond ``RLIMIT_AS`` and ends the process past its CPU allowance (``RLIMIT_CPU``, set anew before
every call); and the process ends itself when its parent is gone.

Protocol: each message is a 4-byte big-endian length and UTF-8 JSON. A request is
``{"op": "eval"|"exec", "src": python_source, "ctx": data, "ext": data, "helpers": {name: "module:attr"},
"cpu": seconds, "max_bytes": n}``; the answer is ``{"ok": true, "value"|"ctx": data}`` or
``{"ok": false, "kind": ..., ...}``. Values travel in the codec below, which rebuilds only plain data
(never arbitrary objects), so a subverted sandbox cannot hand its parent anything but data.
"""

from __future__ import annotations

import importlib
import json
import math
import operator
import os
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time
from decimal import Decimal
from typing import Any
from uuid import UUID

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, limited_builtins, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.PrintCollector import PrintCollector

HEADER = struct.Struct(">I")

# ---------------------------------------------------------------------------------------------------------
# Values: JSON with tags for the non-JSON types task data may hold
# ---------------------------------------------------------------------------------------------------------

_TAG = "\u0000t"


class Unstorable(TypeError):
    """A value that is not plain data (a function, an object, an integer too long to write out...)."""


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data; raises :class:`Unstorable` for anything that is not plain data."""
    kind = type(value)
    if value is None or kind in (bool, str, float):
        return value
    if kind is int:
        if value.bit_length() > 4096:
            raise Unstorable("an integer of more than 4,096 bits")
        return value
    if kind in (list, tuple):
        items = [encode(item) for item in value]
        return items if kind is list else {_TAG: "tuple", "v": items}
    if isinstance(value, dict):
        if all(type(key) is str for key in value) and _TAG not in value:
            return {key: encode(item) for key, item in value.items()}
        return {_TAG: "map", "v": [[encode(key), encode(item)] for key, item in value.items()]}
    if kind in (set, frozenset):
        return {_TAG: kind.__name__, "v": [encode(item) for item in value]}
    if kind is datetime:
        return {_TAG: "datetime", "v": value.isoformat()}
    if kind is date:
        return {_TAG: "date", "v": value.isoformat()}
    if kind is clock_time:
        return {_TAG: "time", "v": value.isoformat()}
    if kind is timedelta:
        return {_TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if kind is Decimal:
        return {_TAG: "decimal", "v": str(value)}
    if kind is UUID:
        return {_TAG: "uuid", "v": str(value)}
    raise Unstorable(f"a value of type {kind.__name__}")


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "tuple": lambda v: tuple(decode(item) for item in v),
    "map": lambda v: {_hashable(decode(key)): decode(item) for key, item in v},
    "set": lambda v: {_hashable(decode(item)) for item in v},
    "frozenset": lambda v: frozenset(_hashable(decode(item)) for item in v),
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": clock_time.fromisoformat,
    "timedelta": lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "decimal": Decimal,
    "uuid": UUID,
}


def _hashable(value: Any) -> Any:
    hash(value)
    return value


def decode(data: Any) -> Any:
    """The value :func:`encode` wrote; anything else (an unknown tag, a wrong shape) raises ValueError."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if isinstance(data, dict):
        tag = data.get(_TAG)
        if tag is None:
            return {key: decode(item) for key, item in data.items()}
        decoder = _DECODERS.get(tag)
        if decoder is None or set(data) != {_TAG, "v"}:
            raise ValueError(f"unknown value tag {tag!r}")
        try:
            return decoder(data["v"])
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"malformed {tag} value") from exc
    return data


def pack(message: Mapping[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(len(body)) + body


# ---------------------------------------------------------------------------------------------------------
# The restricted namespace
# ---------------------------------------------------------------------------------------------------------

class Refused(Exception):
    """Something the sandbox does not allow at run time (``code`` says what)."""

    def __init__(self, message: str, code: str = "expression_forbidden") -> None:
        super().__init__(message)
        self.code = code


_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
            ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    try:
        return _INPLACE[op](target, value)
    except KeyError:
        raise Refused(f"Operator {op!r} is not supported") from None


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _clock_import(name: str, *args: Any, **kwargs: Any) -> Any:
    """``date.today()`` and friends import ``time`` from C through the caller's builtins; nothing else may."""
    if name == "time":
        return time
    raise Refused(f"Importing {name!r} is not allowed")


def juel_empty(value: Any) -> bool:
    """JUEL's ``empty``: null, or an empty string, list or map."""
    return value is None or (isinstance(value, str | list | tuple | dict | set | frozenset) and len(value) == 0)


_EXTRA_BUILTINS: dict[str, Any] = {
    "__import__": _clock_import,
    "dict": dict, "min": min, "max": max, "sum": sum, "sorted": sorted, "any": any, "all": all,
    "enumerate": enumerate, "zip": zip, "reversed": reversed, "map": map, "filter": filter,
    "set": set, "frozenset": frozenset, "math": math,
    "date": date, "datetime": datetime, "timedelta": timedelta, "timezone": timezone,
    "juel_empty": juel_empty,
}


def restricted_globals(helpers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The globals every script and expression runs with; ``helpers`` become builtins (so data shadows them)."""
    return {
        "__builtins__": {**safe_builtins, **limited_builtins, **_EXTRA_BUILTINS, **(helpers or {})},
        "_getattr_": safer_getattr_raise,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_apply_": _apply,
        "_print_": PrintCollector,
    }


# ---------------------------------------------------------------------------------------------------------
# Running one request (in the sandbox process)
# ---------------------------------------------------------------------------------------------------------

_helper_cache: dict[str, Any] = {}
_code_cache: dict[tuple[str, str], Any] = {}


def _helper(spec: str) -> Any:
    if spec not in _helper_cache:
        module, _, attribute = spec.partition(":")
        _helper_cache[spec] = getattr(importlib.import_module(module), attribute)
    return _helper_cache[spec]


def _compiled(op: str, source: str) -> Any:
    key = (op, source)
    code = _code_cache.get(key)
    if code is None:
        result = (compile_restricted_eval if op == "eval" else compile_restricted_exec)(source, f"<{_FILE[op]}>")
        if result.errors:
            raise Refused("; ".join(result.errors), code="expression_syntax")
        if len(_code_cache) > 2048:
            _code_cache.clear()
        code = _code_cache[key] = result.code
    return code


_FILE = {"eval": "expression", "exec": "script"}


def _script_line(exc: BaseException) -> int | None:
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == "<script>"]
    return lines[-1] if lines else None


def run(request: Mapping[str, Any]) -> dict[str, Any]:
    """Answer one request (see the module docstring); never raises for anything the code does."""
    op = request["op"]
    helpers = {name: _helper(spec) for name, spec in (request.get("helpers") or {}).items()}
    namespace = restricted_globals(helpers)
    try:
        context, external = decode(request["ctx"]), decode(request.get("ext") or {})
        code = _compiled(op, request["src"])
    except Refused as exc:
        return {"ok": False, "kind": "refused", "code": exc.code, "message": str(exc)}
    try:
        if op == "eval":
            value = eval(code, {**namespace, **external, **context})  # noqa: S307 - restricted code, guarded globals
            return _answer({"ok": True, "value": value}, "value")
        overwrites = sorted(set(namespace).union(external).intersection(context))
        if overwrites:
            raise ValueError("You have task data that overwrites a predefined function(s). Please change the "
                             f"following variable or field name(s) to something else: {set(overwrites)}")
        scope = {**context, **namespace, **external}
        exec(code, scope)  # noqa: S102 - restricted code, guarded globals
        data = {key: item for key, item in scope.items()
                if key not in namespace and key not in external and key != "_print" and not callable(item)}
        return _answer({"ok": True, "ctx": data}, "ctx")
    except MemoryError:
        return {"ok": False, "kind": "memory"}
    except Refused as exc:
        return {"ok": False, "kind": "refused", "code": exc.code, "message": str(exc)}
    except NameError as exc:
        if op == "eval":
            return {"ok": False, "kind": "name", "name": exc.name or str(exc)}
        return _failure(exc, op)
    except KeyError as exc:
        if op == "eval":
            return {"ok": False, "kind": "key", "key": str(exc.args[0]) if exc.args else "?"}
        return _failure(exc, op)
    except Exception as exc:
        return _failure(exc, op)


def _failure(exc: BaseException, op: str) -> dict[str, Any]:
    return {"ok": False, "kind": "error", "type": type(exc).__name__, "message": str(exc)[:2000],
            "line": _script_line(exc) if op == "exec" else None}


def _answer(answer: dict[str, Any], field: str) -> dict[str, Any]:
    try:
        answer[field] = encode(answer[field])
    except (Unstorable, RecursionError) as exc:
        return {"ok": False, "kind": "unstorable", "message": str(exc)}
    return answer


# ---------------------------------------------------------------------------------------------------------
# The process
# ---------------------------------------------------------------------------------------------------------

def _read_exactly(stream: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _watch_parent(parent: int) -> None:
    """End this process when the one that started it is gone (we would otherwise spin on as an orphan)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(3)


def _limit_memory(megabytes: int) -> None:
    import resource

    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[0])
    current = pages * os.sysconf("SC_PAGE_SIZE")
    limit = current + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _limit_cpu(seconds: float) -> None:
    """Allow this process ``seconds`` more CPU time; the kernel ends it (SIGXCPU) past that."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = math.ceil(used + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def main(argv: list[str]) -> int:
    """``sandbox.py PARENT_PID MEMORY_MB``: answer requests on stdin/stdout until stdin closes."""
    parent, memory_mb = int(argv[1]), int(argv[2])
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    if memory_mb > 0:
        _limit_memory(memory_mb)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers goes to the parent's pipe
    while True:
        try:
            (size,) = HEADER.unpack(_read_exactly(stdin, HEADER.size))
            request = json.loads(_read_exactly(stdin, size))
        except EOFError:
            return 0
        _limit_cpu(float(request.get("cpu") or 60))
        answer = run(request)
        message = pack(answer)
        if len(message) > int(request.get("max_bytes") or sys.maxsize):
            message = pack({"ok": False, "kind": "too_large", "bytes": len(message)})
        stdout.write(message)
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
