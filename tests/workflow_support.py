"""Shared by the workflow tests: the test diagram, its service handler and a small routed region."""

from __future__ import annotations

from pathlib import Path

from webapp.services.runtime import services

DIAGRAMS = Path(__file__).resolve().parent / "web" / "diagrams"
HOURS_REVIEW = DIAGRAMS / "hours_review.bpmn"
#: ``hours`` that make the check handler fail, to exercise incidents.
FAILING_HOURS = 13


def check_hours(call):
    if call.inputs.get("requested") == FAILING_HOURS:
        raise ConnectionError("rule service unreachable")
    return {"hours_ok": call.inputs.get("requested", 0) <= 40}


if "test.check_hours" not in services:
    services.register("test.check_hours", check_hours)


def hours_review_files() -> dict[str, bytes]:
    return {HOURS_REVIEW.name: HOURS_REVIEW.read_bytes()}
