"""Background work that owns its transactions: firing due timers (and, with issue 5, Celery jobs).

Used by ``flask timers tick``, by the embedded ticker of the single-process default (``make run``), and
later by the Celery beat schedule.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask

from webapp.extensions import db
from webapp.models import ServiceJobStatus
from webapp.models.base import utcnow
from webapp.services import instances, service_jobs

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    ticked: int = 0
    fired: int = 0
    #: (instance id, error) of the instances whose timers failed; each became an incident.
    failures: list[tuple[int | None, str]] = field(default_factory=list)


def tick_timers(moment: datetime | None = None) -> TickReport:
    """Fire every timer due at ``moment`` (now), one instance per transaction, each instance once."""
    report, seen = TickReport(), set()
    while True:
        instance = instances.lock_next_due(moment or utcnow(), exclude=seen)
        if instance is None:
            db.session.rollback()
            return report
        seen.add(instance.id)
        report.ticked += 1
        try:
            report.fired += len(instances.fire_due_timers(instance, moment))
            db.session.commit()
        except instances.ActionFailed as failure:
            db.session.rollback()
            instances.record_incident(failure, stop_instance=True)
            db.session.commit()
            report.failures.append((failure.instance_id, str(failure.error)))


def start_embedded_ticker(app: Flask) -> threading.Thread | None:
    """In the single-process default (no Redis), fire due timers every ``TIMER_TICK_SECONDS`` from a thread.

    Started by the first request of a served app, never under tests or CLI commands; with Redis the
    Celery beat schedule does this work instead.
    """
    settings = app.config["YANXUN"]
    interval = settings["TIMER_TICK_SECONDS"]
    if app.testing or settings["REDIS_URL"] or interval <= 0:
        return None
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            try:
                with app.app_context():
                    report = tick_timers()
                    if report.fired or report.failures:
                        log.info("timers: %d fired, %d failed", report.fired, len(report.failures))
            except Exception:  # keep ticking: a database hiccup must not end the ticker for good
                log.exception("embedded timer tick failed")

    thread = threading.Thread(target=run, name="yanxun-timer-ticker", daemon=True)
    thread.start()
    app.extensions["yanxun_ticker"] = (thread, stop)
    return thread


def init_app(app: Flask) -> None:
    started = threading.Lock()

    @app.before_request
    def _ensure_ticker() -> None:
        if "yanxun_ticker" in app.extensions:
            return
        with started:
            if "yanxun_ticker" not in app.extensions:
                app.extensions["yanxun_ticker"] = None  # decided once, whether or not a thread runs
                start_embedded_ticker(app)


# -- service tasks on a worker (async topics) -------------------------------------------------------------------

@dataclass
class ServiceJobReport:
    outcomes: dict[str, int] = field(default_factory=dict)
    #: Jobs queued by the steps these jobs ran (a handler's step can start the next async task): hand them over.
    queued: list[int] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def run_service_job(job_id: int, moment: datetime | None = None) -> str:
    """Run one attempt of job ``job_id`` in its own transaction; returns the outcome.

    A job another worker is running (its row is locked) is skipped; a job that is not due yet is left alone.
    An unexpected error (the database, say) rolls back and counts as a failed attempt, with back-off.
    """
    job = service_jobs.lock_job(job_id)
    if job is None:
        db.session.rollback()
        return service_jobs.Outcome.SKIPPED
    try:
        outcome = service_jobs.attempt(job, moment)
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        log.exception("service job %s failed unexpectedly", job_id)
        _count_crash(job_id, error, moment or utcnow())
        return service_jobs.Outcome.RETRY
    return outcome


def _count_crash(job_id: int, error: Exception, moment: datetime) -> None:
    job = service_jobs.lock_job(job_id)
    if job is not None and job.status is ServiceJobStatus.PENDING:
        job.attempts += 1
        job.last_error = f"{type(error).__name__}: {error}"[:2000]
        job.next_attempt_at = moment + service_jobs.backoff(job.attempts)
    db.session.commit()


def run_due_service_jobs(moment: datetime | None = None, limit: int = 500) -> ServiceJobReport:
    """The sweep: run every pending job that is due (each once per sweep), oldest first."""
    report, seen = ServiceJobReport(), set()
    while len(seen) < limit:
        job = service_jobs.lock_next_due(moment or utcnow(), exclude=seen)
        if job is None:
            db.session.rollback()
            break
        seen.add(job.id)
        db.session.rollback()  # run_service_job locks it again in its own transaction
        report.count(run_service_job(job.id, moment))
    report.queued = service_jobs.take_committed()
    return report
