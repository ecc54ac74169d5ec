"""Engine lifecycles: our persisted stack (PostgreSQL) against SpiffWorkflow alone with a JSON round trip per step.

Usage: ``.venv/bin/python -m benchmarks.engine [--lifecycles 300] [--database-url postgresql://...] [--no-write]``

One lifecycle of ``hours_review`` (tests/web/diagrams): a teacher starts it, completes ``submit`` (the
``test.check_hours`` service task runs in the same step), a school officer completes ``review`` with
``approved``, the instance ends. Three steps either way:

* ours: ``instances.start`` / ``instances.complete_task(..., tasks.authorise_complete)``, each step one
  transaction committed to PostgreSQL in a throw-away schema, on a fresh session (as a request has);
* SpiffWorkflow alone: stock ``CamundaParser`` and ``BpmnWorkflowSerializer``, ``deserialize_json`` before
  and ``serialize_json`` after every step (the full blob, spec included, as the stock serializer stores it),
  in memory, on a stock-compatible copy of the same diagram (see :func:`stock_diagram`).

SpiffWorkflow runs once alone, before the application is loaded, and once interleaved with ours in rounds
(so a busy machine slows both alike); the ratio is taken against the faster of the two. A second pass of
our stack splits its time into phases and attributes every SQL statement to the code that issued it; a
third runs under cProfile. The figures go into docs/benchmarks.md (section "Engine lifecycles").
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import re
import secrets
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache, wraps
from importlib.metadata import version
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.report import write_section

ROOT = Path(__file__).resolve().parent.parent
DIAGRAM = ROOT / "tests" / "web" / "diagrams" / "hours_review.bpmn"
STEPS = ("start", "submit", "review")
SUBMIT = {"title": "信息技术培训", "hours": 12, "category": "training"}
REVIEW = {"approved": True, "comment": "同意"}
ROUNDS = 5
GOAL = 0.5  # our lifecycles/s at least half of SpiffWorkflow's own JSON round trip

# What the stock parser and its eval-based script engine cannot run, and the stock-compatible replacement.
STOCK_EDITS = (
    (b">PT48H<", b'>"PT48H"<', 'bare timer `PT48H` → Python string `"PT48H"`'),
    (b'"bpmn:tFormalExpression">${approved}<', b'"bpmn:tFormalExpression">approved == True<',
     "condition `${approved}` → `approved == True`"),
    (b'"bpmn:tFormalExpression">${!approved}<', b'"bpmn:tFormalExpression">approved == False<',
     "condition `${!approved}` → `approved == False`"),
)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def _new_steps() -> dict[str, list[float]]:
    return {name: [] for name in STEPS}


def _per_second(steps: dict[str, list[float]]) -> float:
    return len(steps[STEPS[0]]) / sum(sum(values) for values in steps.values())


# ---------------------------------------------------------------------------------------------------------
# SpiffWorkflow alone
# ---------------------------------------------------------------------------------------------------------

def stock_diagram(xml: bytes) -> bytes:
    """The same process, edited in memory so that the stock ``CamundaParser`` and ``eval`` engine run it.

    The service task needs no edit: the stock ``ServiceTask`` does nothing and stays STARTED, and the
    baseline completes it by hand with the result our handler would give.
    """
    for old, new, _ in STOCK_EDITS:
        if xml.count(old) != 1:
            raise SystemExit(f"{DIAGRAM.name} changed: expected {old!r} exactly once; update STOCK_EDITS")
        xml = xml.replace(old, new)
    return xml


class SpiffLifecycle:
    """The same three steps on SpiffWorkflow alone, with ``deserialize_json``/``serialize_json`` around each."""

    def __init__(self, xml: bytes) -> None:
        from lxml import etree
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
        from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
        from SpiffWorkflow.camunda.parser import CamundaParser
        from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

        parser = CamundaParser()
        parser.add_bpmn_xml(etree.fromstring(stock_diagram(xml)), filename=DIAGRAM.name)
        self.spec = parser.get_spec("hours_review")
        self.subprocess_specs = parser.get_subprocess_specs("hours_review")
        config = dict(CAMUNDA_CONFIG)
        config[ServiceTask] = BpmnTaskSpecConverter  # CAMUNDA_CONFIG has no converter for the stock ServiceTask
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
        self.state_bytes = 0

    @staticmethod
    def _ready(workflow: Any, bpmn_id: str) -> Any:
        from SpiffWorkflow.util.task import TaskState

        (task,) = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert task.task_spec.bpmn_id == bpmn_id, task.task_spec.bpmn_id
        return task

    def start(self) -> str:
        from SpiffWorkflow.bpmn import BpmnWorkflow

        workflow = BpmnWorkflow(self.spec, self.subprocess_specs)
        workflow.task_tree.data.update({"subject_org": "BENCH-S1-MATH", "initiator": "bench_teacher"})
        workflow.do_engine_steps()
        return self.serializer.serialize_json(workflow)

    def submit(self, state: str) -> str:
        from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
        from SpiffWorkflow.util.task import TaskState

        workflow = self.serializer.deserialize_json(state)
        task = self._ready(workflow, "submit")
        task.data.update({**SUBMIT, "course_date": None, "online": False})
        task.run()
        workflow.do_engine_steps()
        (service,) = workflow.get_tasks(state=TaskState.STARTED, spec_class=ServiceTask)
        service.data["requested"] = service.data["hours"]
        service.data["hours_ok"] = service.data["requested"] <= 40
        service.complete()
        workflow.do_engine_steps()
        return self.serializer.serialize_json(workflow)

    def review(self, state: str) -> str:
        workflow = self.serializer.deserialize_json(state)
        task = self._ready(workflow, "review")
        task.data.update(REVIEW)
        task.data["reviewed_by_school"] = task.data["approved"]
        task.run()
        workflow.do_engine_steps()
        assert workflow.is_completed()
        return self.serializer.serialize_json(workflow)

    def run(self, steps: dict[str, list[float]] | None = None) -> None:
        t0 = time.perf_counter()
        state = self.start()
        t1 = time.perf_counter()
        state = self.submit(state)
        t2 = time.perf_counter()
        state = self.review(state)
        t3 = time.perf_counter()
        if steps is not None:
            for name, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                steps[name].append(seconds)
        self.state_bytes = len(state.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------------
# Our stack
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cast:
    teacher: int
    officer: int
    subject_org: int


def _setup(db: Any) -> Cast:
    from tests.workflow_support import hours_review_files  # registers the test.check_hours topic
    from webapp.models import Role
    from webapp.services import definitions
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code="BENCH", name="基准市", type="city")
    county = create_org(code="BENCH-K1", name="基准县", type="county", parent=city)
    school = create_org(code="BENCH-S1", name="基准中学", type="school", parent=county)
    maths = create_org(code="BENCH-S1-MATH", name="数学备课组", type="subgroup", parent=school)
    password = secrets.token_urlsafe(16) + "Aa1!"
    teacher = create_user(login="bench_teacher", password=password, display_name="教师")
    assign_role(teacher, Role.TEACHER, school)
    officer = create_user(login="bench_officer", password=password, display_name="师训专干")
    assign_role(officer, Role.SCHOOL_OFFICER, school)
    definitions.deploy(hours_review_files(), None)
    db.session.commit()
    cast = Cast(teacher.id, officer.id, maths.id)
    db.session.remove()
    return cast


class Lifecycle:
    """The three steps through the service layer, each a request-like transaction on a fresh session."""

    def __init__(self, db: Any, cast: Cast, authorise: Callable[..., None] | None = None) -> None:
        from webapp.services import tasks

        self.db = db
        self.cast = cast
        self.authorise = authorise or tasks.authorise_complete

    def start(self) -> int:
        from webapp.models import Org, User
        from webapp.services import instances

        session = self.db.session
        teacher = session.get(User, self.cast.teacher)
        instance = instances.start("hours_review", subject_org=session.get(Org, self.cast.subject_org),
                                   initiator=teacher, data={}, title="学时申请")
        instance_id = instance.id
        session.commit()
        self.db.session.remove()
        return instance_id

    def complete(self, task_id: int, user_id: int, data: dict[str, Any]) -> None:
        from webapp.models import HumanTask, User
        from webapp.services import instances

        session = self.db.session
        instances.complete_task(session.get(HumanTask, task_id), session.get(User, user_id), data, self.authorise)
        session.commit()
        self.db.session.remove()

    def open_task(self, instance_id: int) -> int:
        """The inbox read between two steps (not timed): the id of the instance's one open task."""
        from webapp.models import HumanTask, TaskStatus

        task_id = self.db.session.scalar(sa.select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                                       HumanTask.status == TaskStatus.OPEN))
        self.db.session.remove()
        return task_id

    def run(self, steps: dict[str, list[float]] | None = None, around: Callable[[], Any] | None = None) -> None:
        """One lifecycle; ``around`` (a context manager factory) wraps each timed step."""
        timings = []
        instance_id = 0
        for name in STEPS:
            task_id = self.open_task(instance_id) if name != "start" else 0
            begin = time.perf_counter()
            with around() if around else _nothing():
                if name == "start":
                    instance_id = self.start()
                elif name == "submit":
                    self.complete(task_id, self.cast.teacher, SUBMIT)
                else:
                    self.complete(task_id, self.cast.officer, REVIEW)
            timings.append(time.perf_counter() - begin)
        if steps is not None:
            for name, seconds in zip(STEPS, timings, strict=True):
                steps[name].append(seconds)


class EngineOnly:
    """Our engine layer alone, no database: the same three steps with a JSON state round trip per step.

    ``WorkflowRuntime.start``/``load``/``complete_user_task``/``dump`` plus what every action also asks of it
    (ready tasks with routing and forms, next timer, waiting messages, completion), on the cached spec.
    """

    def __init__(self, spec_json: str) -> None:
        from webapp.services.runtime import get_runtime

        self.runtime = get_runtime()
        self.spec = self.runtime.definition(spec_json)

    def _after(self, workflow: Any) -> tuple[str, list[Any]]:
        runtime = self.runtime
        state, _ = runtime.dump(workflow)
        ready = runtime.ready_user_tasks(workflow)
        runtime.next_timer_at(workflow)
        runtime.waiting_messages(workflow)
        runtime.is_completed(workflow)
        return state, ready

    def _complete(self, state: str, ready: list[Any], data: dict[str, Any]) -> tuple[str, list[Any]]:
        workflow = self.runtime.load(self.spec, state)
        self.runtime.complete_user_task(workflow, ready[0].task_id, data)
        return self._after(workflow)

    def run(self, steps: dict[str, list[float]] | None = None) -> None:
        t0 = time.perf_counter()
        state, ready = self._after(self.runtime.start(self.spec, {"subject_org": "BENCH-S1-MATH"},
                                                      initiator="bench_teacher"))
        t1 = time.perf_counter()
        first = state
        state, ready = self._complete(state, ready, SUBMIT)
        second = state
        t2 = time.perf_counter()
        state, ready = self._complete(state, ready, REVIEW)
        t3 = time.perf_counter()
        assert not ready
        assert self.runtime.is_completed(self.runtime.load(self.spec, state))
        self.last_states = (first, second, state)
        if steps is not None:
            for name, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                steps[name].append(seconds)


class DatabaseFloor:
    """The fewest round trips a persisted step can take, on the same tables, in raw psycopg (no ORM, no engine).

    What every step of ours must keep, written as PostgreSQL-only SQL: one locking read that also checks the
    task is open and the actor is a candidate; one read of the next task's role holders (the candidate scope
    and the people to notify); then one pipelined batch of data-modifying CTEs (instance state, the closed
    and the new ``human_task`` with its candidates, the audit event, the notification) and COMMIT. States are
    real ones of the same size as ours. This is a floor for the design, not a second implementation: no
    form validation, no delegations, no SQLite.
    """

    def __init__(self, url: str, schema: str, cast: Cast, states: tuple[str, str, str]) -> None:
        import psycopg

        self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                                    options=f"-csearch_path={schema}")
        self.cast = cast
        self.states = states
        self.definition_id = self.conn.execute("SELECT id FROM process_definition WHERE key = 'hours_review'"
                                               ).fetchone()[0]
        self.conn.commit()

    def _write(self, sql: str, params: dict[str, Any]) -> Any:
        with self.conn.pipeline():
            cursor = self.conn.execute(sql, params)
            self.conn.execute("COMMIT")
        return cursor.fetchone()

    def start(self) -> tuple[int, int]:
        params = {"definition": self.definition_id, "org": self.cast.subject_org, "user": self.cast.teacher,
                  "state": self.states[0], "guid": secrets.token_hex(16), "after": '{"process": "hours_review"}'}
        instance_id, task_id = self._write("""
            WITH i AS (INSERT INTO process_instance (definition_id, process_key, title, subject_org_id, initiator_id,
                         status, state_json, serializer_version, waiting_messages, summary, started_at, lock_version)
                       VALUES (%(definition)s, 'hours_review', 'floor', %(org)s, %(user)s, 'running', %(state)s,
                               '3.2', '[]', '{}', now(), 1) RETURNING id),
                 t AS (INSERT INTO human_task (instance_id, task_guid, bpmn_id, name, process_key, subject_org_id,
                         assignee_id, priority, status, created_at)
                       SELECT id, %(guid)s, 'submit', 'submit', 'hours_review', %(org)s, %(user)s, 50, 'open', now()
                       FROM i RETURNING id, instance_id),
                 c AS (INSERT INTO task_candidate (task_id, user_id, claimable) SELECT id, %(user)s, false FROM t),
                 a AS (INSERT INTO audit_event (at, actor_id, action, object_type, object_id, after, instance_id)
                       SELECT now(), %(user)s, 'instance.start', 'process_instance', id::text, %(after)s::json, id
                       FROM i)
            INSERT INTO notification (user_id, kind, title, body, link, instance_id, created_at)
            SELECT %(user)s, 'task.opened', 'floor', '', '/inbox', instance_id, now() FROM t
            RETURNING instance_id, (SELECT id FROM t)""", params)
        return instance_id, task_id

    def complete(self, task_id: int, user_id: int, state: str, next_task: bool) -> int | None:
        conn = self.conn
        row = conn.execute("""
            SELECT i.id, i.lock_version, i.state_json, d.content_hash, t.status,
                   EXISTS (SELECT 1 FROM task_candidate c LEFT JOIN role_assignment r
                             ON r.role = c.role AND r.org_id = c.org_id AND r.user_id = %(user)s
                           WHERE c.task_id = t.id AND (c.user_id = %(user)s OR r.id IS NOT NULL))
            FROM human_task t JOIN process_instance i ON i.id = t.instance_id
                 JOIN process_definition d ON d.id = i.definition_id
            WHERE t.id = %(task)s FOR UPDATE OF i, t""", {"task": task_id, "user": user_id}).fetchone()
        instance_id, lock_version, _, _, status, allowed = row
        assert status == "open"
        assert allowed
        params = {"instance": instance_id, "version": lock_version, "state": state, "task": task_id,
                  "user": user_id, "guid": secrets.token_hex(16), "org": self.cast.subject_org,
                  "after": '{"task": "floor"}'}
        if not next_task:
            self._write("""
                WITH i AS (UPDATE process_instance SET state_json = %(state)s, lock_version = lock_version + 1,
                             status = 'completed', ended_at = now(), next_timer_at = NULL
                           WHERE id = %(instance)s AND lock_version = %(version)s RETURNING id),
                     t AS (UPDATE human_task SET status = 'completed', completed_at = now(),
                             completed_by_id = %(user)s WHERE id = %(task)s RETURNING id),
                     c AS (DELETE FROM task_candidate WHERE task_id IN (SELECT id FROM t))
                INSERT INTO audit_event (at, actor_id, action, object_type, object_id, after, instance_id)
                SELECT now(), %(user)s, 'task.complete', 'human_task', %(task)s::text, %(after)s::json, id FROM i
                RETURNING id""", params)
            return None
        holders = conn.execute("""
            SELECT r.user_id, r.org_id FROM role_assignment r JOIN org o ON o.id = r.org_id
            WHERE r.role = 'school_officer' AND r.org_id IN (SELECT p.id FROM org p, org s
                  WHERE s.id = %(org)s AND s.path LIKE p.path || '%%')""", {"org": self.cast.subject_org}).fetchall()
        params["scope"] = holders[0][1]
        params["holders"] = [user for user, _ in holders]
        (new_task,) = self._write("""
            WITH i AS (UPDATE process_instance SET state_json = %(state)s, lock_version = lock_version + 1,
                         next_timer_at = now() + interval '48 hours'
                       WHERE id = %(instance)s AND lock_version = %(version)s RETURNING id),
                 t AS (UPDATE human_task SET status = 'completed', completed_at = now(), completed_by_id = %(user)s
                       WHERE id = %(task)s RETURNING id),
                 c AS (DELETE FROM task_candidate WHERE task_id IN (SELECT id FROM t)),
                 n AS (INSERT INTO human_task (instance_id, task_guid, bpmn_id, name, process_key, subject_org_id,
                         priority, status, created_at)
                       SELECT id, %(guid)s, 'review', 'review', 'hours_review', %(org)s, 50, 'open', now() FROM i
                       RETURNING id, instance_id),
                 nc AS (INSERT INTO task_candidate (task_id, role, org_id, claimable)
                        SELECT id, 'school_officer', %(scope)s, true FROM n),
                 a AS (INSERT INTO audit_event (at, actor_id, action, object_type, object_id, after, instance_id)
                       SELECT now(), %(user)s, 'task.complete', 'human_task', %(task)s::text, %(after)s::json, id
                       FROM i)
            INSERT INTO notification (user_id, kind, title, body, link, instance_id, created_at)
            SELECT holder, 'task.opened', 'floor', '', '/inbox', n.instance_id, now()
            FROM n, unnest(%(holders)s::bigint[]) AS holder
            RETURNING (SELECT id FROM n)""", params)
        return new_task

    def run(self, steps: dict[str, list[float]] | None = None) -> None:
        t0 = time.perf_counter()
        _, task_id = self.start()
        t1 = time.perf_counter()
        review = self.complete(task_id, self.cast.teacher, self.states[1], next_task=True)
        t2 = time.perf_counter()
        self.complete(review, self.cast.officer, self.states[2], next_task=False)
        t3 = time.perf_counter()
        if steps is not None:
            for name, seconds in zip(STEPS, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                steps[name].append(seconds)

    def close(self) -> None:
        self.conn.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class Phases:
    """Exclusive wall time per phase (time goes to the innermost phase entered) and every SQL statement."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.stack: list[str] = []
        self.mark = 0.0
        self.begins = 0
        self.commits = 0
        #: (statement kind, where it was issued, seconds)
        self.statements: list[tuple[str, str, float]] = []
        self._pending: tuple[Any, str, float] | None = None

    def enter(self, name: str) -> None:
        now = time.perf_counter()
        if self.stack:
            self.totals[self.stack[-1]] += now - self.mark
        self.stack.append(name)
        self.mark = now

    def leave(self) -> None:
        now = time.perf_counter()
        self.totals[self.stack.pop()] += now - self.mark
        self.mark = now

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.enter(name)
        try:
            yield
        finally:
            self.leave()

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return func(*args, **kwargs)

        return timed

    def before_execute(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not self.stack:
            return  # the untimed inbox read
        self.enter("sql")
        self._pending = (sys._getframe(1), statement, self.mark)

    def after_execute(self, *_: Any) -> None:
        if self._pending is None:
            return
        self.leave()
        frame, statement, began = self._pending
        self._pending = None
        self.statements.append((_statement_kind(statement), _where(frame), self.mark - began))
        del frame
        self.mark = time.perf_counter()  # the bookkeeping above counts for no phase

    def on_begin(self, *_: Any) -> None:
        if self.stack:
            self.begins += 1


PHASE_LABELS = {
    "engine": "engine: `WorkflowRuntime` (load, act, dump, ready tasks, timers)",
    "sql": "PostgreSQL: statements and COMMIT (wire + server)",
    "flush": "SQLAlchemy flush (unit of work, Python side)",
    "orm": "SQLAlchemy queries, `get` and lazy loads (compile, cache keys, rows to objects; Python side)",
    "session": "SQLAlchemy session commit and close bookkeeping (Python side)",
    "projection": "projection: `instances.sync_tasks`, `_new_task` (Python side)",
    "roles": "role look-ups: `roles.resolve`, `roles.roles_of` (Python side)",
    "authorise": "authorisation: `tasks.authorise_complete` (Python side)",
    "audit": "audit: `audit.record`, `instances._json_safe`",
    "other": "the rest: service code in `instances`/`tasks`, attribute access, session set-up",
}

ENGINE_METHODS = ("definition", "start", "load", "dump", "ready_user_tasks", "complete_user_task", "next_timer_at",
                  "waiting_messages", "is_completed")


@contextmanager
def instrumented(db: Any, phases: Phases) -> Iterator[Callable[..., None]]:
    """Wrap the layers with :class:`Phases`, in this process only (nothing in webapp/ is edited)."""
    from sqlalchemy.orm import Session

    from webapp.engine import WorkflowRuntime
    from webapp.services import audit, instances, roles, tasks

    patches: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)
        patches.append((owner, name, original))
        setattr(owner, name, phases.wrap(phase, original))

    for method in ENGINE_METHODS:
        patch(WorkflowRuntime, method, "engine")
    patch(instances, "sync_tasks", "projection")
    patch(instances, "_new_task", "projection")
    patch(roles, "resolve", "roles")
    patch(roles, "roles_of", "roles")
    patch(audit, "record", "audit")
    patch(instances, "_json_safe", "audit")
    patch(Session, "flush", "flush")
    patch(Session, "execute", "orm")
    patch(Session, "commit", "session")
    patch(Session, "close", "session")
    dialect = db.engine.dialect
    commit = dialect.do_commit

    def timed_commit(connection: Any) -> None:
        if phases.stack:
            phases.commits += 1
        with phases.phase("sql"):
            commit(connection)

    dialect.do_commit = timed_commit
    listeners = (("before_cursor_execute", phases.before_execute), ("after_cursor_execute", phases.after_execute),
                 ("begin", phases.on_begin))
    for name, listener in listeners:
        sa.event.listen(db.engine, name, listener)
    try:
        yield phases.wrap("authorise", tasks.authorise_complete)
    finally:
        for name, listener in listeners:
            sa.event.remove(db.engine, name, listener)
        del dialect.do_commit  # back to the class attribute
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)


_STATEMENT = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM)\s", re.I)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.I)


def _statement_kind(statement: str) -> str:
    match = _STATEMENT.match(statement)
    if not match:
        return statement.split()[0].upper()
    verb = match.group(1).upper()
    if verb == "SELECT":
        table = _FROM.search(statement)
        return f"SELECT {table.group(1) if table else '?'}"
    return f"{verb.split()[0]} {statement[match.end():].split()[0]}"


@lru_cache(maxsize=256)
def _relative(path: str) -> str:
    return str(Path(path).resolve().relative_to(ROOT))


def _where(frame: Any) -> str:
    """The innermost function of ours that led to a statement (the benchmark's own wrappers are skipped)."""
    while frame is not None:
        path, name = frame.f_code.co_filename, frame.f_code.co_name
        if "/webapp/" in path:
            return f"{_relative(path)}:{name}"
        if path == __file__ and name in ("start", "complete"):
            return "the step itself (`session.get`, `commit()`)"
        frame = frame.f_back
    return "?"


def _sql_table(phases: Phases, lifecycles: int) -> list[tuple[str, str, float, float]]:
    grouped: dict[tuple[str, str], list[float]] = defaultdict(list)
    for kind, where, seconds in phases.statements:
        grouped[(kind, where)].append(seconds)
    rows = [(kind, where, len(values) / lifecycles, sum(values) / lifecycles * 1000)
            for (kind, where), values in grouped.items()]
    return sorted(rows, key=lambda row: -row[3])


def _hotspots(profile: cProfile.Profile, lifecycles: int) -> tuple[list[tuple[str, float, float]], list]:
    """(webapp functions by cumulative time, top functions by own time), in ms per lifecycle."""
    stats = pstats.Stats(profile)
    ours, own = [], []
    for (filename, _, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        parts = Path(filename).parts
        if "site-packages" in parts:
            where = "/".join(parts[parts.index("site-packages") + 1:])
        elif "webapp" in parts:
            where = "/".join(parts[parts.index("webapp"):])
        else:
            where = Path(filename).name
        label = f"{where}:{name}"
        if where.startswith("webapp/"):
            ours.append((label, cumtime / lifecycles * 1000, calls / lifecycles))
        own.append((label, tottime / lifecycles * 1000, calls / lifecycles))
    ours.sort(key=lambda row: -row[1])
    own.sort(key=lambda row: -row[1])
    return ours, own


@dataclass
class Figures:
    ours: dict[str, list[float]] = field(default_factory=_new_steps)
    spiff: dict[str, list[float]] = field(default_factory=_new_steps)
    spiff_alone: dict[str, list[float]] = field(default_factory=_new_steps)
    engine_only: dict[str, list[float]] = field(default_factory=_new_steps)
    floor: dict[str, list[float]] = field(default_factory=_new_steps)
    extra: dict[str, Any] = field(default_factory=dict)


def run(database_url: str, lifecycles: int, warmup: int, phased: int, profiled: int) -> Figures:
    figures = Figures()
    spiff = SpiffLifecycle(DIAGRAM.read_bytes())
    for _ in range(warmup):
        spiff.run()
    for _ in range(lifecycles):  # alone: before the application exists in this process
        spiff.run(figures.spiff_alone)

    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import normalise_database_url
    from webapp.extensions import db
    from webapp.models import AuditEvent, InstanceStatus, ProcessDefinition, ProcessInstance

    url = normalise_database_url(database_url)
    schema = f"bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "b" * 40,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}}})
    try:
        with app.app_context():
            upgrade()
            cast = _setup(db)
            ours = Lifecycle(db, cast)
            engine_only = EngineOnly(db.session.scalar(sa.select(ProcessDefinition.spec_json)))
            engine_only.run()
            floor = DatabaseFloor(url, schema, cast, engine_only.last_states)
            for _ in range(warmup):
                spiff.run()
                ours.run()
                engine_only.run()
                floor.run()
            per_round = [lifecycles // ROUNDS + (1 if r < lifecycles % ROUNDS else 0) for r in range(ROUNDS)]
            for count in per_round:
                for _ in range(count):
                    spiff.run(figures.spiff)
                for _ in range(count):
                    ours.run(figures.ours)
                for _ in range(count):
                    engine_only.run(figures.engine_only)
                for _ in range(count):
                    floor.run(figures.floor)
            floor.close()

            phases = Phases()
            with instrumented(db, phases) as authorise:
                timed = Lifecycle(db, cast, authorise)
                for _ in range(phased):
                    timed.run(around=lambda: phases.phase("other"))
            sql_rows = _sql_table(phases, phased)
            statements = len(phases.statements) / phased

            profile = cProfile.Profile()
            profile.enable()
            for _ in range(profiled):
                ours.run()
            profile.disable()

            runs = warmup + lifecycles + phased + profiled
            completed = db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance)
                                          .where(ProcessInstance.status == InstanceStatus.COMPLETED))
            events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                       .where(AuditEvent.instance_id.is_not(None)))
            floors = warmup + lifecycles
            completed -= floors  # the floor's instances are completed too
            assert completed == runs, f"{completed} of {runs} instances completed"
            events -= 3 * floors
            assert events == 3 * runs, f"{events} audit events for {runs} lifecycles"
            state_bytes = statistics.median(len(s.encode("utf-8")) for s in db.session.scalars(
                sa.select(ProcessInstance.state_json).limit(100)))
            definition = db.session.execute(sa.select(
                sa.func.octet_length(ProcessDefinition.spec_json), sa.func.octet_length(ProcessDefinition.bpmn_xml),
                sa.func.octet_length(sa.cast(ProcessDefinition.source_files, sa.Text)))).one()
            server = db.session.scalar(sa.text("SHOW server_version")).split()[0]
            rtt = []
            for _ in range(200):
                begin = time.perf_counter()
                db.session.execute(sa.text("SELECT 1"))
                rtt.append(time.perf_counter() - begin)
            db.session.remove()
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    hot_ours, hot_own = _hotspots(profile, profiled)
    figures.extra = {
        "phases": {name: seconds / phased * 1000 for name, seconds in phases.totals.items()},
        "phased": phased, "statements": statements, "begins": phases.begins / phased,
        "commits": phases.commits / phased, "sql_rows": sql_rows,
        "hot_ours": hot_ours, "hot_own": hot_own, "profiled": profiled,
        "state_bytes": state_bytes, "spiff_state_bytes": spiff.state_bytes,
        "definition_bytes": tuple(definition), "server": server, "rtt_ms": statistics.median(rtt) * 1000,
    }
    return figures


# ---------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------

def report(figures: Figures) -> str:
    ours_rate, interleaved_rate = _per_second(figures.ours), _per_second(figures.spiff)
    alone_rate = _per_second(figures.spiff_alone)
    spiff_rate = max(interleaved_rate, alone_rate)  # the ratio is taken against the faster baseline
    ratio = ours_rate / spiff_rate
    needed = 1000 / (spiff_rate * GOAL)
    verdict = "met" if ratio >= GOAL else f"**not met** (that needs ≤ {needed:.1f} ms per lifecycle)"
    x = figures.extra
    phased_ms = sum(x["phases"].values())
    spec_bytes, xml_bytes, sources_bytes = x["definition_bytes"]
    lifecycles = len(figures.ours["start"])
    lines = [
        f"Measured {date.today().isoformat()} on this machine ({os.cpu_count()} cores, shared with the PostgreSQL "
        f"server), CPython {platform.python_version()}, SpiffWorkflow {version('SpiffWorkflow')}, SQLAlchemy "
        f"{version('SQLAlchemy')}, psycopg {version('psycopg')}, PostgreSQL {x['server']} on 127.0.0.1 "
        f"(`SELECT 1` round trip {x['rtt_ms']:.2f} ms). {lifecycles:,} timed lifecycles per stack in "
        f"{ROUNDS} interleaved rounds, after warm-up, one process.",
        "",
        "A lifecycle is `hours_review`: start as a teacher → the teacher completes `submit` (the "
        "`test.check_hours` service task runs in that step) → a school officer completes `review` with "
        "`approved` → completed. **Ours**: `instances.start` and `instances.complete_task(…, "
        "tasks.authorise_complete)`, each step one transaction committed to PostgreSQL on a fresh session, as "
        "a request does (load the user and the task, act, commit); the inbox read between steps that finds the "
        "next task's id is not timed. **SpiffWorkflow alone**: stock `CamundaParser` and "
        "`BpmnWorkflowSerializer` (`CAMUNDA_CONFIG`), `deserialize_json` before and `serialize_json` after "
        "every step (the full blob, spec included), in memory.",
        "",
        "| | lifecycles/s | ms per lifecycle |",
        "|---|---:|---:|",
        f"| ours, persisted in PostgreSQL | **{ours_rate:.0f}** | {1000 / ours_rate:.1f} |",
        f"| SpiffWorkflow alone, JSON round trip per step, interleaved with ours | {interleaved_rate:.0f} | "
        f"{1000 / interleaved_rate:.1f} |",
        f"| SpiffWorkflow alone, JSON round trip per step, run first (before the app is loaded) | "
        f"{alone_rate:.0f} | {1000 / alone_rate:.1f} |",
        "",
        f"Ratio ours / SpiffWorkflow (the faster of its two runs, {spiff_rate:.0f}/s) = **{ratio:.2f}**; "
        f"the goal is ≥ {GOAL}: {verdict}.",
        "",
        "### How close can a persisted lifecycle get?",
        "",
        "Two reference runs, interleaved with the others, bound what any persisted design on this stack could "
        "reach:",
        "",
        "| | ms per lifecycle | start p50 | submit p50 | review p50 |",
        "|---|---:|---:|---:|---:|",
        *[f"| {label} | {1000 / _per_second(steps):.2f} | "
          + " | ".join(f"{_percentiles(steps[name])[0]:.2f}" for name in STEPS) + " |"
          for label, steps in (("our engine layer alone, no database (`EngineOnly`)", figures.engine_only),
                               ("database floor, raw psycopg, no ORM, no engine (`DatabaseFloor`)", figures.floor),
                               ("ours, persisted (as above)", figures.ours))],
        "",
        f"`EngineOnly` is what every step asks of `WorkflowRuntime` (start or load, complete with form "
        "validation, dump, ready tasks with routing and forms, next timer), with a JSON state round trip per step "
        "like the baseline but the spec cached. `DatabaseFloor` is the fewest round trips one step can take on "
        "our tables: a locking read that also checks the task is open and the actor a candidate, a read of the "
        "next task's role holders, then one pipelined batch of data-modifying CTEs (instance, closed and new task "
        "with candidates, audit event, notification) with COMMIT; PostgreSQL-only SQL with no form validation, "
        "delegations or SQLite path. Their sum, "
        f"{1000 / _per_second(figures.engine_only) + 1000 / _per_second(figures.floor):.2f} ms, is a lower "
        f"bound for a persisted lifecycle; the goal needs ≤ {needed:.2f} ms.",
        "",
        "Per step (SpiffWorkflow: both of its runs pooled):",
        "",
        "| step | ours p50 (ms) | ours p95 (ms) | SpiffWorkflow p50 (ms) | SpiffWorkflow p95 (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in STEPS:
        o50, o95 = _percentiles(figures.ours[name])
        s50, s95 = _percentiles(figures.spiff[name] + figures.spiff_alone[name])
        lines.append(f"| {name} | {o50:.2f} | {o95:.2f} | {s50:.2f} | {s95:.2f} |")
    lines += [
        "",
        "### Where our time goes",
        "",
        f"A second pass of {x['phased']} lifecycles with every layer wrapped (exclusive time: SQL issued inside "
        f"the projection counts as PostgreSQL): {phased_ms:.1f} ms per lifecycle against {1000 / ours_rate:.1f} "
        "unwrapped, so read the shares rather than the absolute figures; "
        f"{x['statements']:.0f} SQL statements + {x['begins']:.0f} BEGIN + {x['commits']:.0f} COMMIT = "
        f"{x['statements'] + x['begins'] + x['commits']:.0f} round trips per lifecycle (psycopg sends BEGIN "
        "as its own round trip; its time is inside the first statement's).",
        "",
        "| phase | ms per lifecycle | share |",
        "|---|---:|---:|",
    ]
    for name, value in sorted(x["phases"].items(), key=lambda item: -item[1]):
        lines.append(f"| {PHASE_LABELS.get(name, name)} | {value:.2f} | {value / phased_ms:.0%} |")
    lines += [
        "",
        "SQL per lifecycle by statement and by the innermost function of ours that issued it (a lazy load or "
        "an autoflush counts where it was triggered):",
        "",
        "| statement | issued in | per lifecycle | ms per lifecycle |",
        "|---|---|---:|---:|",
        *[f"| `{kind}` | {where if where.startswith('the ') else f'`{where}`'} | {count:.0f} | {ms:.2f} |"
          for kind, where, count, ms in x["sql_rows"]],
        "",
        f"cProfile of {x['profiled']} lifecycles (the profiler inflates Python time; the order is what counts). "
        "Our functions by cumulative time:",
        "",
        "| function | ms per lifecycle (cumulative) | calls per lifecycle |",
        "|---|---:|---:|",
    ]
    skip = {"webapp/services/instances.py:complete_task", "webapp/services/instances.py:start",
            "webapp/services/instances.py:_acting", "webapp/engine/runtime.py:_engine"}
    shown = [row for row in x["hot_ours"] if row[0] not in skip][:14]
    lines += [f"| `{label}` | {ms:.2f} | {calls:.0f} |" for label, ms, calls in shown]
    lines += [
        "",
        "Top functions by own time, anywhere:",
        "",
        "| function | ms per lifecycle (own) | calls per lifecycle |",
        "|---|---:|---:|",
        *[f"| `{label}` | {ms:.2f} | {calls:.0f} |" for label, ms, calls in x["hot_own"][:10]],
        "",
        f"Sizes: our stored state is {x['state_bytes'] / 1024:.1f} KB per completed instance (state only, the "
        f"spec stays on the definition); SpiffWorkflow's full blob is {x['spiff_state_bytes'] / 1024:.1f} KB. "
        f"Each action also reads the `process_definition` row: spec_json {spec_bytes / 1024:.1f} KB, bpmn_xml "
        f"{xml_bytes / 1024:.1f} KB, source_files {sources_bytes / 1024:.1f} KB.",
        "",
        f"The baseline runs an in-memory copy of `tests/web/diagrams/{DIAGRAM.name}` edited so that the stock "
        "parser and its `eval` script engine can run it: " + "; ".join(why for _, _, why in STOCK_EDITS) + ". Its "
        "service task is the stock `ServiceTask`, which stays STARTED; the baseline sets `requested` and "
        "`hours_ok` and completes it within the submit step. `CAMUNDA_CONFIG` has no converter for that class, "
        "so SpiffWorkflow's own `BpmnTaskSpecConverter` is registered for it. The baseline does no form "
        "validation, sandboxing, routing, authorisation, projection or audit.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifecycles", type=int, default=300, help="timed lifecycles per stack (default 300)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--phased", type=int, default=100, help="lifecycles of the phase/SQL pass")
    parser.add_argument("--profiled", type=int, default=50, help="lifecycles run under cProfile")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    figures = run(args.database_url, args.lifecycles, args.warmup, args.phased, args.profiled)
    text = report(figures)
    print(text)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", "Engine lifecycles",
                      "`benchmarks/engine.py`: full credit-style lifecycles per second, persisted in PostgreSQL "
                      "through our services, against SpiffWorkflow alone with a JSON round trip per step.", text)


if __name__ == "__main__":
    main()
