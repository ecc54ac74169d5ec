"""Running process instances: start, act on, and fire timers, one locked transaction per action.

Every action loads the instance row with ``SELECT … FOR UPDATE`` (and a version column everywhere),
restores the workflow onto the cached spec, acts, runs the engine on, saves the state, rebuilds the
``human_task`` projection and writes audit events, all in the caller's transaction. Engine errors
become :class:`ActionFailed`; the caller rolls back and records the incident with
:func:`record_incident`, so an instance is never left half-advanced.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from webapp.engine import (
    BudgetExceeded,
    EngineError,
    EngineIncident,
    FieldError,
    FormInvalid,
    TaskRefused,
    UserTaskInfo,
)
from webapp.engine import ProcessDefinition as EngineDefinition
from webapp.extensions import db
from webapp.models import (
    ROLE_CODES,
    AuditEvent,
    HumanTask,
    Incident,
    InstanceStatus,
    Org,
    ProcessDefinition,
    ProcessInstance,
    Role,
    TaskCandidate,
    TaskComment,
    TaskStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.services import audit, definitions, delegations, notifications, processes, service_queue, watchers
from webapp.services import roles as role_service
from webapp.services.errors import Conflict, FormRejected, NotAllowed, NotFound
from webapp.services.runtime import get_runtime

#: The instance an action is running on, for service handlers that must check what the data refers to.
current_instance: ContextVar[int | None] = ContextVar("current_instance", default=None)


class ActionFailed(Exception):
    """An engine error while acting on an instance; roll back, then :func:`record_incident`."""

    def __init__(self, instance_id: int | None, action: str, error: EngineError, actor: User | None = None) -> None:
        super().__init__(str(error))
        self.instance_id = instance_id
        self.action = action
        self.error = error
        self.actor_id = actor.id if actor else None


def lock_instance(instance_id: int) -> ProcessInstance:
    """The instance row, locked for this transaction and freshly read (with what every action reads of it:
    definition, subject organisation, initiator)."""
    instance = db.session.scalar(sa.select(ProcessInstance).where(ProcessInstance.id == instance_id)
                                 .options(joinedload(ProcessInstance.definition, innerjoin=True),
                                          joinedload(ProcessInstance.subject_org, innerjoin=True),
                                          joinedload(ProcessInstance.initiator))
                                 .with_for_update(of=ProcessInstance).execution_options(populate_existing=True))
    if instance is None:
        raise NotFound(_l("This process instance does not exist."))
    return instance


_specs: dict[tuple[int, str], EngineDefinition] = {}


def engine_definition(definition: ProcessDefinition) -> EngineDefinition:
    """The restored spec of a deployed definition, cached per process (definitions never change).

    Keyed by id and content hash, so a database restored to other content never meets a stale spec.
    """
    key = (definition.id, definition.content_hash)
    spec = _specs.get(key)
    if spec is None:
        spec = _specs[key] = get_runtime().definition(definition.spec_json)
    return spec


@dataclass
class _Context:
    instance: ProcessInstance
    workflow: Any


@contextmanager
def _acting(instance: ProcessInstance, action: str, actor: User | None) -> Iterator[_Context]:
    """Load the workflow, let the caller act, then save state and projection (all or nothing)."""
    runtime = get_runtime()
    token = current_instance.set(instance.id)
    try:
        workflow = runtime.load(engine_definition(instance.definition), instance.state_json)
        context = _Context(instance, workflow)
        with db.session.no_autoflush:  # the projection flushes once; the rest goes with the commit
            yield context
        _save(instance, workflow)
    except EngineError as error:
        if isinstance(error, FormInvalid | TaskRefused):
            raise
        raise ActionFailed(instance.id, action, error, actor) from error
    finally:
        current_instance.reset(token)


def _save(instance: ProcessInstance, workflow: Any) -> None:
    runtime = get_runtime()
    instance.state_json, instance.serializer_version = runtime.dump(workflow)
    instance.next_timer_at = runtime.next_timer_at(workflow)
    instance.waiting_messages = runtime.waiting_messages(workflow)
    if runtime.is_completed(workflow):
        instance.status = InstanceStatus.COMPLETED
        instance.ended_at = utcnow()
        instance.next_timer_at = None
        watchers.instance_ended(instance)


def start(key: str, *, subject_org: Org, initiator: User, data: Mapping[str, Any] | None = None,
          title: str | None = None, summary: Mapping[str, Any] | None = None,
          by_feature: bool = False, definition: ProcessDefinition | None = None) -> ProcessInstance:
    """Start the latest version of process ``key`` (or ``definition``, a version of it) about ``subject_org``;
    ``initiator`` is ``${initiator}``.

    Processes whose package starts them (it creates the business record they reference) start only through it
    (``by_feature``): started with made-up data they would act on records that are not theirs.
    """
    if processes.started_by_package(key) and not by_feature:
        raise NotAllowed(_l("This process is started from its own page in YanXun, not directly."))
    if definition is None:
        definition = definitions.latest(key)
    elif definition.key != key:
        raise ValueError(f"definition {definition.id} is not a version of {key!r}")
    if definition is None:
        raise NotFound(_l("No process %(key)s has been deployed.", key=key))
    runtime = get_runtime()
    variables = {**dict(data or {}), "subject_org": subject_org.code}
    try:
        workflow = runtime.start(engine_definition(definition), variables, initiator=initiator.login)
    except EngineError as error:
        raise ActionFailed(None, "start", error, initiator) from error
    instance = ProcessInstance(definition=definition, process_key=definition.key,
                               title=title or definition.name, subject_org=subject_org, initiator=initiator,
                               summary=dict(summary or {}), state_json="", serializer_version="")
    db.session.add(instance)
    try:
        _save(instance, workflow)
    except EngineError as error:
        raise ActionFailed(None, "start", error, initiator) from error
    db.session.flush()
    audit.record("instance.start", actor=initiator, obj=instance, instance_id=instance.id,
                 after={"process": key, "version": definition.version, "subject_org": subject_org.code,
                        "data": _json_safe(data or {})})
    try:
        with db.session.no_autoflush:
            sync_tasks(instance, workflow, actor=initiator, new=True)
    except EngineError as error:
        raise ActionFailed(None, "start", error, initiator) from error
    return instance


def complete_task(task: HumanTask, actor: User, data: Mapping[str, Any],
                  authorise: Callable[[HumanTask, User], None]) -> HumanTask:
    """Complete ``task`` with form ``data`` as ``actor``.

    The instance is locked first; the task row is then re-read, so of two simultaneous completions the
    second finds the task completed and gets :class:`Conflict`.
    """
    instance = lock_instance(task.instance_id)
    if instance.status is InstanceStatus.SUSPENDED:
        raise Conflict(_l("An administrator has paused this process; its tasks wait until it is resumed."))
    if instance.status is InstanceStatus.INCIDENT:
        raise Conflict(_l("This process is stopped by a problem an administrator must look at first."))
    open_rows = _open_rows(instance.id)  # re-reads ``task`` too, if it is still open
    if task.task_guid not in open_rows:
        raise Conflict(_l("This task has already been completed or cancelled."))
    authorise(task, actor)
    with _acting(instance, "complete", actor) as context:
        def on_record() -> None:
            """Once the form passed, the completion is on record before the engine runs on, so what it reaches
            (a handler checking the approvals, say) sees it."""
            behalf = delegations.acting_for(actor, task, date.today())  # "王磊 代 刘芳" on the timeline
            task.status, task.completed_at, task.completed_by_id = TaskStatus.COMPLETED, utcnow(), actor.id
            after = {"task": task.bpmn_id, "data": _json_safe(data)}
            if behalf is not None:
                after["on_behalf_of"] = {"id": behalf.id, "name": behalf.display_name}
            audit.record("task.complete", actor=actor, obj=task, instance_id=instance.id, after=after)
            db.session.flush()

        try:
            get_runtime().complete_user_task(context.workflow, task.task_guid, data, validated=on_record)
        except FormInvalid as error:
            raise FormRejected(_l("Some fields need your attention."),
                               {field: [field_error_message(e) for e in errors]
                                for field, errors in error.errors.items()}) from error
        except TaskRefused as error:
            raise Conflict(_l("This task can no longer be completed.")) from error
        sync_tasks(instance, context.workflow, completed=task, actor=actor, open_rows=open_rows)
    return task


def withdraw_task(task: HumanTask, actor: User | None, reason: str,
                  then: Callable[[HumanTask, str], None] | None = None) -> HumanTask | None:
    """Close ``task`` because its assignee is gone: the engine completes it with ``{"withdrawn": True,
    "withdrawn_reason": reason}`` so the flow goes on without it, the row is CANCELLED (not completed by anyone),
    audited as ``task.withdraw``; ``then(task, reason)`` runs under the instance lock. None when the task or its
    instance no longer runs."""
    instance = lock_instance(task.instance_id)
    if instance.status is not InstanceStatus.RUNNING:
        return None
    open_rows = _open_rows(instance.id)
    row = open_rows.get(task.task_guid)
    if row is None:
        return None
    assignee = row.assignee.display_name if row.assignee is not None else None
    with _acting(instance, "withdraw", actor) as context:
        def on_record() -> None:
            row.status, row.completed_at, row.completed_by_id = TaskStatus.CANCELLED, utcnow(), None
            audit.record("task.withdraw", actor=actor, obj=row, instance_id=instance.id,
                         after={"task": row.bpmn_id, "reason": reason, "assignee": assignee})
            db.session.flush()

        get_runtime().complete_user_task(context.workflow, row.task_guid,
                                         {"withdrawn": True, "withdrawn_reason": reason}, validated=on_record)
        if then is not None:
            then(row, reason)
        sync_tasks(instance, context.workflow, actor=actor, open_rows=open_rows, action="withdraw")
    return row


def field_error_message(error: FieldError) -> str:
    """The user's-language message for one engine form-field problem."""
    limit = error.params.get("limit")
    if error.code == "type":
        expected = str(error.params.get("expected", ""))
        for prefix, message in (("a whole number", _l("Enter a whole number.")),
                                ("true or false", _l("Choose yes or no.")),
                                ("a date", _l("Enter a date such as 2026-09-01.")),
                                ("one of", _l("Choose one of the listed options."))):
            if expected.startswith(prefix):
                return str(message)
        return str(_l("Enter text."))
    messages = {
        "required": _l("This field is required."),
        "readonly": _l("This field cannot be changed here."),
        "min": _l("Must be at least %(limit)s.", limit=limit),
        "max": _l("Must be at most %(limit)s.", limit=limit),
        "minlength": _l("Must have at least %(limit)s characters.", limit=limit),
        "maxlength": _l("Must have at most %(limit)s characters.", limit=limit),
    }
    return str(messages.get(error.code, _l("This field is not part of the form.")))


def fire_due_timers(instance: ProcessInstance, now: datetime | None = None) -> list[str]:
    """Tick one (locked) instance: fire the timers due at ``now``; returns the names of those that fired."""
    runtime = get_runtime()
    moment = now or utcnow()
    with _acting(instance, "timer", None) as context:
        due = _due_timers(context.workflow, moment)
        runtime.tick(context.workflow, now)
        if due:
            audit.record("timer.fire", actor=None, obj=instance, instance_id=instance.id, after={"timers": due})
        sync_tasks(instance, context.workflow, action="timer")
    return due


def deliver_message(instance_id: int, name: str, payload: Mapping[str, Any], actor: User,
                    authorise: Callable[[ProcessInstance, User], None] | None = None) -> ProcessInstance:
    """Correlate message ``name`` to the instance waiting for it (Camunda 7's message correlation): its waiting
    catch event, boundary event or receive task goes on with ``payload`` as data. Only administrators (and the
    integrations acting as one) send messages, unless a process's own action sends it and ``authorise`` (called
    under the instance lock; raises ``NotAllowed``) decides who may, e.g. the school officer who closes a
    collection."""
    if authorise is None and not role_service.has_role(actor, Role.ADMIN):
        raise NotAllowed(_l("Only an administrator (or an integration acting as one) may send a process a message."))
    instance = lock_instance(instance_id)
    if authorise is not None:
        authorise(instance, actor)
    if instance.status is not InstanceStatus.RUNNING:
        raise Conflict(_l("This process is not running, so it waits for no message."))
    if name not in (instance.waiting_messages or []):
        raise Conflict(_l("This process is not waiting for the message “%(name)s”.", name=name))
    with _acting(instance, "message", actor) as context:
        get_runtime().send_message(context.workflow, name, payload)
        audit.record("instance.message", actor=actor, obj=instance, instance_id=instance.id,
                     after={"message": name, "data": _json_safe(payload)})
        sync_tasks(instance, context.workflow, actor=actor, action="message")
    return instance


def set_variables(instance: ProcessInstance, values: Mapping[str, Any], actor: User | None) -> ProcessInstance:
    """Set process variables of a running instance (Camunda 7's ``setVariables``): waiting ``timeDate`` timers that
    read them are re-armed, and the due dates of the open tasks follow (``dueDate="${x_deadline}"``).

    Locks the instance; the caller commits. Engine errors raise :class:`ActionFailed`.
    """
    instance = lock_instance(instance.id)
    if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED, InstanceStatus.INCIDENT):
        raise Conflict(_l("This process is not running, so its data cannot change."))
    runtime = get_runtime()
    with _acting(instance, "variables", actor) as context:
        before = {name: value for name, value in runtime.variables(context.workflow).items() if name in values}
        rearmed = runtime.set_variables(context.workflow, dict(values))
        _refresh_due_dates(instance, runtime.ready_user_tasks(context.workflow))
        audit.record("instance.variables", actor=actor, obj=instance, instance_id=instance.id,
                     before=_json_safe(before), after={**_json_safe(values), "timers": list(rearmed or [])})
    return instance


def _refresh_due_dates(instance: ProcessInstance, ready: list[UserTaskInfo]) -> None:
    """The open rows' ``due_at`` (and their candidates') from the engine's READY tasks."""
    due = {info.task_id: info.due_at for info in ready}
    for row in _open_rows(instance.id).values():
        if row.task_guid in due and row.due_at != due[row.task_guid]:
            row.due_at = due[row.task_guid]
            db.session.execute(sa.update(TaskCandidate).where(TaskCandidate.task_id == row.id)
                               .values(due_at=row.due_at).execution_options(synchronize_session=False))
            db.session.expire(row, ["candidates"])


def due_timers(instance: ProcessInstance, now: datetime | None = None) -> list[str]:
    """The timers of ``instance`` due at ``now`` (as :func:`fire_due_timers` names them), read from the stored
    state without firing anything; empty when the state cannot be read."""
    try:
        workflow = get_runtime().load(engine_definition(instance.definition), instance.state_json)
    except EngineError:
        return []
    return _due_timers(workflow, now or utcnow())


def _due_timers(workflow: Any, moment: datetime) -> list[str]:
    return [f"{event.name or event.event_type}@{event.value}" for event in workflow.waiting_events()
            if event.event_type.endswith("TimerEventDefinition") and _is_due(event.value, moment)]


def service_task_state(instance: ProcessInstance, task_guid: str) -> str | None:
    """``STARTED`` (waiting for a worker), ``ERROR`` (given up) or None (neither) in the stored state."""
    runtime = get_runtime()
    workflow = runtime.load(engine_definition(instance.definition), instance.state_json)
    return next((info.state for info in runtime.started_service_tasks(workflow) if info.task_id == task_guid), None)


def waiting_service_task(instance: ProcessInstance, task_guid: str) -> bool:
    """Does the service task ``task_guid`` still wait for a worker (STARTED) in the stored state?"""
    return service_task_state(instance, task_guid) == "STARTED"


def call_service_handler(instance: ProcessInstance, task_guid: str) -> Any:
    """Run the handler of a waiting (async) service task and return its result; nothing of the instance
    changes, and the caller need not hold its lock (a slow handler must not block the people working on it).

    A failing handler raises :class:`ActionFailed`; a task that no longer waits raises ``TaskRefused``.
    """
    runtime = get_runtime()
    token = current_instance.set(instance.id)
    try:
        workflow = runtime.load(engine_definition(instance.definition), instance.state_json)
        return runtime.call_service_handler(workflow, task_guid)
    except TaskRefused:
        raise
    except EngineError as error:
        raise ActionFailed(instance.id, "service", error) from error
    finally:
        current_instance.reset(token)


def complete_service_task(instance: ProcessInstance, task_guid: str, result: Any) -> None:
    """Store a handler's ``result`` on the locked ``instance`` and run the process on from the task."""
    with _acting(instance, "service", None) as context:
        get_runtime().complete_service_task(context.workflow, task_guid, result)
        audit.record("service.complete", actor=None, obj=instance, instance_id=instance.id,
                     after={"task": task_guid})
        sync_tasks(instance, context.workflow)


def fail_service_task(instance: ProcessInstance, task_guid: str, message: str) -> None:
    """Give up on a waiting service task: it goes to ERROR in the engine (the branch stops there)."""
    with _acting(instance, "service", None) as context:
        get_runtime().fail_service_task(context.workflow, task_guid, message)
        sync_tasks(instance, context.workflow)


def retry_service_task(instance: ProcessInstance, task_guid: str, actor: User) -> None:
    """Put a failed service task back to waiting (STARTED) for a worker to run again."""
    with _acting(instance, "retry", actor) as context:
        get_runtime().retry_service_task(context.workflow, task_guid)
        audit.record("service.retry", actor=actor, obj=instance, instance_id=instance.id, after={"task": task_guid})
        sync_tasks(instance, context.workflow)


def _is_due(value: Any, moment: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(value)) <= moment
    except ValueError:
        return False


def lock_next_due(now: datetime, exclude: Collection[int] = ()) -> ProcessInstance | None:
    """The running instance with the earliest due timer, locked; instances locked by others are skipped."""
    query = (sa.select(ProcessInstance)
             .where(ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.next_timer_at <= now)
             .order_by(ProcessInstance.next_timer_at).limit(1))
    if exclude:
        query = query.where(ProcessInstance.id.not_in(list(exclude)))
    return db.session.scalar(query.with_for_update(skip_locked=True).execution_options(populate_existing=True))


def lock_if_due(instance_id: int, now: datetime) -> ProcessInstance | None:
    """Instance ``instance_id``, locked, if it is running with a timer due at ``now`` and nobody else holds it."""
    return db.session.scalar(sa.select(ProcessInstance)
                             .where(ProcessInstance.id == instance_id, ProcessInstance.status == InstanceStatus.RUNNING,
                                    ProcessInstance.next_timer_at <= now)
                             .with_for_update(skip_locked=True).execution_options(populate_existing=True))


def is_due(instance_id: int, now: datetime) -> bool:
    """Is instance ``instance_id`` running with a timer due at ``now`` (as committed; no lock taken)?"""
    return db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance).where(
        ProcessInstance.id == instance_id, ProcessInstance.status == InstanceStatus.RUNNING,
        ProcessInstance.next_timer_at <= now)) > 0


def record_incident(failure: ActionFailed, *, stop_instance: bool = False,
                    details: Mapping[str, Any] | None = None) -> Incident | None:
    """Keep the real error of a rolled-back action (call after the rollback, then commit). An instance that ran out
    of its step budget stops whatever the caller asks (``stop_instance``).

    ``details`` adds to what the error says (e.g. the service task a failed step started from).
    """
    if failure.instance_id is None:
        return None
    error = failure.error
    stop_instance = stop_instance or isinstance(error, BudgetExceeded)  # it would only spend its budget again
    incident = Incident(instance_id=failure.instance_id, action=failure.action,
                        bpmn_id=error.bpmn_id,
                        error_type=type(error.__cause__ or error).__name__, message=str(error),
                        details={"code": error.code, "task_id": error.task_id, "task_name": error.task_name,
                                 "actor_id": failure.actor_id, **dict(details or {})})
    db.session.add(incident)
    if stop_instance:
        instance = db.session.get(ProcessInstance, failure.instance_id)
        if instance is not None:
            instance.status = InstanceStatus.INCIDENT
    db.session.flush()
    audit.record("instance.incident", actor=None, obj=incident, instance_id=failure.instance_id,
                 after={"action": failure.action, "error": incident.message[:500]})
    return incident


# -- the inbox projection -------------------------------------------------------------------------------------

def _open_rows(instance_id: int) -> dict[str, HumanTask]:
    """The instance's open ``human_task`` rows by engine task id, freshly read."""
    return {row.task_guid: row for row in db.session.scalars(
        sa.select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN)
        .execution_options(populate_existing=True))}


def sync_tasks(instance: ProcessInstance, workflow: Any, *, completed: HumanTask | None = None,
               actor: User | None = None, new: bool = False,
               open_rows: dict[str, HumanTask] | None = None, action: str | None = None,
               stop_when_unassignable: bool = True) -> None:
    """Make the open ``human_task`` rows of ``instance`` match the engine's READY user tasks.

    ``new``: the instance was just started, so it has no rows yet; ``open_rows``: the caller has just read
    them (in this transaction, with the instance locked). Both save a query.

    A new task that nobody could work on (its assignee and candidate users are no active users, and it has no
    candidate groups) gets no row: the instance stops (``INCIDENT``) with an incident naming the task and the
    logins, recorded under ``action`` (what was being done); the rest of the step is kept. With
    ``stop_when_unassignable=False`` such a task raises :class:`EngineIncident` instead.
    """
    ready = get_runtime().ready_user_tasks(workflow) if instance.status is InstanceStatus.RUNNING else []
    ready_ids = {info.task_id for info in ready}
    if open_rows is None:
        open_rows = {} if new else _open_rows(instance.id)
    now = utcnow()
    closed = []
    for guid, row in open_rows.items():
        if guid in ready_ids:
            continue
        finished_here = completed is not None and completed.task_guid == guid
        if not (finished_here and row.status is TaskStatus.COMPLETED):  # else already on record (complete_task)
            row.status = TaskStatus.COMPLETED if finished_here else TaskStatus.CANCELLED
            row.completed_at = now
            row.completed_by_id = actor.id if finished_here and actor else None
        closed.append(row)
    if closed:
        # Only open tasks need candidates: keeps the inbox's index small. One statement for all of them.
        db.session.execute(sa.delete(TaskCandidate).where(TaskCandidate.task_id.in_([row.id for row in closed]))
                           .execution_options(synchronize_session=False))
        for row in closed:
            db.session.expire(row, ["candidates"])
    notifications.tasks_closed(closed)
    known = {user.login: user for user in (actor, instance.initiator) if user is not None and user.active}
    arriving = [info for info in ready if info.task_id not in open_rows]
    known.update(_users_by_login(sorted({login for info in arriving for login in
                                         (*info.candidate_users, *([info.assignee] if info.assignee else []))
                                         if login not in known})))  # one query for all (a multi-instance: many)
    scopes: dict[str, int | None] = {}
    created, unassignable = [], []
    for info in ready:
        if info.task_id not in open_rows:
            task = _new_task(instance, info, known, scopes)
            if task.assignee is not None or task.candidates:
                created.append((info, task))
            else:
                unassignable.append((info, task))
                if task in db.session:
                    db.session.expunge(task)
    if unassignable and not stop_when_unassignable:
        raise _unassignable_error(unassignable[0][0])
    db.session.add_all([task for _info, task in created])
    db.session.flush()
    notifications.tasks_opened([task for _info, task in created], actor=actor)
    if unassignable:
        _stop_unassignable(instance, unassignable[0][0], action or ("start" if new else "complete" if completed
                                                                    else "service"), actor)
    if workflow is not None and instance.status is InstanceStatus.RUNNING:
        service_queue.queue_started(instance, workflow)


def _unassignable_error(info: UserTaskInfo) -> EngineIncident:
    """Camunda 7 would create a task nobody sees; we stop the instance instead (an administrator fixes the user
    or the data, then retries)."""
    logins = [*([info.assignee] if info.assignee else []), *info.candidate_users]
    who = (f"is assigned to {', '.join(repr(login) for login in logins)}, none of them an active user, and has no "
           "candidate groups" if logins else "has no assignee, candidate users or candidate groups")
    return EngineIncident(
        f"Task {info.name or info.bpmn_id!r} {who}, so nobody can see or complete it; create or activate the user "
        "(or correct the process data), then retry", code="task_unassignable",
        bpmn_id=info.bpmn_id, task_id=info.task_id, task_name=info.name,
        params={"logins": logins})


def _stop_unassignable(instance: ProcessInstance, info: UserTaskInfo, action: str, actor: User | None) -> None:
    """Keep what was done (the step that reached the task is sound) but stop the instance with an incident."""
    error = _unassignable_error(info)
    incident = Incident(instance_id=instance.id, action=action, bpmn_id=info.bpmn_id,
                        error_type=type(error).__name__, message=str(error),
                        details={"code": error.code, "task_id": info.task_id, "task_name": info.name,
                                 "logins": error.params["logins"], "actor_id": actor.id if actor else None})
    db.session.add(incident)
    instance.status = InstanceStatus.INCIDENT
    db.session.flush()
    audit.record("instance.incident", actor=None, obj=incident, instance_id=instance.id,
                 after={"action": action, "error": incident.message[:500]})


def resync_tasks(instance: ProcessInstance, actor: User) -> None:
    """Rebuild the inbox rows of a (locked, running) instance from its stored state, e.g. once an administrator
    has fixed the user a task is assigned to; a task that still nobody can work on raises :class:`ActionFailed`."""
    with _acting(instance, "retry", actor) as context:
        sync_tasks(instance, context.workflow, actor=actor, stop_when_unassignable=False)


def _users_by_login(logins: list[str]) -> dict[str, User]:
    if not logins:
        return {}
    users = db.session.scalars(sa.select(User).where(User.login.in_(logins), User.active.is_(True)))
    return {user.login: user for user in users}


def _new_task(instance: ProcessInstance, info: UserTaskInfo, known: Mapping[str, User],
              scopes: dict[str, int | None] | None = None) -> HumanTask:
    """The inbox row of a new task; ``scopes`` keeps each role's scope for the instance's further new tasks."""
    logins = [*info.candidate_users, *([info.assignee] if info.assignee else [])]
    named = {login: known[login] for login in logins if login in known}
    named.update(_users_by_login([login for login in logins if login not in known]))
    task = HumanTask(instance=instance, task_guid=info.task_id, bpmn_id=info.bpmn_id, name=info.name or info.bpmn_id,
                     lane=info.lane, process_key=instance.process_key, subject_org_id=instance.subject_org_id,
                     form_key=info.form_key, due_at=info.due_at, follow_up_at=info.follow_up_at,
                     priority=info.priority, assignee=named.get(info.assignee) if info.assignee else None)
    claimable = task.assignee is None
    for code in info.role_codes:
        if code not in ROLE_CODES:
            raise EngineIncident(f"Task {info.name or info.bpmn_id!r} names the unknown role {code!r}",
                                 code="unknown_role", bpmn_id=info.bpmn_id, task_id=info.task_id)
        if scopes is None or code not in scopes:
            scope = role_service.scope_of(code, instance.subject_org)
            if scopes is not None:
                scopes[code] = scope
        else:
            scope = scopes[code]
        task.candidates.append(TaskCandidate(role=Role(code), org_id=scope or instance.subject_org_id,
                                             claimable=claimable, due_at=info.due_at))
    for login in info.candidate_users:
        if login in named:
            task.candidates.append(TaskCandidate(user_id=named[login].id, claimable=claimable, due_at=info.due_at))
    return task


def _json_safe(data: Mapping[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str | int | float | bool) or value is None:
            safe[key] = value
        elif isinstance(value, list | tuple):
            safe[key] = [v if isinstance(v, str | int | float | bool) or v is None else str(v) for v in value]
        elif isinstance(value, Mapping):
            safe[key] = _json_safe(value)
        else:
            safe[key] = str(value)
    return safe


# -- reading instances (the API and the pages) ----------------------------------------------------------------

def may_start_for(user: User, org: Org) -> bool:
    """May ``user`` start a process about ``org``?

    Their own organisation, one of their subgroups, or anything at or below an organisation where they
    hold (or act by delegation in) a role; an administrator's scope is the same rule.
    """
    if org.id == user.org_id or any(membership.org_id == org.id for membership in user.memberships):
        return True
    return any(org.path.startswith(held.org.path) for held in role_service.roles_of(user))


def started_by(user: User, *, process_key: str | None = None, status: InstanceStatus | None = None) -> sa.Select:
    """The instances ``user`` started, newest first."""
    query = sa.select(ProcessInstance).where(ProcessInstance.initiator_id == user.id)
    if process_key:
        query = query.where(ProcessInstance.process_key == process_key)
    if status is not None:
        query = query.where(ProcessInstance.status == status)
    return query.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())


def open_tasks(instance: ProcessInstance) -> list[HumanTask]:
    return list(db.session.scalars(sa.select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)))


def history(instance: ProcessInstance) -> list[AuditEvent]:
    """The instance's audit events in the order they happened."""
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.instance_id == instance.id)
                                   .order_by(AuditEvent.id)))


def comments(instance: ProcessInstance) -> list[TaskComment]:
    return list(db.session.scalars(sa.select(TaskComment).where(TaskComment.instance_id == instance.id)
                                   .order_by(TaskComment.id)))


def incidents(instance: ProcessInstance) -> list[Incident]:
    return list(db.session.scalars(sa.select(Incident).where(Incident.instance_id == instance.id)
                                   .order_by(Incident.id)))


def user_task_info(task: HumanTask) -> UserTaskInfo | None:
    """The engine's view of an open task (form fields with current values...), read-only: nothing is saved.

    None when the task is no longer READY in the stored state. Engine errors propagate as ``EngineError``.
    """
    if task.status is not TaskStatus.OPEN:
        return None
    runtime = get_runtime()
    workflow = runtime.load(engine_definition(task.instance.definition), task.instance.state_json)
    return next((info for info in runtime.ready_user_tasks(workflow) if info.task_id == task.task_guid), None)


def task_names(instance: ProcessInstance) -> dict[str, str]:
    """Bpmn id -> name of the human tasks of the instance's version."""
    return get_runtime().user_task_names(engine_definition(instance.definition))


def upcoming_steps(instance: ProcessInstance, after: list[str], done: set[str]) -> list[str]:
    """Names of the human tasks the diagram can reach from ``after`` (every branch followed), nearest first."""
    steps = get_runtime().upcoming_user_tasks(engine_definition(instance.definition), after, done)
    return [name for _bpmn_id, name in steps]
