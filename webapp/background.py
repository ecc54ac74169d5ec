"""Celery bound to Flask: the queue's settings, the beat schedule, the jobs and how the web app hands them over.

``create_app`` calls :func:`init_app`, so every app has its Celery app in ``app.extensions["celery"]``;
``webapp.worker`` exposes it to ``celery -A webapp.worker worker`` and ``... beat``. With ``REDIS_URL`` jobs
travel through Redis to the workers; without it (the embedded default) they run in-process at once (eager),
and the embedded ticker of :mod:`webapp.jobs` fires the timers.

Jobs take ids and plain values only (JSON). Each one is a thin call into :mod:`webapp.jobs`, which owns
the transactions; :class:`AppContextTask` gives it an app context and always hands the session back.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import kombu.exceptions
import redis
from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.schedules import crontab
from flask import Flask, Response

from webapp import jobs
from webapp.extensions import db
from webapp.services import service_queue

log = logging.getLogger(__name__)

#: The jobs' names: beat, docker-compose and the topology tests refer to them.
TICK_TIMERS = "yanxun.tick_timers"
DELIVER_NOTIFICATIONS = "yanxun.deliver_notifications"
DAILY_DIGEST = "yanxun.daily_digest"
#: One attempt of an async service task's handler (``job_id``), and the sweep of every due attempt.
RUN_SERVICE_JOB = "yanxun.run_service_job"
RUN_SERVICE_JOBS = "yanxun.run_service_jobs"
#: The minutes of the digest hour at which the digest job is sent.
DIGEST_MINUTES = "0,15,30,45"
#: A CSV import (``job_id``), and the sweep of imports nobody is working on.
RUN_IMPORT = "yanxun.run_import"
RUN_IMPORTS = "yanxun.run_imports"
#: A campaign's background work (``campaign_id``, ``mode``: start, extend or close), and the sweep of what was cut
#: short.
LAUNCH_CAMPAIGN = "yanxun.launch_campaign"
RUN_CAMPAIGNS = "yanxun.run_campaigns"
#: Every teacher's standing recomputed (``credit_standing``), daily at this time (the local time zone).
REFRESH_STANDINGS = "yanxun.refresh_standings"
STANDINGS_AT = {"hour": 2, "minute": 30}

#: How the web app hands jobs over: when Redis cannot be reached it gives up after one attempt of at most a
#: second, and the periodic sweeps catch up once Redis is back. (Workers and beat keep Celery's retries.)
FAIL_FAST = {"max_retries": 0, "socket_connect_timeout": 1.0, "socket_timeout": 5.0}
_BROKER_DOWN = (kombu.exceptions.OperationalError, redis.RedisError, OSError)


def celery_settings(app: Flask) -> dict[str, Any]:
    """Celery's configuration, from our settings."""
    settings = app.config["YANXUN"]
    redis_url = settings["REDIS_URL"]
    return {
        "broker_url": redis_url or "memory://",
        "broker_connection_retry_on_startup": True,
        "task_publish_retry": False,
        "task_always_eager": not redis_url,
        "task_eager_propagates": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # A job is acknowledged when it has finished, and given back to the queue when its worker dies or loses
        # Redis, so nothing is lost; the jobs themselves make running twice harmless (row locks, claims).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings["JOB_SOFT_TIME_LIMIT_SECONDS"],
        "task_time_limit": settings["JOB_TIME_LIMIT_SECONDS"],
        "timezone": settings["TIMEZONE"],
        "enable_utc": True,
        "beat_schedule": beat_schedule(settings),
        # The instance folder is writable in every deployment (a volume in docker-compose).
        "beat_schedule_filename": str(Path(app.instance_path) / "celerybeat-schedule"),
    }


def beat_schedule(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What beat sends and when; a message not taken before its next one is due expires (no pile-up)."""
    schedule: dict[str, dict[str, Any]] = {}
    tick, sweep, hour = settings["TIMER_TICK_SECONDS"], settings["NOTIFICATION_SWEEP_SECONDS"], settings["DIGEST_HOUR"]
    if tick:
        schedule["tick-timers"] = {"task": TICK_TIMERS, "schedule": float(tick), "options": {"expires": tick}}
        # Retries after back-off, and jobs whose message was lost with Redis, are picked up on the same beat.
        schedule["run-service-jobs"] = {"task": RUN_SERVICE_JOBS, "schedule": float(tick),
                                        "options": {"expires": tick}}
        schedule["run-imports"] = {"task": RUN_IMPORTS, "schedule": float(tick), "options": {"expires": tick}}
        schedule["run-campaigns"] = {"task": RUN_CAMPAIGNS, "schedule": float(tick), "options": {"expires": tick}}
    if sweep:
        schedule["deliver-notifications"] = {"task": DELIVER_NOTIFICATIONS, "schedule": float(sweep),
                                             "options": {"expires": sweep}}
    # Period roll-over, hire anniversaries, role and attribute changes reach the overviews by the next morning.
    schedule["refresh-standings"] = {"task": REFRESH_STANDINGS, "schedule": crontab(**STANDINGS_AT),
                                     "options": {"expires": 3600}}
    if hour is not None:
        # Every quarter of an hour during the digest hour: a run cut short (mail server down, Redis blip) is
        # taken up by the next one; the day's claim per person keeps it to one email each.
        schedule["daily-digest"] = {"task": DAILY_DIGEST, "schedule": crontab(minute=DIGEST_MINUTES, hour=hour),
                                    "options": {"expires": 900}}
    return schedule


def init_app(app: Flask) -> Celery:
    class AppContextTask(Task):
        """Runs the job inside ``app``'s context; the session is rolled back on failure and always removed."""

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                except BaseException:
                    db.session.rollback()
                    raise
                finally:
                    db.session.remove()

    celery = Celery(app.import_name, task_cls=AppContextTask)
    celery.conf.update(celery_settings(app))
    _register_jobs(app, celery)
    app.extensions["celery"] = celery

    @app.after_request
    def _dispatch_service_jobs(response: Response) -> Response:
        """Service jobs this request committed go to the workers once the response is sent."""
        queued = service_queue.take_committed()
        if queued:
            response.call_on_close(partial(dispatch_service_jobs, app, queued))
        return response

    return celery


def dispatch_service_jobs(app: Flask, job_ids: list[int]) -> None:
    """Hand each service job to the workers (or, without Redis, run it now); never raises.

    A job that cannot be handed over (Redis down) stays pending in the database: the sweep runs it.
    """
    for job_id in job_ids:
        enqueue(app, RUN_SERVICE_JOB, job_id=job_id)


def _register_jobs(app: Flask, celery: Celery) -> None:
    def budget() -> float:
        """How long a job that works through a list may go on: well inside the soft time limit."""
        return celery.conf.task_soft_time_limit / 2

    def dispatch_queued() -> None:
        """Jobs queued by the steps this job ran (a timer or handler can start an async task)."""
        queued = service_queue.take_committed()
        if queued:
            dispatch_service_jobs(app, queued)

    # Which instance each tick, and which service job each attempt, is working on (see webapp.jobs.Journal).
    eager = celery.conf.task_always_eager
    timer_journal = None if eager else RedisJournal(celery.conf.broker_url, "timers")
    service_journal = None if eager else RedisJournal(celery.conf.broker_url, "service_jobs")

    @celery.task(name=TICK_TIMERS, shared=False)
    def tick_timers() -> dict[str, int]:
        try:
            report = jobs.tick_timers(budget_seconds=budget(), journal=timer_journal)
        finally:  # also when the time limit ended the tick: what it committed is handed over
            dispatch_queued()
        if report.more:  # a backlog (after downtime): go on in a fresh job rather than hit the time limit
            enqueue(app, TICK_TIMERS)
        return {"ticked": report.ticked, "fired": report.fired, "failed": len(report.failures)}

    @celery.task(name=RUN_SERVICE_JOB, shared=False)
    def run_service_job(job_id: int) -> str:
        outcome = jobs.run_service_job(job_id, journal=service_journal)
        dispatch_queued()
        return str(outcome)

    @celery.task(name=RUN_IMPORT, shared=False)
    def run_import(job_id: int) -> str:
        outcome = jobs.run_import(job_id, budget_seconds=budget())
        if outcome == "continue":
            enqueue(app, RUN_IMPORT, job_id=job_id)
        return outcome

    @celery.task(name=RUN_IMPORTS, shared=False)
    def run_imports() -> int:
        # Each its own job, with its own time budget (one large import must not hold up the others).
        job_ids = jobs.pending_imports()
        for job_id in job_ids:
            enqueue(app, RUN_IMPORT, job_id=job_id)
        return len(job_ids)

    @celery.task(name=LAUNCH_CAMPAIGN, shared=False)
    def launch_campaign(campaign_id: int, mode: str = "start", after_id: int = 0) -> str:
        outcome, last = jobs.run_campaign(campaign_id, mode, after_id=after_id, budget_seconds=budget())
        dispatch_queued()  # a started instance may have reached an async service task
        if outcome == "continue":
            enqueue(app, LAUNCH_CAMPAIGN, campaign_id=campaign_id, mode=mode, after_id=last)
        return outcome

    @celery.task(name=RUN_CAMPAIGNS, shared=False)
    def run_campaigns() -> int:
        work = jobs.pending_campaigns()
        for campaign_id, mode in work:
            enqueue(app, LAUNCH_CAMPAIGN, campaign_id=campaign_id, mode=mode)
        return len(work)

    @celery.task(name=RUN_SERVICE_JOBS, shared=False)
    def run_service_jobs() -> dict[str, int]:
        report = jobs.run_due_service_jobs(budget_seconds=budget(), journal=service_journal)
        if report.queued:
            dispatch_service_jobs(app, report.queued)
        if report.more:
            enqueue(app, RUN_SERVICE_JOBS)
        return report.outcomes

    @celery.task(name=REFRESH_STANDINGS, shared=False)
    def refresh_standings(after_id: int = 0, started: str | None = None) -> dict[str, int]:
        report = jobs.refresh_standings(after_id=after_id, started=started, budget_seconds=budget())
        if report.resume_after is not None:  # a city takes minutes: go on in a fresh job
            enqueue(app, REFRESH_STANDINGS, after_id=report.resume_after, started=report.started)
        return {"teachers": report.teachers, "pruned": report.pruned}

    @celery.task(name=DELIVER_NOTIFICATIONS, shared=False)
    def deliver_notifications(limit: int | None = None) -> dict[str, int]:
        report = jobs.deliver_notifications(limit)
        return {"sent": report.sent, "failed": report.failed}

    @celery.task(name=DAILY_DIGEST, shared=False)
    def daily_digest(after_id: int = 0) -> dict[str, int]:
        report = jobs.send_daily_digests(after_id=after_id, budget_seconds=budget())
        if report.resume_after is not None:
            enqueue(app, DAILY_DIGEST, after_id=report.resume_after)
        return {"sent": report.sent, "failed": report.failed, "skipped": report.skipped}


class RedisJournal:
    """:class:`webapp.jobs.Journal` in a Redis hash beside the queue (id -> times begun and not finished).

    A job killed at the hard time limit cannot record anything in the database (its transaction rolls back);
    this is what the next job learns it from. Redis trouble never fails a job: the journal is then simply not
    kept (work cut off meanwhile goes unnoticed, as it did before there was a journal).
    """

    #: Entries are dropped after a day without any work beginning.
    TTL_SECONDS = 86400

    def __init__(self, url: str, name: str) -> None:
        self.key = f"yanxun:unfinished:{name}"
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=5.0)

    def unfinished(self) -> dict[int, int]:
        try:
            return {int(key): int(value) for key, value in self.redis.hgetall(self.key).items()}
        except redis.RedisError as error:
            log.warning("journal %s unavailable (%s)", self.key, error)
            return {}

    def begin(self, key: int) -> int:
        try:
            with self.redis.pipeline() as pipe:
                count, _ = pipe.hincrby(self.key, str(key), 1).expire(self.key, self.TTL_SECONDS).execute()
            return int(count)
        except redis.RedisError as error:
            log.warning("journal %s unavailable (%s)", self.key, error)
            return 1

    def end(self, key: int) -> None:
        try:
            self.redis.hdel(self.key, str(key))
        except redis.RedisError as error:
            log.warning("journal %s unavailable (%s)", self.key, error)


def enqueue(app: Flask, name: str, **arguments: Any) -> bool:
    """Hand job ``name`` to the workers (with Redis) or run it now (without); False when that failed.

    Never raises, so it is safe after a response: an unreachable Redis costs one failed connection attempt
    (:data:`FAIL_FAST`) and a warning, and the beat schedule's sweep does the work later.
    """
    celery: Celery = app.extensions["celery"]
    task = celery.tasks[name]
    try:
        if celery.conf.task_always_eager:
            with jobs.embedded_work:  # in turn with the embedded ticker (see there)
                task.apply_async(kwargs=arguments)
        else:
            with celery.connection_for_write(transport_options=FAIL_FAST) as connection:
                task.apply_async(kwargs=arguments, connection=connection, retry=False)
    except SoftTimeLimitExceeded:  # the calling job's time is up: that job ends, it is not a queueing problem
        raise
    except Exception as error:
        if celery.conf.task_always_eager or not isinstance(error, _BROKER_DOWN):
            log.exception("job %s failed", name)
        else:
            log.warning("could not queue %s, Redis is unreachable (%s); the periodic sweep will catch up", name, error)
        return False
    return True
