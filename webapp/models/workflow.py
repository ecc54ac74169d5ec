"""Deployed process definitions, running instances, and the inbox projection of their human tasks."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, TZDateTime, str_enum, utcnow
from webapp.models.org import Org
from webapp.models.role import Role
from webapp.models.user import User

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class DefinitionState(enum.StrEnum):
    LIVE = "live"
    #: A new version of a protected process (one that posts records people are judged by): it starts nothing
    #: until an administrator other than the deployer approves it.
    PENDING = "pending"
    REFUSED = "refused"


class ProcessDefinition(Base):
    """One immutable version of a deployed process (BPMN, its DMN files, and the parsed spec)."""

    __tablename__ = "process_definition"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The BPMN ``process/@id``.
    key: Mapped[str] = mapped_column(sa.String(100))
    version: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(200))
    #: sha256 of the deployed files; deploying the same content again is a no-op.
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    #: {file name: XML text} of every file deployed together (BPMN and DMN).
    # The three big columns load only when read: actions use the spec cached per definition id.
    source_files: Mapped[dict[str, str]] = mapped_column(sa.JSON, deferred=True)
    bpmn_xml: Mapped[str] = mapped_column(sa.Text, deferred=True)
    spec_json: Mapped[str] = mapped_column(sa.Text, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    deployed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    state: Mapped[DefinitionState] = mapped_column(str_enum(DefinitionState, "state"), default=DefinitionState.LIVE,
                                                   server_default=DefinitionState.LIVE.value)
    reviewed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    review_note: Mapped[str | None] = mapped_column(sa.Text)

    deployed_by: Mapped[User | None] = relationship(foreign_keys=[deployed_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    __table_args__ = (
        sa.UniqueConstraint("key", "version"),
        sa.UniqueConstraint("key", "content_hash"),
    )


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    #: An action failed and was rolled back; see its open incidents.
    INCIDENT = "incident"
    #: Held by an administrator: nothing happens (no timers, no completions) until it is resumed.
    SUSPENDED = "suspended"


class ProcessInstance(Base):
    __tablename__ = "process_instance"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    definition_id: Mapped[int] = mapped_column(sa.ForeignKey("process_definition.id", ondelete="RESTRICT"),
                                               index=True)
    #: Denormalised from the definition for listings and filters.
    process_key: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(200))
    #: The organisation the instance is about (the applicant's subgroup, the evaluated school...).
    subject_org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"), index=True)
    initiator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"),
                                                     index=True)
    status: Mapped[InstanceStatus] = mapped_column(str_enum(InstanceStatus, "status"),
                                                   default=InstanceStatus.RUNNING)
    #: SpiffWorkflow's serializer JSON without the spec (the spec lives on the definition).
    state_json: Mapped[str] = mapped_column(sa.Text)
    serializer_version: Mapped[str] = mapped_column(sa.String(16))
    #: Earliest due timer; the timer tick picks instances with ``next_timer_at <= now``.
    next_timer_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    waiting_messages: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: Business data shown in listings (never read by the engine).
    summary: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    lock_version: Mapped[int] = mapped_column(default=1)

    definition: Mapped[ProcessDefinition] = relationship()
    subject_org: Mapped[Org] = relationship()
    initiator: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012 (SQLAlchemy reads it once)
    __table_args__ = (
        sa.Index("ix_process_instance_next_timer_at", "next_timer_at",
                 postgresql_where=sa.text("next_timer_at IS NOT NULL")),
    )


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class HumanTask(Base):
    """The inbox projection of one READY user task, rebuilt in the transaction that changes the instance."""

    __tablename__ = "human_task"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(sa.ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    #: SpiffWorkflow's task id (a UUID): stable for the life of the task.
    task_guid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    bpmn_id: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(200))
    lane: Mapped[str | None] = mapped_column(sa.String(100))
    process_key: Mapped[str] = mapped_column(sa.String(100))
    subject_org_id: Mapped[int] = mapped_column(sa.ForeignKey("org.id", ondelete="RESTRICT"))
    form_key: Mapped[str | None] = mapped_column(sa.String(100))
    #: Set when the diagram names one person (``camunda:assignee``).
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    claimed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    due_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    follow_up_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    priority: Mapped[int] = mapped_column(default=50)
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus, "status"), default=TaskStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    completed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    instance: Mapped[ProcessInstance] = relationship()
    subject_org: Mapped[Org] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    candidates: Mapped[list[TaskCandidate]] = relationship(back_populates="task", cascade="all, delete-orphan")

    __table_args__ = (
        sa.Index("ix_human_task_open_assignee", "assignee_id", postgresql_where=sa.text("status = 'open'")),
        sa.Index("ix_human_task_open_claimed", "claimed_by_id", postgresql_where=sa.text("status = 'open'")),
        # An instance's open tasks by step: a campaign board groups 12,000 of them per school from this index alone.
        sa.Index("ix_human_task_open_instance", "instance_id", "bpmn_id", postgresql_where=sa.text("status = 'open'")),
        # "Done by me", newest first, is one index range (benchmarks/inbox.py).
        sa.Index("ix_human_task_done", "completed_by_id", "completed_at", "id"),  # read backwards: newest first
        # The claimable tasks: a small index of the open, unassigned, unclaimed ones.
        sa.Index("ix_human_task_open_unclaimed", "id", postgresql_include=["due_at"],
                 postgresql_where=sa.text("status = 'open' AND assignee_id IS NULL AND claimed_by_id IS NULL")),
    )


class TaskCandidate(Base):
    """Who may claim a task: holders of ``role`` scoped at ``org``, or one named ``user``."""

    __tablename__ = "task_candidate"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("human_task.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role | None] = mapped_column(str_enum(Role, "role"))
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    #: Copies of the task's state, so "what can I claim" never has to visit ``human_task``: the task is
    #: open, unassigned and unclaimed (kept by the services that claim, unclaim and delegate)...
    claimable: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: ...and its due date, for the list's order.
    due_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    task: Mapped[HumanTask] = relationship(back_populates="candidates")

    __table_args__ = (
        # Index-only probes for "tasks my (role, org) pairs may act on" and "tasks naming me".
        sa.Index("ix_task_candidate_role_org_task", "role", "org_id", "task_id"),
        sa.Index("ix_task_candidate_user_task", "user_id", "task_id"),
        # The same, for claimable tasks only, with the due date: counts and pages from the index alone.
        sa.Index("ix_task_candidate_claimable_role", "role", "org_id", "due_at", "task_id",
                 postgresql_where=sa.text("claimable"), sqlite_where=sa.text("claimable")),
        sa.Index("ix_task_candidate_claimable_user", "user_id", "due_at", "task_id",
                 postgresql_where=sa.text("claimable"), sqlite_where=sa.text("claimable")),
        sa.CheckConstraint("(role IS NOT NULL AND org_id IS NOT NULL) OR user_id IS NOT NULL", name="who"),
    )


class TaskComment(Base):
    __tablename__ = "task_comment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(sa.ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("human_task.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship()


class InstanceWatcher(Base):
    """Someone copied on an instance (抄送): they may read its record and hear when it ends."""

    __tablename__ = "instance_watcher"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(sa.ForeignKey("process_instance.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    added_by: Mapped[User | None] = relationship(foreign_keys=[added_by_id])

    __table_args__ = (sa.UniqueConstraint("instance_id", "user_id"),)


class Incident(Base):
    """An action on an instance that failed and was rolled back, kept with the real error for an admin."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(sa.ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    #: What was being done: ``start``, ``complete``, ``timer``, ``service``...
    action: Mapped[str] = mapped_column(sa.String(40))
    bpmn_id: Mapped[str | None] = mapped_column(sa.String(100))
    error_type: Mapped[str] = mapped_column(sa.String(100))
    message: Mapped[str] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    instance: Mapped[ProcessInstance] = relationship()
    resolved_by: Mapped[User | None] = relationship()


class ServiceJobStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for a worker (attempt due at ``next_attempt_at``)
    DONE = "done"  # the handler ran and the instance moved on
    FAILED = "failed"  # attempts used up: the task is in ERROR and an incident is open
    CANCELLED = "cancelled"  # the service task was no longer waiting (cancelled by a boundary event, say)


class ServiceJob(Base):
    """A service task whose handler runs on a worker (async topic): the job queue's durable record.

    Written in the same transaction as the step that started the task, so nothing is lost when the broker is
    down; a worker runs it (and the periodic sweep picks up any whose message never arrived), retrying with
    back-off until ``attempts`` reaches the limit.
    """

    __tablename__ = "service_job"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(sa.ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    task_guid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    bpmn_id: Mapped[str] = mapped_column(sa.String(100))
    topic: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[ServiceJobStatus] = mapped_column(str_enum(ServiceJobStatus, "status"),
                                                     default=ServiceJobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    instance: Mapped[ProcessInstance] = relationship()

    __table_args__ = (
        # The sweep's probe: pending jobs by due time.
        sa.Index("ix_service_job_pending", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
    )


class ApiToken(Base):
    """A per-user API token; only its sha256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(TZDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(TZDateTime())

    user: Mapped[User] = relationship()
