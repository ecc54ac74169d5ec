"""A tick after downtime: everything that became due fires, in the order it fell due, exactly once."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.workflow_support import HOURS_REVIEW


def test_a_tick_after_downtime_fires_every_due_timer_in_order_once(db, region, make_user):
    from webapp import jobs
    from webapp.engine import frozen_clock
    from webapp.models import AuditEvent, HumanTask, ProcessInstance, Role
    from webapp.services import definitions, instances, tasks

    teacher = make_user("down_teacher", roles=((Role.TEACHER, region["school"]),))
    make_user("down_officer", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    definitions.deploy({HOURS_REVIEW.name: HOURS_REVIEW.read_bytes()}, None)
    start = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    # Submitted 5, 1, 3, 0, 4 and 2 hours after `start`: the PT48H reminders fall due in that order too.
    offsets = [5, 1, 3, 0, 4, 2]
    ids = []
    for hours in offsets:
        with frozen_clock(start + timedelta(hours=hours)):
            instance = instances.start("hours_review", subject_org=region["school"], initiator=teacher)
            submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
            instances.complete_task(submit, teacher, {"title": "停机补发测试", "hours": 2},
                                    tasks.authorise_complete)
        ids.append(instance.id)
    db.session.commit()

    # Nothing ran for a week; the first tick afterwards catches up.
    after = start + timedelta(days=7)
    report = jobs.tick_timers(after)
    assert (report.ticked, report.fired, report.failures) == (6, 6, [])
    fired = db.session.scalars(sa.select(AuditEvent.instance_id).where(
        AuditEvent.action == "timer.fire", AuditEvent.instance_id.in_(ids)).order_by(AuditEvent.id)).all()
    by_due = [instance_id for _, instance_id in sorted(zip(offsets, ids, strict=True))]
    assert fired == by_due, "oldest due first"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessInstance).where(
        ProcessInstance.id.in_(ids), ProcessInstance.next_timer_at.is_not(None))) == 0
    assert jobs.tick_timers(after + timedelta(minutes=1)).fired == 0, "nothing fires twice"


def test_a_tick_out_of_time_leaves_the_rest_for_the_next(db, region, make_user):
    from webapp import jobs
    from webapp.engine import frozen_clock
    from webapp.models import HumanTask, Role
    from webapp.services import definitions, instances, tasks

    teacher = make_user("budget_teacher", roles=((Role.TEACHER, region["school"]),))
    make_user("budget_officer", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    definitions.deploy({HOURS_REVIEW.name: HOURS_REVIEW.read_bytes()}, None)
    start = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    for hours in range(3):
        with frozen_clock(start + timedelta(hours=hours)):
            instance = instances.start("hours_review", subject_org=region["school"], initiator=teacher)
            submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
            instances.complete_task(submit, teacher, {"title": "预算测试", "hours": 2}, tasks.authorise_complete)
    db.session.commit()
    after = start + timedelta(days=7)
    first = jobs.tick_timers(after, budget_seconds=0)
    assert (first.fired, first.more) == (1, True), "one instance, then the budget is spent"
    rest = jobs.tick_timers(after)
    assert (rest.fired, rest.more) == (2, False)


def test_an_unexpected_error_stops_that_instance_only(db, region, make_user, monkeypatch):
    from webapp import jobs
    from webapp.engine import frozen_clock
    from webapp.models import HumanTask, Incident, InstanceStatus, ProcessInstance, Role
    from webapp.services import definitions, instances, tasks

    teacher = make_user("crash_teacher", roles=((Role.TEACHER, region["school"]),))
    make_user("crash_officer", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    definitions.deploy({HOURS_REVIEW.name: HOURS_REVIEW.read_bytes()}, None)
    start = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    ids = []
    for hours in range(3):
        with frozen_clock(start + timedelta(hours=hours)):
            instance = instances.start("hours_review", subject_org=region["school"], initiator=teacher)
            submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
            instances.complete_task(submit, teacher, {"title": "故障测试", "hours": 2}, tasks.authorise_complete)
        ids.append(instance.id)
    db.session.commit()
    real_fire = instances.fire_due_timers

    def fire(instance, moment=None):
        if instance.id == ids[0]:  # the earliest due: it must not hold up the others
            raise RuntimeError("template on fire")
        return real_fire(instance, moment)

    monkeypatch.setattr(instances, "fire_due_timers", fire)
    report = jobs.tick_timers(start + timedelta(days=7))
    assert report.fired == 2 and [instance_id for instance_id, _ in report.failures] == [ids[0]]
    stopped = db.session.get(ProcessInstance, ids[0])
    assert stopped.status is InstanceStatus.INCIDENT
    (incident,) = db.session.scalars(sa.select(Incident).where(Incident.instance_id == ids[0]))
    assert incident.action == "timer" and "template on fire" in incident.message


class MemoryJournal:
    """:class:`webapp.jobs.Journal` in a dict (the workers keep theirs in Redis)."""

    def __init__(self, begun: dict[int, int]) -> None:
        self.begun = dict(begun)

    def unfinished(self) -> dict[int, int]:
        return dict(self.begun)

    def begin(self, key: int) -> int:
        self.begun[key] = self.begun.get(key, 0) + 1
        return self.begun[key]

    def end(self, key: int) -> None:
        self.begun.pop(key, None)


def test_a_tick_leaves_instances_that_do_not_run_alone(db, region, make_user):
    """A stopped (incident) or paused instance keeps its due timer and its open review until it runs again: the
    tick neither fires the timer nor, reading a state that is not running, closes the review."""
    from webapp import jobs
    from webapp.engine import EngineIncident, frozen_clock
    from webapp.models import AuditEvent, HumanTask, InstanceStatus, ProcessInstance, Role, TaskStatus
    from webapp.services import definitions, instance_admin, instances, tasks

    teacher = make_user("halt_teacher", roles=((Role.TEACHER, region["school"]),))
    make_user("halt_officer", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    admin = make_user("halt_admin", roles=((Role.ADMIN, region["city"]),))
    definitions.deploy({HOURS_REVIEW.name: HOURS_REVIEW.read_bytes()}, None)
    start = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    ids = []
    for hours in range(3):
        with frozen_clock(start + timedelta(hours=hours)):
            instance = instances.start("hours_review", subject_org=region["school"], initiator=teacher)
            submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
            instances.complete_task(submit, teacher, {"title": "暂停测试", "hours": 2}, tasks.authorise_complete)
        ids.append(instance.id)
    stopped, paused, running = ids
    instances.record_incident(instances.ActionFailed(stopped, "service", EngineIncident("rule service down")),
                              stop_instance=True)
    instance_admin.suspend(paused, admin, "核查材料")
    db.session.commit()
    after = start + timedelta(days=7)
    assert instances.lock_next_due(after).id == running, "the earliest due are not running"
    db.session.rollback()
    assert not instances.is_due(stopped, after) and not instances.is_due(paused, after)

    # A worker's journal says ticks were cut off on the two (before they stopped): they are not fired either.
    journal = MemoryJournal({stopped: 1, paused: 1})
    report = jobs.tick_timers(after, journal=journal)
    assert (report.ticked, report.fired, report.failures) == (1, 1, [])
    assert journal.unfinished() == {}, "no longer due: nothing left to finish"
    fired = db.session.scalars(sa.select(AuditEvent.instance_id).where(AuditEvent.action == "timer.fire",
                                                                       AuditEvent.instance_id.in_(ids))).all()
    assert fired == [running]
    for instance_id, status in ((stopped, InstanceStatus.INCIDENT), (paused, InstanceStatus.SUSPENDED)):
        instance = db.session.get(ProcessInstance, instance_id)
        assert instance.status is status and instance.next_timer_at is not None
        (review,) = db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                                  HumanTask.bpmn_id == "review"))
        assert review.status is TaskStatus.OPEN, "the review stays open"
