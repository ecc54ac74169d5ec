"""Engine tests: plain pytest, no Flask, nothing from the rest of the app.

Diagrams under ``diagrams/`` are Camunda Modeler 5 files (Camunda Platform 7 namespaces, full DI).
"""

from __future__ import annotations

import pytest

from webapp.engine import ServiceRegistry, WorkflowRuntime


@pytest.fixture
def registry() -> ServiceRegistry:
    return ServiceRegistry()


@pytest.fixture
def runtime(registry: ServiceRegistry) -> WorkflowRuntime:
    return WorkflowRuntime(registry)
