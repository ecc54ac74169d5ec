"""Message correlation (Camunda 7's ``/message`` for one instance): a waiting message catch event goes on when an
administrator, or an integration acting as one, sends its message; nobody else may, and a message nobody waits
for is refused."""

from pathlib import Path

import sqlalchemy as sa

from tests.web.test_api import Api
from webapp.models import InstanceStatus, ProcessInstance, Role
from webapp.services import definitions, instances

DIAGRAM = Path(__file__).resolve().parent.parent / "engine" / "diagrams" / "reference" / "catch_message.bpmn"


def _waiting(db, region, make_user):
    definitions.deploy({DIAGRAM.name: DIAGRAM.read_bytes()}, None)
    teacher = make_user("msg_teacher", org=region["school"], roles=((Role.TEACHER, region["school"]),))
    make_user("msg_admin", roles=((Role.ADMIN, region["city"]),))
    instance = instances.start("ref_catch_message", subject_org=region["school"], initiator=teacher)
    db.session.commit()
    assert instance.waiting_messages == ["reviewed"]
    return instance


def test_an_administrator_sends_the_message_and_the_instance_goes_on(app, db, region, make_user):
    instance = _waiting(db, region, make_user)
    admin = Api(app.test_client()).login("msg_admin")
    sent = admin.post(f"/instances/{instance.id}/messages", json={"name": "reviewed", "variables": {"ok": 1}})
    assert sent.status_code == 200, sent.get_json()
    db.session.expire_all()
    done = db.session.get(ProcessInstance, instance.id)
    assert done.status is InstanceStatus.COMPLETED and done.waiting_messages == []
    assert "instance.message" in db.session.scalars(sa.text(
        "SELECT action FROM audit_event WHERE instance_id = :i"), {"i": instance.id}).all()


def test_nobody_else_may_and_an_unawaited_message_is_refused(app, db, region, make_user):
    instance = _waiting(db, region, make_user)
    teacher = Api(app.test_client()).login("msg_teacher")
    assert teacher.post(f"/instances/{instance.id}/messages", json={"name": "reviewed"}).status_code == 403
    admin = Api(app.test_client()).login("msg_admin")
    assert admin.post(f"/instances/{instance.id}/messages", json={"name": "other"}).status_code == 409
    assert admin.post(f"/instances/{instance.id}/messages", json={"name": ""}).status_code == 422
    assert admin.post("/instances/999999/messages", json={"name": "reviewed"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance.id).status is InstanceStatus.RUNNING
