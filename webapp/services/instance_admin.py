"""What an administrator may do to any instance: suspend it, resume it, or cancel it, always with a reason that
goes on the record (the audit trail and the instance's history) and to the person who started it.

A suspended instance does nothing until it is resumed: its timers wait, its tasks cannot be completed, its
automatic steps are not run. A cancelled one is over: its open tasks close and its waiting jobs are dropped.
Processes with a business record of their own (an application) say what cancelling means for it in their
package's ``on_cancel``.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from webapp.extensions import db
from webapp.models import InstanceStatus, ProcessInstance, Role, ServiceJob, ServiceJobStatus, User
from webapp.models.base import utcnow
from webapp.services import audit, instances, notifications, processes, watchers
from webapp.services import roles as role_service
from webapp.services.errors import Conflict, FormRejected, NotAllowed

REASON_MAX_LENGTH = 500

def may_administer(user: User) -> bool:
    return role_service.has_role(user, Role.ADMIN)


def _checked(instance_id: int, actor: User, reason: str, allowed: tuple[InstanceStatus, ...]) -> tuple[
        ProcessInstance, str]:
    if not may_administer(actor):
        raise NotAllowed(_l("Only an administrator may suspend, resume or cancel a process."))
    reason = (reason or "").strip()
    if not reason:
        raise FormRejected(_l("Some fields need your attention."), {"reason": [str(_l("Give the reason."))]})
    if len(reason) > REASON_MAX_LENGTH:
        raise FormRejected(_l("Some fields need your attention."),
                           {"reason": [str(_l("At most %(n)d characters.", n=REASON_MAX_LENGTH))]})
    instance = instances.lock_instance(instance_id)
    if instance.status not in allowed:
        raise Conflict(_l("That cannot be done to the process in its present state (reload the page to see it)."))
    return instance, reason


def suspend(instance_id: int, actor: User, reason: str) -> ProcessInstance:
    instance, reason = _checked(instance_id, actor, reason, (InstanceStatus.RUNNING, InstanceStatus.INCIDENT))
    before = instance.status
    instance.status = InstanceStatus.SUSPENDED
    _record(instance, actor, "instance.suspend", before, reason)
    return instance


def resume(instance_id: int, actor: User, reason: str) -> ProcessInstance:
    instance, reason = _checked(instance_id, actor, reason, (InstanceStatus.SUSPENDED,))
    instance.status = InstanceStatus.RUNNING
    _record(instance, actor, "instance.resume", InstanceStatus.SUSPENDED, reason)
    return instance


def cancel(instance_id: int, actor: User, reason: str) -> ProcessInstance:
    instance, reason = _checked(instance_id, actor, reason, (InstanceStatus.RUNNING, InstanceStatus.INCIDENT,
                                                             InstanceStatus.SUSPENDED))
    return cancel_instance(instance, actor, reason)


def cancel_instance(instance: ProcessInstance, actor: User, reason: str, *, notice: object = None) -> ProcessInstance:
    """Cancel a (locked, not ended) instance, already authorised: the one cancel path. Open tasks close as cancelled,
    waiting jobs are dropped, the package's ``on_cancel`` runs, the audit and the watchers hear of it, and the
    initiator is told (``notice``: the title of that notice, if not "an administrator cancelled")."""
    before = instance.status
    instance.status = InstanceStatus.CANCELLED
    instance.ended_at = utcnow()
    instance.next_timer_at = None
    instances.sync_tasks(instance, None)  # not running: every open task closes as cancelled
    db.session.execute(sa.update(ServiceJob).where(ServiceJob.instance_id == instance.id,
                                                   ServiceJob.status == ServiceJobStatus.PENDING)
                       .values(status=ServiceJobStatus.CANCELLED, finished_at=utcnow())
                       .execution_options(synchronize_session=False))
    package = processes.get(instance.process_key)
    if package is not None and package.on_cancel is not None:  # under the instance lock
        package.on_cancel(instance, actor, reason)
    _record(instance, actor, "instance.cancel", before, reason, notice=notice)
    watchers.instance_ended(instance)
    return instance


#: What an administrator may do to an instance, by the name the pages and the API use.
ACTIONS: dict[str, Callable[[int, User, str], ProcessInstance]] = {"suspend": suspend, "resume": resume,
                                                                    "cancel": cancel}


def _notice(action: str, title: str) -> object:
    if action == "instance.suspend":
        return _l("An administrator paused “%(title)s”", title=title)
    if action == "instance.resume":
        return _l("An administrator resumed “%(title)s”", title=title)
    return _l("An administrator cancelled “%(title)s”", title=title)


def _record(instance: ProcessInstance, actor: User, action: str, before: InstanceStatus, reason: str, *,
            notice: object = None) -> None:
    db.session.flush()
    audit.record(action, actor=actor, obj=instance, instance_id=instance.id, before={"status": before.value},
                 after={"status": instance.status.value, "reason": reason})
    if instance.initiator is not None and instance.initiator_id != actor.id:
        notifications.notify(instance.initiator, action, title=notice or _notice(action, instance.title), body=reason,
                             link=f"/inbox/instances/{instance.id}", instance_id=instance.id)
