"""The background jobs' time limits as the services and jobs see them.

With Redis, Celery asks a job to stop at ``YANXUN_JOB_SOFT_TIME_LIMIT_SECONDS`` by raising
:class:`~celery.exceptions.SoftTimeLimitExceeded` in it (an ``Exception``), and kills its process at
``YANXUN_JOB_TIME_LIMIT_SECONDS``. The engine turns every exception of a step into its own error, the soft
limit included (it stays the cause): :func:`exceeded` finds it again, so that a job ends instead of going on
as if one step had merely failed.
"""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

#: The ``code`` of an incident recorded because a job ran out of time on an instance.
TIME_LIMIT = "time_limit"


def exceeded(error: BaseException | None) -> SoftTimeLimitExceeded | None:
    """The soft time limit that ``error`` is, or was caused by (however the engine wrapped it), or None."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, SoftTimeLimitExceeded):
            return current
        seen.add(id(current))
        # ``original``: the engine's EngineIncident; ``error``: instances.ActionFailed.
        pending += [current.__cause__, current.__context__, getattr(current, "original", None),
                    getattr(current, "error", None)]
    return None


def soft_limit_seconds() -> int:
    return int(current_app.config["YANXUN"]["JOB_SOFT_TIME_LIMIT_SECONDS"])


def hard_limit_seconds() -> int:
    return int(current_app.config["YANXUN"]["JOB_TIME_LIMIT_SECONDS"])
