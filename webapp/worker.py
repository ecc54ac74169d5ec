"""The Celery entry point: ``celery -A webapp.worker worker`` runs the jobs, ``celery -A webapp.worker beat``
sends the periodic ones (timers, the notification sweep, the daily digest).

Both build the app from the ``YANXUN_*`` environment like the web processes, and need ``YANXUN_REDIS_URL``
(without Redis, the single-process default runs every job itself).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool

from webapp import create_app
from webapp.config import ConfigError

# SpiffWorkflow logs every task state change at INFO; with ``--loglevel=info`` that would bury the jobs' own
# lines (a fired reminder alone is a dozen). Its warnings and errors still show.
logging.getLogger("spiff").setLevel(logging.WARNING)

#: Not called ``app``: Celery's ``-A`` looks for an attribute of that name first and would find Flask's.
flask_app = create_app()
if not flask_app.config["YANXUN"]["REDIS_URL"]:
    raise ConfigError("Celery workers and beat need YANXUN_REDIS_URL (e.g. redis://127.0.0.1:6379/0); without "
                      "Redis the web process runs the jobs itself.")
celery = flask_app.extensions["celery"]


@signals.worker_init.connect
def _require_prefork_pool(sender: Any, **kwargs: Any) -> None:
    """Refuse to run the jobs in a pool that does not enforce the time limits.

    Only the prefork pool (the default) enforces YANXUN_JOB_SOFT_TIME_LIMIT_SECONDS and
    YANXUN_JOB_TIME_LIMIT_SECONDS: ``--pool=solo`` and ``--pool=threads`` accept them and then let a job that
    never ends run on, holding its database locks (eventlet and gevent have no hard limit).
    """
    pool = get_implementation(sender.pool_cls)
    if not (isinstance(pool, type) and issubclass(pool, PreforkPool)):
        # SystemExit: Celery logs and ignores the exceptions of signal handlers.
        raise SystemExit(f"YanXun workers run with the prefork pool (the default), not {pool.__module__}: only "
                         "it enforces YANXUN_JOB_SOFT_TIME_LIMIT_SECONDS and YANXUN_JOB_TIME_LIMIT_SECONDS.")
