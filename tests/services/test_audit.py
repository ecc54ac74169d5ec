"""The audit trail is append-only: the ORM and the database refuse to change or delete its events, and an
instance or a user with events cannot be deleted (which would take its events with it)."""

import pytest
import sqlalchemy as sa

from tests.workflow_support import hours_review_files
from webapp.models import AuditEvent, AuditTrailIsAppendOnly, ProcessInstance, Role
from webapp.services import definitions, instances


@pytest.fixture
def instance(db, region, make_user):
    teacher = make_user("teacher1", org=region["school"], roles=((Role.TEACHER, region["school"]),))
    definitions.deploy(hours_review_files(), None)
    started = instances.start("hours_review", subject_org=region["maths"], initiator=teacher, title="测试申请")
    db.session.commit()
    return started


def events_of(db, instance):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.instance_id == instance.id)
                              .order_by(AuditEvent.id)).all()


def test_the_orm_refuses_to_change_or_delete_an_event(db, instance):
    event = events_of(db, instance)[0]
    event.action = "instance.forged"
    with pytest.raises(AuditTrailIsAppendOnly), db.session.begin_nested():
        db.session.flush()
    db.session.rollback()
    db.session.delete(events_of(db, instance)[0])
    with pytest.raises(AuditTrailIsAppendOnly), db.session.begin_nested():
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'instance.forged' WHERE id = :id",
    "UPDATE audit_event SET actor_id = NULL WHERE id = :id",
    "DELETE FROM audit_event WHERE id = :id",
])
def test_the_database_refuses_updates_and_deletes(db, instance, statement):
    event = events_of(db, instance)[0]
    with pytest.raises(sa.exc.DBAPIError, match="audit_event is append-only"), db.session.begin_nested():
        db.session.execute(sa.text(statement), {"id": event.id})
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.id == event.id)) == "instance.start"


def test_an_instance_with_history_is_never_deleted(db, instance):
    history = [event.id for event in events_of(db, instance)]
    assert history, "starting it wrote its first event"
    db.session.delete(instance)
    with pytest.raises(AuditTrailIsAppendOnly, match=f"process instance {instance.id} has an audit history"), \
            db.session.begin_nested():
        db.session.flush()
    db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError, match=r"fk_audit_event_instance_id_process_instance|FOREIGN KEY"), \
            db.session.begin_nested():
        db.session.execute(sa.text("DELETE FROM process_instance WHERE id = :id"), {"id": instance.id})
    assert db.session.get(ProcessInstance, instance.id) is not None
    assert [event.id for event in events_of(db, instance)] == history


def test_a_user_with_history_is_never_deleted(db, make_user):
    from webapp.services import audit

    user = make_user("clerk1")
    event = audit.record("user.login", actor=user)
    db.session.flush()
    with pytest.raises(sa.exc.IntegrityError, match=r"fk_audit_event_actor_id_user_account|FOREIGN KEY"), \
            db.session.begin_nested():
        db.session.execute(sa.text("DELETE FROM user_account WHERE id = :id"), {"id": user.id})
    assert db.session.scalar(sa.select(AuditEvent.actor_id).where(AuditEvent.id == event.id)) == user.id
