"""Service tasks whose handlers run on a worker (async topics): queue, attempt, retry with back-off, give up.

The engine leaves an async service task STARTED. ``service_queue.queue_started`` (called by
``instances.sync_tasks``) writes a :class:`ServiceJob` row for it in the same transaction, so the job survives a
broker outage; after the commit the row's id is handed to the job queue (``webapp.background``), and the
periodic sweep runs any row whose message never arrived. :func:`attempt` runs the handler once on the locked
instance: success moves the instance on; a failure is rolled back to before the call and the job is due again
after a back-off (``SERVICE_RETRY_SECONDS`` × 2^(attempt−1), at most an hour); after ``SERVICE_MAX_ATTEMPTS``
the engine task goes to ERROR and an incident is opened, which an administrator can retry (:func:`retry_incident`).

Like every service this module flushes and never commits; the job functions in ``webapp.jobs`` own the
transactions.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from contextlib import suppress
from datetime import datetime, timedelta
from types import EllipsisType

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from webapp.engine import ServiceFailed, TaskRefused
from webapp.extensions import db
from webapp.models import Incident, InstanceStatus, ProcessInstance, ServiceJob, ServiceJobStatus, User
from webapp.models.base import utcnow
from webapp.services import after_commit, audit, instances, service_queue, time_limits
from webapp.services.errors import Conflict, NotFound

MAX_BACKOFF = timedelta(hours=1)


class Outcome(enum.StrEnum):
    DONE = "done"
    RETRY = "retry"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # not pending, or not due yet


def max_attempts() -> int:
    return int(current_app.config["YANXUN"]["SERVICE_MAX_ATTEMPTS"])


def backoff(attempt: int) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1, 2, ...)."""
    base = int(current_app.config["YANXUN"]["SERVICE_RETRY_SECONDS"])
    return min(timedelta(seconds=base * 2 ** max(0, attempt - 1)), MAX_BACKOFF)


# -- attempts (the job layer calls these inside its own transaction) ------------------------------------------

def lock_job(job_id: int) -> ServiceJob | None:
    """The job row, locked; None if another worker holds it (it is being run) or it does not exist."""
    return db.session.scalar(sa.select(ServiceJob).where(ServiceJob.id == job_id)
                             .with_for_update(skip_locked=True).execution_options(populate_existing=True))


def lock_next_due(now: datetime, exclude: Collection[int] = ()) -> ServiceJob | None:
    """The pending job due earliest, locked; jobs locked by other workers are skipped."""
    query = (sa.select(ServiceJob).where(ServiceJob.status == ServiceJobStatus.PENDING,
                                         ServiceJob.next_attempt_at <= now)
             .order_by(ServiceJob.next_attempt_at, ServiceJob.id).limit(1))
    if exclude:
        query = query.where(ServiceJob.id.not_in(list(exclude)))
    return db.session.scalar(query.with_for_update(skip_locked=True).execution_options(populate_existing=True))


def attempt(job: ServiceJob, now: datetime | None = None) -> Outcome:
    """Run ``job``'s handler once (``job`` locked by the caller). Never raises for a handler failure, except
    the job's soft time limit (``SoftTimeLimitExceeded``, however the engine wrapped it): the caller rolls
    back, counts the attempt as failed (:func:`count_crash`) and ends the job.

    Two halves: the handler runs without the instance's lock (a slow handler must not block the people
    working on the instance), then its result is stored and the process run on under the lock. A failing
    handler is retried with back-off; when the process cannot take the result (a gateway without a matching
    flow, say), re-running the handler would not help: the job fails at once with an incident.
    """
    moment = now or utcnow()
    if job.status is not ServiceJobStatus.PENDING or job.next_attempt_at > moment:
        return Outcome.SKIPPED
    instance = db.session.get(ProcessInstance, job.instance_id, populate_existing=True)
    if instance is None or instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED):
        return _cancel(job, moment)
    if instance.status in (InstanceStatus.INCIDENT, InstanceStatus.SUSPENDED):  # wait until it runs again
        if not instances.waiting_service_task(instance, job.task_guid):
            return _cancel(job, moment)
        job.next_attempt_at = moment + backoff(1)
        db.session.flush()
        return Outcome.SKIPPED
    both = db.session.begin_nested()
    try:
        result = instances.call_service_handler(instance, job.task_guid)
    except TaskRefused:  # the task no longer waits for a worker (cancelled by a boundary event, say)
        both.rollback()
        return _cancel(job, moment)
    except instances.ActionFailed as failure:
        both.rollback()
        if (limit := time_limits.exceeded(failure)) is not None:
            raise limit from None  # the job's time is up (the caller counts the attempt as failed)
        return _failed(job, failure, moment)
    locked = instances.lock_instance(job.instance_id)
    try:
        if locked.status is not InstanceStatus.RUNNING:
            raise TaskRefused("The instance no longer runs")
        instances.complete_service_task(locked, job.task_guid, result)
    except TaskRefused:  # withdrawn or changed meanwhile: the result has nowhere to go
        both.rollback()
        return _cancel(job, moment)
    except instances.ActionFailed as failure:
        both.rollback()  # the handler's own writes too: the step did not happen
        if (limit := time_limits.exceeded(failure)) is not None:
            raise limit from None
        job.attempts += 1
        return _give_up(job, failure, moment)
    both.commit()
    job.attempts += 1
    job.status, job.finished_at, job.last_error = ServiceJobStatus.DONE, moment, None
    db.session.flush()
    return Outcome.DONE


def _error_text(failure: instances.ActionFailed) -> str:
    return f"{type(failure.error.__cause__ or failure.error).__name__}: {failure.error}"[:2000]


def _cancel(job: ServiceJob, moment: datetime) -> Outcome:
    job.status, job.finished_at = ServiceJobStatus.CANCELLED, moment
    db.session.flush()
    return Outcome.CANCELLED


def _failed(job: ServiceJob, failure: instances.ActionFailed, moment: datetime) -> Outcome:
    job.attempts += 1
    job.last_error = _error_text(failure)
    audit.record("service.attempt_failed", actor=None, object_type="process_instance", object_id=job.instance_id,
                 instance_id=job.instance_id, after={"task": job.task_guid, "topic": job.topic,
                                                     "attempt": job.attempts, "error": job.last_error[:500]})
    if job.attempts < max_attempts():
        job.next_attempt_at = moment + backoff(job.attempts)
        db.session.flush()
        return Outcome.RETRY
    return _give_up(job, failure, moment)


def _give_up(job: ServiceJob, failure: instances.ActionFailed, moment: datetime) -> Outcome:
    """No more attempts: the engine task goes to ERROR (when the handler kept failing) and an incident opens."""
    instance = instances.lock_instance(job.instance_id)
    job.last_error = _error_text(failure)
    if instances.waiting_service_task(instance, job.task_guid):
        # If the state cannot take the failure either, the incident below still tells the administrator.
        with suppress(instances.ActionFailed):
            instances.fail_service_task(instance, job.task_guid, str(failure.error))
    job.status, job.finished_at = ServiceJobStatus.FAILED, moment
    instances.record_incident(failure, details={"service_task_id": job.task_guid})
    db.session.flush()
    return Outcome.FAILED


def count_crash(job: ServiceJob, error: Exception, moment: datetime) -> None:
    """An attempt that failed outside the engine (the database, a template) or ran out of time (the job's soft
    time limit): retry, then give up like any."""
    if time_limits.exceeded(error) is not None:
        failure = instances.ActionFailed(job.instance_id, "service", ServiceFailed(
            f"Time limit: service {job.topic!r} (task {job.bpmn_id!r}) was still running when the job reached its "
            f"soft time limit of {time_limits.soft_limit_seconds()} s", topic=job.topic, code=time_limits.TIME_LIMIT,
            bpmn_id=job.bpmn_id, task_id=job.task_guid))
    else:
        failure = instances.ActionFailed(job.instance_id, "service", ServiceFailed(
            f"Service {job.topic!r} failed unexpectedly: {type(error).__name__}: {error}", topic=job.topic,
            code="service_crashed"))
    _failed(job, failure, moment)


def count_cut_off(job: ServiceJob, now: datetime | None = None) -> Outcome:
    """An attempt of ``job`` began and never finished: its job was killed at the hard time limit, or its worker
    died, and nothing of it reached the database. It counts as a failed attempt (back-off, then give up)."""
    if job.status is not ServiceJobStatus.PENDING:
        return Outcome.SKIPPED
    failure = instances.ActionFailed(job.instance_id, "service", ServiceFailed(
        f"Time limit: an attempt of service {job.topic!r} (task {job.bpmn_id!r}) never finished: its job was "
        f"killed at the hard time limit of {time_limits.hard_limit_seconds()} s, or its worker died",
        topic=job.topic, code=time_limits.TIME_LIMIT, bpmn_id=job.bpmn_id, task_id=job.task_guid))
    return _failed(job, failure, now or utcnow())


# -- incidents: what an administrator can do -------------------------------------------------------------------

def _job_guid(incident: Incident) -> str | None:
    """The service task a service incident is about (the task that failed, or the one whose step did)."""
    details = incident.details or {}
    return (details.get("service_task_id") or details.get("task_id")) if incident.action == "service" else None


def jobs_for(incidents: Iterable[Incident]) -> dict[int, ServiceJob]:
    """The service job behind each incident that has one, by incident id, in one query."""
    wanted = {incident.id: (incident.instance_id, guid) for incident in incidents if (guid := _job_guid(incident))}
    if not wanted:
        return {}
    jobs = {(job.instance_id, job.task_guid): job for job in db.session.scalars(
        sa.select(ServiceJob).where(ServiceJob.task_guid.in_([guid for _, guid in wanted.values()])))}
    return {incident_id: jobs[key] for incident_id, key in wanted.items() if key in jobs}


def job_for(incident: Incident) -> ServiceJob | None:
    """The service job behind ``incident``, if it is one."""
    return jobs_for([incident]).get(incident.id)


def can_retry(incident: Incident, job: ServiceJob | EllipsisType | None = ...) -> bool:
    """Can "retry" do something for this open incident (a failed service job, or an instance stopped by it)?

    ``job``: :func:`job_for` the incident, when the caller has it already.
    """
    if incident.resolved_at is not None:
        return False
    if job is ...:
        job = job_for(incident)
    if job is not None:
        return job.status is ServiceJobStatus.FAILED
    return incident.instance is not None and incident.instance.status is InstanceStatus.INCIDENT


def _lock_incident(incident_id: int) -> Incident:
    incident = db.session.scalar(sa.select(Incident).where(Incident.id == incident_id).with_for_update()
                                 .execution_options(populate_existing=True))
    if incident is None:
        raise NotFound(_l("This incident does not exist."))
    if incident.resolved_at is not None:
        raise Conflict(_l("This incident has already been dealt with."))
    return incident


def retry_incident(incident_id: int, actor: User) -> ServiceJob | None:
    """Retry what failed: a failed service job is queued again from attempt one; an instance stopped by a
    failed timer runs again (the next tick retries its timers). The incident is marked resolved.

    Returns the re-queued job, if any (dispatch it after the commit). Engine errors raise ActionFailed.
    """
    incident = _lock_incident(incident_id)
    instance = instances.lock_instance(incident.instance_id)
    job = job_for(incident)
    if job is not None and job.status is ServiceJobStatus.FAILED:
        if instances.service_task_state(instance, job.task_guid) == "ERROR":
            instances.retry_service_task(instance, job.task_guid, actor)
        job.status, job.attempts, job.next_attempt_at = ServiceJobStatus.PENDING, 0, utcnow()
        job.last_error, job.finished_at = None, None
        after_commit.add(service_queue.QUEUED, job.id)
    elif instance.status is InstanceStatus.INCIDENT:
        instance.status = InstanceStatus.RUNNING
        job = None
        if (incident.details or {}).get("code") == "task_unassignable":  # the user may exist now: make the task
            instances.resync_tasks(instance, actor)
    else:
        raise Conflict(_l("There is nothing to retry for this incident; mark it resolved instead."))
    _resolve(incident, actor, "incident.retry")
    return job


def resolve_incident(incident_id: int, actor: User) -> Incident:
    """Mark an incident dealt with (nothing is re-run)."""
    incident = _lock_incident(incident_id)
    _resolve(incident, actor, "incident.resolve")
    return incident


def _resolve(incident: Incident, actor: User, action: str) -> None:
    incident.resolved_at, incident.resolved_by_id = utcnow(), actor.id
    audit.record(action, actor=actor, obj=incident, instance_id=incident.instance_id,
                 after={"incident": incident.id, "error": incident.message[:300]})
    db.session.flush()


def open_incidents() -> sa.Select:
    """Unresolved incidents, newest first (the admin list)."""
    return (sa.select(Incident).where(Incident.resolved_at.is_(None))
            .order_by(Incident.created_at.desc(), Incident.id.desc()))


def resolved_incidents() -> sa.Select:
    return (sa.select(Incident).where(Incident.resolved_at.is_not(None))
            .order_by(Incident.resolved_at.desc(), Incident.id.desc()))
