"""Queueing the service tasks a step left waiting for a worker, inside the step's transaction.

``instances.sync_tasks`` calls :func:`queue_started` after every step; ``service_jobs`` runs the jobs. This
module stands apart from both so that neither imports the other back.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import ProcessInstance, ServiceJob
from webapp.models.base import utcnow
from webapp.services import after_commit
from webapp.services.runtime import get_runtime, services

#: The ids of the jobs queued in a transaction, handed over once it commits (``after_commit``).
QUEUED = "service_jobs"


def queue_started(instance: ProcessInstance, workflow: Any) -> list[ServiceJob]:
    """A pending job for every async service task of ``instance`` that waits for a worker and has none yet."""
    if not services.has_async:
        return []
    waiting = [info for info in get_runtime().started_service_tasks(workflow)
               if info.state == "STARTED" and services.is_async(info.topic)]
    if not waiting:
        return []
    known = set(db.session.scalars(sa.select(ServiceJob.task_guid).where(
        ServiceJob.task_guid.in_([info.task_id for info in waiting]))))
    jobs = [ServiceJob(instance_id=instance.id, task_guid=info.task_id, bpmn_id=info.bpmn_id,
                       topic=info.topic or "", next_attempt_at=utcnow())
            for info in waiting if info.task_id not in known]
    if jobs:
        db.session.add_all(jobs)
        db.session.flush()
        after_commit.add(QUEUED, *(job.id for job in jobs))
    return jobs


def take_committed(session: Session | None = None) -> list[int]:
    """Ids of the jobs committed in ``session`` since the last call (for the caller to dispatch)."""
    return after_commit.take(QUEUED, session)
