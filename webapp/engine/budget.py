"""The budget of an engine step: how long designers' code may run, how much memory and data it may use.

:class:`Limits` are the settings (the app passes ``YANXUN_ENGINE_*`` to the runtime). :func:`action`
opens one step's budget: every script and expression evaluated inside it shares one deadline, and the
engine may complete at most ``max_steps`` tasks. :class:`SandboxPool` runs the code in sandbox processes
(:mod:`webapp.engine.sandbox`) and kills one whose time is up; nothing the code does can catch that.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import sandbox
from .errors import EngineIncident


@dataclass(frozen=True)
class Limits:
    """``seconds``: wall-clock time for all designers' code of one step; ``memory_mb``: what a sandbox
    process may allocate beyond its own start; ``data_kb``: the largest data a script may hand back;
    ``max_steps``: how many tasks the engine may complete in one step (an automatic loop ends there)."""

    seconds: float = 5.0
    memory_mb: int = 256
    data_kb: int = 2048
    max_steps: int = 1000


class BudgetExceeded(EngineIncident):
    """A step used up its time, memory, data or steps (``code``: ``budget_time``, ``budget_memory``,
    ``budget_data``, ``budget_steps``). The step rolls back; the element is named as for any incident."""


_deadline: ContextVar[float | None] = ContextVar("yanxun_engine_deadline", default=None)


@contextmanager
def action(limits: Limits) -> Iterator[None]:
    """One step's budget (a step nested in another shares the outer one)."""
    if _deadline.get() is not None:
        yield
        return
    token = _deadline.set(time.monotonic() + limits.seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining(limits: Limits) -> float:
    """Seconds left in the current step (the whole budget outside one)."""
    deadline = _deadline.get()
    return limits.seconds if deadline is None else deadline - time.monotonic()


def time_exceeded(limits: Limits) -> BudgetExceeded:
    return BudgetExceeded(f"The step ran longer than its budget of {limits.seconds:g} s of script and expression "
                          "time (an endless loop, or far too much work for one step)", code="budget_time")


class _Process:
    """One sandbox process and its pipes; used by one thread at a time."""

    def __init__(self, memory_mb: int) -> None:
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
            # -P: the engine's folder is not put on the path (its modules must not shadow the standard ones)
            [sys.executable, "-P", str(Path(sandbox.__file__)), str(os.getpid()), str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
            start_new_session=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))})
        self.memory_mb = memory_mb

    def kill(self) -> None:
        with suppress(OSError):
            self.popen.kill()
        self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()

    def call(self, request: Mapping[str, Any], timeout: float, max_bytes: int) -> dict[str, Any] | None:
        """The answer, or None when the time ran out or the process died (then it is dead: discard it)."""
        deadline = time.monotonic() + timeout
        try:
            self.popen.stdin.write(sandbox.pack(request))
            self.popen.stdin.flush()
            (size,) = sandbox.HEADER.unpack(self._read(sandbox.HEADER.size, deadline))
            if size > max_bytes + 1024:
                return None
            return json.loads(self._read(size, deadline))
        except (OSError, EOFError, TimeoutError, ValueError):
            return None

    def _read(self, size: int, deadline: float) -> bytes:
        fd = self.popen.stdout.fileno()
        data = b""
        while len(data) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data


class SandboxPool:
    """Sandbox processes of this (OS) process, started when first needed and kept for reuse.

    A process is handed to one call at a time; one whose call ran out of time, ran out of memory or died is
    killed and replaced. After a fork (Celery and gunicorn workers) the child starts its own.
    """

    def __init__(self, keep: int = 4) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Process] = []
        self._pid = os.getpid()
        self._keep = keep

    def call(self, request: Mapping[str, Any], limits: Limits) -> dict[str, Any]:
        timeout = remaining(limits)
        if timeout <= 0:
            raise time_exceeded(limits)
        process = self._take(limits.memory_mb)
        max_bytes = limits.data_kb * 1024
        try:
            answer = process.call({**request, "cpu": timeout, "max_bytes": max_bytes}, timeout, max_bytes)
        except BaseException:  # a job's soft time limit (or Ctrl-C) while waiting: the sandbox must not go on
            process.kill()
            raise
        if answer is None:
            process.kill()
            if remaining(limits) <= 0.05 or process.popen.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
                raise time_exceeded(limits)
            raise BudgetExceeded("The script or expression was stopped: its sandbox ended unexpectedly "
                                 f"(exit status {process.popen.returncode})", code="budget_memory")
        if answer.get("kind") == "memory":
            process.kill()  # a process that ran out of memory may be left in a poor state
        else:
            self._give_back(process)
        return answer

    def _take(self, memory_mb: int) -> _Process:
        with self._lock:
            if self._pid != os.getpid():  # forked: those processes belong to the parent
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                process = self._idle.pop()
                if process.popen.poll() is None and process.memory_mb == memory_mb:
                    return process
                process.kill()
        return _Process(memory_mb)

    def _give_back(self, process: _Process) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self._keep:
                self._idle.append(process)
                return
        process.kill()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for process in idle:
            process.kill()


#: The sandbox processes of this process (shared by every runtime in it).
pool = SandboxPool()
atexit.register(pool.close)
