"""``flask workflows validate|deploy`` and ``flask timers tick``."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.workflow_support import HOURS_REVIEW, LAUGHS, with_entity
from webapp.models import AuditEvent, ProcessDefinition, Role


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_validate_good_and_bad(app, db, tmp_path):
    ok = run(app, "workflows", "validate", str(HOURS_REVIEW))
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    broken = tmp_path / "broken.bpmn"
    broken.write_bytes(HOURS_REVIEW.read_bytes().replace(b'camunda:topic="test.check_hours"',
                                                         b'camunda:topic="no.such.topic"'))
    bad = run(app, "workflows", "validate", str(broken))
    assert bad.exit_code == 1
    assert "broken.bpmn:" in bad.output
    assert "check" in bad.output and "核对学时" in bad.output


def test_deploy_folder_then_no_op(app, db, tmp_path):
    folder = tmp_path / "workflows" / "hours_review"
    folder.mkdir(parents=True)
    (folder / "hours_review.bpmn").write_bytes(HOURS_REVIEW.read_bytes())
    first = run(app, "workflows", "deploy", str(tmp_path / "workflows"))
    assert first.exit_code == 0, first.output
    assert "hours_review version 1 deployed" in first.output
    second = run(app, "workflows", "deploy", str(tmp_path / "workflows"))
    assert "hours_review version 1 unchanged" in second.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 1


def test_deploy_of_a_bad_file_stores_nothing(app, db, tmp_path):
    broken = tmp_path / "broken.bpmn"
    broken.write_text("<bpmn:definitions", encoding="utf-8")
    result = run(app, "workflows", "deploy", str(broken))
    assert result.exit_code == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0


@pytest.mark.parametrize("command", ["validate", "deploy"])
def test_doctype_and_entities_are_refused(app, db, tmp_path, command):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42", encoding="utf-8")
    (tmp_path / "external.bpmn").write_bytes(with_entity(f'<!ENTITY x SYSTEM "file://{secret}">'))
    (tmp_path / "laughs.bpmn").write_bytes(with_entity(LAUGHS, "&a9;"))
    for name in ("external.bpmn", "laughs.bpmn"):
        result = run(app, "workflows", command, str(tmp_path / name))
        assert result.exit_code == 1, result.output
        assert f"{name}:2: error: [doctype_forbidden]" in result.output
        assert "Delete the <!DOCTYPE" in result.output
        assert "TOP-SECRET" not in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0


def test_deploy_of_an_empty_folder(app, db, tmp_path):
    result = run(app, "workflows", "deploy", str(tmp_path))
    assert result.exit_code == 0
    assert "nothing to deploy" in result.output


def test_timers_tick_fires_the_reminder(app, db, region, make_user):
    from webapp.services import definitions, instances, tasks

    teacher = make_user("teacher1", roles=((Role.TEACHER, region["school"]),))
    make_user("officer1", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    definitions.deploy({HOURS_REVIEW.name: HOURS_REVIEW.read_bytes()}, None)
    instance = instances.start("hours_review", subject_org=region["school"], initiator=teacher)
    submit = next(iter(instance_tasks(db, instance)))
    instances.complete_task(submit, teacher, {"title": "培训课程", "hours": 4}, tasks.authorise_complete)
    db.session.commit()
    due = instance.next_timer_at
    early = run(app, "timers", "tick", "--at", (due - timedelta(hours=1)).isoformat())
    assert "0 timer(s) fired" in early.output
    late = run(app, "timers", "tick", "--at", (due + timedelta(minutes=1)).isoformat())
    assert "1 timer(s) fired" in late.output, late.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.instance_id == instance.id, AuditEvent.action == "timer.fire")) == 1
    again = run(app, "timers", "tick", "--at", (due + timedelta(minutes=2)).isoformat())
    assert "0 timer(s) fired" in again.output


def test_tick_needs_a_time_zone(app, db):
    result = run(app, "timers", "tick", "--at", "2026-03-05T08:00:00")
    assert result.exit_code != 0
    assert "time zone" in result.output


def instance_tasks(db, instance):
    from webapp.models import HumanTask

    return db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))


def test_a_name_with_line_breaks_is_printed_on_one_line(app, db, tmp_path):
    """The Modeler lets a name span lines (Shift+Enter); every problem still prints as one 'file:line:' line."""
    broken = tmp_path / "broken.bpmn"
    broken.write_bytes(HOURS_REVIEW.read_bytes()
                       .replace(b'camunda:topic="test.check_hours"', b'camunda:topic="no.such.topic"')
                       .replace('name="核对学时"'.encode(), 'name="核对&#10;  学时"'.encode()))
    result = run(app, "workflows", "validate", str(broken))
    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if "[service_topic_unknown]" in line]
    assert line.startswith("broken.bpmn:")
    assert "check (核对 学时): " in line
