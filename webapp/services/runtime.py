"""The process-wide workflow runtime and the registry of service-task handlers.

Feature modules register their topics on :data:`services` when they are imported; the deploy lint
rejects any topic nobody registered. The runtime caches restored specs per definition, so it lives as
long as the process.
"""

from __future__ import annotations

from functools import cache

from webapp.engine import ServiceRegistry, WorkflowRuntime

#: Service-task topics this application handles.
services = ServiceRegistry()


@cache
def get_runtime() -> WorkflowRuntime:
    from webapp.services import credit_handlers  # noqa: F401  (registers the credit.* topics)

    return WorkflowRuntime(services)
