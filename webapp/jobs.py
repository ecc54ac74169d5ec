"""Background work that owns its transactions: firing due timers, emailing notifications, the daily digest.

The Celery jobs of :mod:`webapp.background` are thin calls into these functions; ``flask timers tick`` and
the embedded ticker of the single-process default (``make run``) call :func:`tick_timers` too. Each one is
safe to run twice at once or again after a crash: rows are taken with ``FOR UPDATE SKIP LOCKED`` or claimed
under a unique key, and every unit of work commits on its own.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from celery.exceptions import SoftTimeLimitExceeded
from flask import Flask, current_app
from flask_babel import force_locale

from webapp.engine import EngineIncident
from webapp.extensions import db
from webapp.models import ImportJobStatus, ProcessInstance, ServiceJobStatus, User
from webapp.models.base import utcnow
from webapp.services import (
    campaigns,
    digest,
    imports,
    instances,
    notifications,
    service_jobs,
    service_queue,
    standings,
    time_limits,
)
from webapp.services.notifications import _ONE_MESSAGE_ERRORS, _close, _connect, _settings

log = logging.getLogger(__name__)


def _budget(seconds: float | None) -> Callable[[], bool]:
    """Has a job that works through a list used up its ``seconds`` (None: never)? Counted from now."""
    started = time.monotonic()
    return lambda: seconds is not None and time.monotonic() - started >= seconds


@dataclass
class TickReport:
    ticked: int = 0
    fired: int = 0
    #: (instance id, error) of the instances whose timers failed; each became an incident.
    failures: list[tuple[int | None, str]] = field(default_factory=list)
    #: The time budget ran out with timers still due (tick again at once).
    more: bool = False


class Journal(Protocol):
    """Where a job in a Celery worker notes, outside the database, what it is working on (an instance's
    timers, a service job).

    A job killed at the hard time limit (or with its worker) rolls back everything it did, the failure
    included: only the journal remembers that work began on something and never finished.
    """

    def unfinished(self) -> dict[int, int]:
        """What was begun and never finished: how many times, by id."""

    def begin(self, key: int) -> int:
        """Work begins on (locked) ``key``: how many times it has begun unfinished, this one included."""

    def end(self, key: int) -> None:
        """The work on ``key`` is over (what it did is committed, or nothing happened)."""


#: An instance whose timers a tick began firing this many times without finishing (its job was killed at
#: the hard time limit, or its worker died) is stopped with a "time limit" incident instead of a third try.
TICK_CUT_OFFS = 2


def tick_timers(moment: datetime | None = None, *, budget_seconds: float | None = None,
                journal: Journal | None = None) -> TickReport:
    """Fire every timer due at ``moment`` (now), one instance per transaction, each instance once.

    The tick's moment is fixed when it starts: an instance leaves the due range once its timers fired (its
    next timer is later), so only an instance still due after its turn is excluded from the next picks;
    the exclusion list stays short however many timers a tick fires.

    Out of time (Celery's soft time limit, raised into the step that was running): the instance being fired
    is stopped with a "time limit" incident and ``SoftTimeLimitExceeded`` ends the job; the next tick goes on
    with the others. With a ``journal`` (Celery), instances on which an earlier tick was cut off come last,
    and after :data:`TICK_CUT_OFFS` cut-offs they are stopped with an incident: a step the soft limit cannot
    interrupt never holds up the other timers again and again.
    """
    report, still_due = TickReport(), set()
    now = moment or utcnow()
    spent = _budget(budget_seconds)
    cut_off = journal.unfinished() if journal is not None else {}
    while True:
        if report.ticked and spent():
            report.more = True  # always after one instance at least: every tick moves on
            return report
        instance = instances.lock_next_due(now, exclude=still_due | cut_off.keys())
        if instance is None:
            db.session.rollback()
            break
        if _tick_instance(instance, now, moment, report, journal):
            still_due.add(instance.id)
    for instance_id in cut_off:  # after everything else: they may well be cut off again
        if report.ticked and spent():
            report.more = True
            return report
        instance = instances.lock_if_due(instance_id, now)
        if instance is None:
            if not instances.is_due(instance_id, now) and journal is not None:
                journal.end(instance_id)  # fired or stopped meanwhile (elsewhere, or by a tick without a journal)
            db.session.rollback()
            continue
        _tick_instance(instance, now, moment, report, journal)
    return report


def _tick_instance(instance: ProcessInstance, now: datetime, moment: datetime | None, report: TickReport,
                   journal: Journal | None) -> bool:
    """Fire the due timers of the locked ``instance`` and commit; True if it is still due at ``now``."""
    instance_id = instance.id
    begun = journal.begin(instance_id) if journal is not None else 1
    report.ticked += 1
    if begun > TICK_CUT_OFFS:
        failure = instances.ActionFailed(instance_id, "timer", EngineIncident(
            f"Time limit: firing this instance's timers ({', '.join(instances.due_timers(instance, now)) or '?'}) "
            f"was cut off {begun - 1} times (the job ran past its hard time limit of "
            f"{time_limits.hard_limit_seconds()} s, or its worker died); a step after the timer never finishes",
            code=time_limits.TIME_LIMIT))
        log.error("instance %s: %s", instance_id, failure.error)
        _stop(failure, report, journal)
        return False
    savepoint = db.session.begin_nested()
    try:
        fired = instances.fire_due_timers(instance, moment)
        savepoint.commit()
    except Exception as error:  # SoftTimeLimitExceeded is an Exception too
        savepoint.rollback()  # the instance stays locked: nobody else records the same failure
        limit = time_limits.exceeded(error)
        if limit is not None:
            # Only a step that took more than half the soft limit (the tick's budget) meets it: stop the instance.
            failure = _time_limit_failure(instance, now, error, limit)
            log.error("instance %s: %s", instance_id, failure.error)
        elif isinstance(error, instances.ActionFailed):
            failure = error
        else:
            log.exception("timer of instance %s failed", instance_id)
            failure = instances.ActionFailed(instance_id, "timer", EngineIncident(
                f"Firing a timer failed: {type(error).__name__}: {error}", code="timer_crashed"))
        _stop(failure, report, journal)
        if limit is not None:
            raise limit from None  # the job's time is up: it ends here; the next tick goes on with the others
        return False  # stopped by the incident: no longer due
    report.fired += len(fired)
    next_at = instance.next_timer_at
    db.session.commit()
    if journal is not None:
        journal.end(instance_id)
    return next_at is not None and next_at <= now


def _time_limit_failure(instance: ProcessInstance, now: datetime, error: Exception,
                        limit: SoftTimeLimitExceeded) -> instances.ActionFailed:
    """The incident of an instance whose step was still running when the job's soft time limit came."""
    engine_error = error.error if isinstance(error, instances.ActionFailed) else None
    step = engine_error and (engine_error.task_name or engine_error.bpmn_id)
    where = f"in step {step!r}" if step else \
        f"while firing {', '.join(instances.due_timers(instance, now)) or 'its timers'}"
    incident = EngineIncident(
        f"Time limit: the job ran past its soft time limit of {time_limits.soft_limit_seconds()} s {where}; "
        "the step was interrupted and the instance stopped", code=time_limits.TIME_LIMIT,
        bpmn_id=engine_error and engine_error.bpmn_id, task_id=engine_error and engine_error.task_id,
        task_name=engine_error and engine_error.task_name, original=limit)
    incident.__cause__ = limit
    return instances.ActionFailed(instance.id, "timer", incident)


def _stop(failure: instances.ActionFailed, report: TickReport, journal: Journal | None) -> None:
    """Record ``failure`` as an incident that stops its (locked) instance, and commit."""
    instances.record_incident(failure, stop_instance=True)
    db.session.commit()
    if journal is not None:
        journal.end(failure.instance_id)
    report.failures.append((failure.instance_id, str(failure.error)))


#: Emails sent over one SMTP connection; a run sends batches until the outbox is empty or :data:`EMAIL_RUN_LIMIT`.
EMAIL_BATCH = 100
EMAIL_RUN_LIMIT = 1000


def deliver_notifications(limit: int | None = None) -> notifications.DeliveryReport:
    """Email the notifications waiting for it (the outbox: ``emailed_at IS NULL``), at most ``limit``.

    Batches of :data:`EMAIL_BATCH` share a connection; a batch with a failure ends the run (the next sweep
    retries). Rows are locked with SKIP LOCKED, so several workers never send the same email.
    """
    remaining = EMAIL_RUN_LIMIT if limit is None else limit
    total = notifications.DeliveryReport()
    while remaining > 0:
        report = notifications.deliver_pending_emails(min(remaining, EMAIL_BATCH))
        if not report.enabled:
            return report
        total.sent += report.sent
        total.failed += report.failed
        remaining -= report.sent + report.failed
        if report.failed or report.sent < EMAIL_BATCH:
            break
    return total


@dataclass
class DigestReport:
    sent: int = 0
    failed: int = 0
    #: People whose digest of the day another run had claimed in the meantime.
    skipped: int = 0
    #: False when DIGEST_HOUR is empty or SMTP_HOST is not set (nothing was attempted).
    enabled: bool = True
    #: Set when the time budget ran out: the last person looked at (go on after them).
    resume_after: int | None = None


def send_daily_digests(moment: datetime | None = None, *, after_id: int = 0,
                       budget_seconds: float | None = None) -> DigestReport:
    """Email today's digest of open tasks to everyone who has some and has not had it today.

    Per person: find the tasks, claim the day's digest and commit, then send; a failed send gives the claim
    back (a later run may retry), a crash after the claim does not resend: at most one digest a day.
    People are taken by id after ``after_id``; when ``budget_seconds`` runs out, ``resume_after`` says where
    the next run goes on (a city's 70,000 accounts take minutes).
    """
    if current_app.config["YANXUN"]["DIGEST_HOUR"] is None or not notifications.email_enabled():
        return DigestReport(enabled=False)
    config = _settings()
    now = moment or utcnow()
    day = digest.local_day(now)
    report = DigestReport()
    server: smtplib.SMTP | None = None
    spent = _budget(budget_seconds)
    try:
        for looked_at, user_id in enumerate(digest.recipient_ids(day, after_id)):
            if looked_at and spent():
                report.resume_after = after_id  # always past at least one person: every run moves on
                break
            after_id = user_id
            user = db.session.get(User, user_id)
            pending = digest.pending_for(user, now) if user is not None else None
            if pending is None:
                db.session.rollback()
                continue
            message = digest.build_email(pending, config["sender"], now)
            claim = digest.claim(pending, day)
            db.session.commit()
            if claim is None:
                report.skipped += 1
                continue
            try:
                if server is None:
                    server = _connect(config)
                server.send_message(message)
            except (smtplib.SMTPException, OSError) as error:
                digest.release(claim)
                db.session.commit()
                report.failed += 1
                log.warning("digest for user %s failed: %s", user_id, error)
                if server is None or not isinstance(error, _ONE_MESSAGE_ERRORS):
                    break  # the mail server is unreachable or went away: a later run tries the rest
                continue
            digest.mark_sent(claim)
            db.session.commit()
            report.sent += 1
    finally:
        _close(server)
    return report


# -- CSV imports -------------------------------------------------------------------------------------------------

def run_import(job_id: int, chunk_rows: int = imports.CHUNK_ROWS, budget_seconds: float | None = None) -> str:
    """Import job ``job_id`` chunk by chunk, committing each; returns ``done``, ``failed``, ``skipped`` or
    ``continue`` (``budget_seconds`` ran out between two chunks: hand the job over again).

    Skipped when the job is finished or another worker holds it; a chunk that fails unexpectedly is rolled
    back and the job fails (the chunks committed before stay imported and are listed in no report).
    """
    spent = _budget(budget_seconds)
    parsed = None  # the file, read once for all the chunks of this run
    while True:
        job = imports.lock_job(job_id)
        if job is None:
            db.session.rollback()
            return "skipped"
        if job.status is ImportJobStatus.QUEUED:  # shown at once: the first chunk takes a few seconds
            imports.mark_running(job)
            db.session.commit()
            continue
        try:
            with force_locale(job.locale):
                parsed = parsed or imports.parse(job)
                done = imports.advance(job, chunk_rows, parsed=parsed)
            db.session.commit()
        except SoftTimeLimitExceeded:
            db.session.rollback()  # not the data's fault: the job stays running and the sweep resumes it
            raise
        except Exception as error:
            db.session.rollback()
            log.exception("import job %s failed", job_id)
            imports.fail(job_id, error)
            db.session.commit()
            return "failed"
        if done:
            return "done"
        if spent():
            return "continue"


def run_pending_imports(moment: datetime | None = None, *, stale_after: timedelta | None = None) -> int:
    """The sweep, in-process: run imports whose message never arrived and resume those whose worker died."""
    return sum(run_import(job_id) == "done" for job_id in pending_imports(moment, stale_after=stale_after))


def pending_imports(moment: datetime | None = None, *, stale_after: timedelta | None = None) -> list[int]:
    """Ids of the imports nobody is working on (for the sweep to run, or to hand to the workers)."""
    job_ids = imports.pending_job_ids(moment, imports.STALE_AFTER if stale_after is None else stale_after)
    db.session.rollback()
    return job_ids


# -- campaigns -----------------------------------------------------------------------------------------------------

#: What a campaign job does: start the pending schools, give the running instances the campaign's deadlines, or
#: cancel the running instances of a closed campaign.
CAMPAIGN_MODES = ("start", "extend", "close")


def start_pending(campaign_id: int, *, batch: int = campaigns.BATCH,
                  budget_seconds: float | None = None) -> campaigns.Progress | None:
    """Start the pending schools of a launching campaign, ``batch`` per transaction; a crash or the end of the budget
    leaves the rest pending for the next run. Returns the progress, None when another job holds the campaign or it
    is not launching."""
    spent = _budget(budget_seconds)
    while True:
        campaign = campaigns.lock_launching(campaign_id)
        if campaign is None:
            db.session.rollback()
            return None
        campaigns.start_batch(campaign, batch)
        progress = campaigns.progress(campaign)
        db.session.commit()
        if progress.status != "launching" or spent():
            return progress


def run_campaign(campaign_id: int, mode: str = "start", *, after_id: int = 0, batch: int = campaigns.BATCH,
                 budget_seconds: float | None = None) -> tuple[str, int]:
    """One campaign job: ``done``, ``skipped`` or ``continue`` (the budget ran out: hand it over again from the row
    returned)."""
    if mode not in CAMPAIGN_MODES:
        raise ValueError(f"unknown campaign job mode {mode!r}")
    if mode == "start":
        progress = start_pending(campaign_id, batch=batch, budget_seconds=budget_seconds)
        if progress is None:
            return "skipped", 0
        return ("continue" if progress.status == "launching" else "done"), 0
    spent = _budget(budget_seconds)
    while True:
        campaign = campaigns.lock(campaign_id)
        if mode == "extend":
            with force_locale(current_app.config["YANXUN"]["DEFAULT_LOCALE"]):
                last = campaigns.apply_deadlines(campaign, None, after_id=after_id, limit=batch)
            db.session.commit()
            if last is None:
                return "done", 0
            after_id = last
        else:
            finished = campaigns.cancel_running(campaign, None, limit=batch)
            db.session.commit()
            if finished:
                return "done", 0
        if spent():
            return "continue", after_id


def pending_campaigns(moment: datetime | None = None, *,
                      stale_after: timedelta | None = None) -> list[tuple[int, str]]:
    """(campaign id, mode) of the work nobody is doing: launches gone stale, closes cut short."""
    stale = campaigns.STALE_AFTER if stale_after is None else stale_after
    work = [(campaign_id, "start") for campaign_id in campaigns.stale_launches(moment, stale)]
    work += [(campaign_id, "close") for campaign_id in campaigns.closing_campaigns()]
    db.session.rollback()
    return work


def run_pending_campaigns(moment: datetime | None = None, *, stale_after: timedelta | None = None) -> int:
    """The sweep, in-process."""
    return sum(run_campaign(campaign_id, mode)[0] == "done"
               for campaign_id, mode in pending_campaigns(moment, stale_after=stale_after))


@dataclass
class StandingsReport:
    teachers: int = 0
    #: Standings of people who are no longer teachers, dropped at the end of a full pass.
    pruned: int = 0
    #: Set when the time budget ran out: the last teacher recomputed (go on after them, with ``started``).
    resume_after: int | None = None
    #: When the pass began (UTC, ISO): rows computed before it are pruned when the pass ends.
    started: str = ""


def refresh_standings(on: date | None = None, *, after_id: int = 0, started: str | None = None,
                      budget_seconds: float | None = None) -> StandingsReport:
    """Recompute every teacher's standing for ``on`` (today), :data:`standings.BATCH` teachers per transaction,
    then drop the standings of people who are no longer teachers. With a budget, a run that is out of time says
    where to go on (``resume_after``; pass ``started`` along so that the prune spares nothing recomputed)."""
    day = on or date.today()
    report = StandingsReport(started=started or utcnow().isoformat())
    spent = _budget(budget_seconds)
    while True:
        batch = standings.teacher_ids(day, after_id=after_id, limit=standings.BATCH)
        if not batch:
            break
        report.teachers += standings.refresh(batch, day)
        db.session.commit()
        after_id = batch[-1]
        if spent():
            report.resume_after = after_id
            return report
    report.pruned = standings.prune(datetime.fromisoformat(report.started))
    db.session.commit()
    return report


def refresh_outdated_standings(budget_seconds: float | None = None) -> StandingsReport | None:
    """The embedded default's daily pass: recompute every standing once some is from an earlier day."""
    if not standings.outdated():
        db.session.rollback()
        return None
    return refresh_standings(budget_seconds=budget_seconds)


#: Service jobs can queue further service jobs; one round follows such chains this many steps deep.
CHAINED_SERVICE_ROUNDS = 10


#: Without Redis every job runs in this one process: the ticker's rounds and the jobs handed over by requests
#: take turns. SQLite (the embedded default) has no row locks, so two threads could otherwise run the same
#: service job or import chunk at once. Re-entrant: a job may hand over another, which runs at once.
embedded_work = threading.RLock()


def embedded_round(moment: datetime | None = None) -> None:
    """One beat of the single-process default: what Celery beat and the workers do when there is Redis.

    Fires due timers, runs due service jobs (and those they queue), pending imports, recomputes the teachers'
    standings once a day, emails waiting notifications, and sends the daily digest during ``DIGEST_HOUR``.
    """
    with embedded_work:
        _embedded_round(moment)


def _embedded_round(moment: datetime | None) -> None:
    now = moment or utcnow()
    report = tick_timers(moment)
    if report.fired or report.failures:
        log.info("timers: %d fired, %d failed", report.fired, len(report.failures))
    for _ in range(CHAINED_SERVICE_ROUNDS):
        if not run_due_service_jobs(moment).outcomes:
            break
    service_queue.take_committed()  # run above (or on the next round): nothing to hand over
    # In one process nothing else can be importing while this round holds embedded_work: an import still
    # queued (its hand-over after the upload failed, say on a busy SQLite file) is run now, not in 5 minutes.
    run_pending_imports(moment, stale_after=timedelta(0))
    run_pending_campaigns(moment, stale_after=timedelta(0))
    refresh_outdated_standings()
    if notifications.email_enabled():
        deliver_notifications()
        if digest.is_digest_time(now):
            send_daily_digests(moment)


def start_embedded_ticker(app: Flask) -> threading.Thread | None:
    """In the single-process default (no Redis), do the background work every ``TIMER_TICK_SECONDS`` from a
    thread: :func:`embedded_round`.

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
                    embedded_round()
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
    #: The time budget ran out with jobs still due (sweep again at once).
    more: bool = False

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def run_service_job(job_id: int, moment: datetime | None = None, *, journal: Journal | None = None) -> str:
    """Run one attempt of job ``job_id`` in its own transaction; returns the outcome.

    A job another worker is running (its row is locked) is skipped; a job that is not due yet is left alone.
    An unexpected error (the database, say) rolls back and counts as a failed attempt, with back-off; so does
    the job's soft time limit, which then ends the job. With a ``journal`` (Celery), an attempt that began and
    never finished (killed at the hard time limit, or with its worker) counts as a failed attempt when the job
    next comes up, instead of the handler running again at once.
    """
    job = service_jobs.lock_job(job_id)
    if job is None:
        db.session.rollback()
        return service_jobs.Outcome.SKIPPED
    begun = journal.begin(job_id) if journal is not None else 1
    try:
        # Begun before and never finished: the handler is not run again at once.
        outcome = service_jobs.count_cut_off(job, moment) if begun > 1 else service_jobs.attempt(job, moment)
        db.session.commit()
    except Exception as error:  # SoftTimeLimitExceeded too: the attempt counts as failed, then the job ends
        db.session.rollback()
        limit = time_limits.exceeded(error)
        if limit is None:
            log.exception("service job %s failed unexpectedly", job_id)
        else:
            log.error("service job %s ran past the soft time limit", job_id)
        _count_crash(job_id, limit or error, moment or utcnow())
        if journal is not None:
            journal.end(job_id)
        if limit is not None:
            raise limit from None
        return service_jobs.Outcome.RETRY
    if journal is not None:
        journal.end(job_id)
    return outcome


def _count_crash(job_id: int, error: Exception, moment: datetime) -> None:
    job = service_jobs.lock_job(job_id)
    if job is not None and job.status is ServiceJobStatus.PENDING:
        service_jobs.count_crash(job, error, moment)
    db.session.commit()


def run_due_service_jobs(moment: datetime | None = None, *, budget_seconds: float | None = None,
                         journal: Journal | None = None) -> ServiceJobReport:
    """The sweep: run every pending job that is due at the sweep's start, oldest first, each at most once.

    An attempt moves its job out of the due range (done, cancelled, or due again after its back-off), so
    only a job another worker took in between is excluded from the next picks.
    """
    report, skipped = ServiceJobReport(), set()
    now = moment or utcnow()
    spent = _budget(budget_seconds)
    while True:
        if report.outcomes and spent():
            report.more = True
            break
        job = service_jobs.lock_next_due(now, exclude=skipped)
        if job is None:
            db.session.rollback()
            break
        job_id = job.id
        db.session.rollback()  # run_service_job locks it again in its own transaction
        outcome = run_service_job(job_id, now, journal=journal)
        report.count(outcome)
        if outcome == service_jobs.Outcome.SKIPPED:
            skipped.add(job_id)
    report.queued = service_queue.take_committed()
    return report
