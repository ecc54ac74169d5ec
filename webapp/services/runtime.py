"""The process-wide workflow runtime and the registry of service-task handlers.

Process packages register their topics on :data:`services` when the app registers them; the deploy lint
rejects any topic nobody registered. The runtime caches restored specs per definition, so it lives as
long as the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from webapp.engine import Limits, ServiceRegistry, WorkflowRuntime

#: Service-task topics this application handles.
services = ServiceRegistry()


@cache
def get_runtime() -> WorkflowRuntime:
    return WorkflowRuntime(services)


def configure(settings: Mapping[str, Any]) -> None:
    """Give the runtime the step budget of ``settings`` (``YANXUN_ENGINE_*``)."""
    # A step never gets more than half a job's soft time limit: the budget, not the job limit, ends a loop.
    seconds = min(float(settings["ENGINE_STEP_SECONDS"]), settings["JOB_SOFT_TIME_LIMIT_SECONDS"] / 2)
    get_runtime().limits = Limits(seconds=seconds, memory_mb=settings["ENGINE_MEMORY_MB"],
                                  data_kb=settings["ENGINE_DATA_KB"], max_steps=settings["ENGINE_MAX_STEPS"])
