"""Multi-instance user tasks in the inbox (one task per person) and tasks assigned to nobody who can act."""

from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import Incident, InstanceStatus, Role, TaskStatus
from webapp.services import definitions, instances, service_jobs, tasks
from webapp.services.errors import Conflict, NotAllowed
from webapp.services.runtime import get_runtime

DIAGRAMS = Path(__file__).parent.parent / "engine" / "diagrams"
EXPERTS = ["wang", "liu", "zhao"]


def deploy(name: str, *replacements: tuple[str, str]) -> None:
    text = (DIAGRAMS / name).read_text(encoding="utf-8")
    for old, new in replacements:
        text = text.replace(old, new)
    definitions.deploy({name: text}, None)


def rows(instance, status=TaskStatus.OPEN):
    from webapp.extensions import db

    return list(db.session.scalars(sa.select(instances.HumanTask).where(
        instances.HumanTask.instance_id == instance.id, instances.HumanTask.status == status)
        .order_by(instances.HumanTask.id)))


def variables(instance) -> dict:
    runtime = get_runtime()
    return runtime.variables(runtime.load(instances.engine_definition(instance.definition), instance.state_json))


@pytest.fixture
def experts(make_user, region):
    return {login: make_user(login, org=region["school"]) for login in EXPERTS}


def start_scoring(db, region, starter, quorum: int, people=EXPERTS):
    deploy("expert_scores.bpmn")
    instance = instances.start("expert_scores", subject_org=region["school"], initiator=starter,
                               data={"experts": list(people), "quorum": quorum}, title="成果评审")
    db.session.commit()
    return instance


def score(task, user, points):
    return instances.complete_task(task, user, {"points": points, "remark": f"{user.login} 评"},
                                   tasks.authorise_complete)


def test_each_expert_sees_and_completes_only_their_own_task(db, region, experts, make_user):
    starter = make_user("organiser", org=region["school"])
    instance = start_scoring(db, region, starter, quorum=3)
    open_rows = rows(instance)
    assert [(row.bpmn_id, row.name) for row in open_rows] == [("score", "专家评分")] * 3
    assert sorted(row.assignee.login for row in open_rows) == sorted(EXPERTS)
    assert all(not row.candidates for row in open_rows)
    for login, user in experts.items():
        assert [t.assignee_id for t in db.session.scalars(tasks.inbox_query(user))] == [user.id], login
    assert list(db.session.scalars(tasks.inbox_query(starter))) == []
    mine = {row.assignee.login: row for row in open_rows}
    with pytest.raises(NotAllowed):
        score(mine["liu"], experts["wang"], 50)
    db.session.rollback()
    for login, points in (("zhao", 70), ("wang", 90), ("liu", 85)):
        score(mine[login], experts[login], points)
        db.session.commit()
    assert instance.status is InstanceStatus.COMPLETED
    assert [row.status for row in rows(instance, TaskStatus.COMPLETED)] == [TaskStatus.COMPLETED] * 3
    data = variables(instance)
    assert [(e["expert"], e["points"]) for e in data["scores"]] == [("wang", 90), ("liu", 85), ("zhao", 70)]
    assert data["total_points"] == 245


def test_the_third_task_closes_when_two_of_three_have_scored(db, region, experts, make_user):
    instance = start_scoring(db, region, make_user("organiser", org=region["school"]), quorum=2)
    mine = {row.assignee.login: row for row in rows(instance)}
    score(mine["wang"], experts["wang"], 60)
    score(mine["zhao"], experts["zhao"], 80)
    assert instance.status is InstanceStatus.COMPLETED
    assert mine["liu"].status is TaskStatus.CANCELLED
    assert [e["expert"] for e in variables(instance)["scores"]] == ["wang", "zhao"]


# -- an assignee who is no active user -------------------------------------------------------------------------

def start_review(db, region, starter, reviewer, *replacements):
    deploy("named_reviewer.bpmn", *replacements)
    instance = instances.start("named_reviewer", subject_org=region["school"], initiator=starter,
                               data={"reviewer": reviewer}, title="专家审阅")
    db.session.commit()
    return instance


def only_incident(db, instance):
    [incident] = db.session.scalars(sa.select(Incident).where(Incident.instance_id == instance.id,
                                                              Incident.resolved_at.is_(None)))
    return incident


def test_an_assignee_who_does_not_exist_stops_the_instance_until_fixed_and_retried(db, region, make_user):
    starter = make_user("organiser", org=region["school"])
    admin = make_user("admin1", roles=((Role.ADMIN, region["city"]),))
    instance = start_review(db, region, starter, "ghost")
    assert instance.status is InstanceStatus.INCIDENT
    assert rows(instance) == []
    incident = only_incident(db, instance)
    assert (incident.action, incident.bpmn_id, incident.details["code"]) == ("start", "expert_review",
                                                                            "task_unassignable")
    assert "专家审阅" in incident.message and "'ghost'" in incident.message
    assert incident.details["logins"] == ["ghost"]

    with pytest.raises(instances.ActionFailed) as failure:  # retried too early: nothing changes
        service_jobs.retry_incident(incident.id, admin)
    assert failure.value.error.code == "task_unassignable"
    db.session.rollback()
    assert instance.status is InstanceStatus.INCIDENT

    ghost = make_user("ghost", org=region["school"])
    service_jobs.retry_incident(incident.id, admin)
    db.session.commit()
    assert instance.status is InstanceStatus.RUNNING
    [row] = rows(instance)
    assert row.assignee_id == ghost.id
    instances.complete_task(row, ghost, {"opinion": "可以"}, tasks.authorise_complete)
    assert instance.status is InstanceStatus.COMPLETED


def test_an_inactive_assignee_is_the_same_as_a_missing_one(db, region, make_user):
    sleepy = make_user("sleepy", org=region["school"])
    sleepy.active = False
    db.session.flush()
    instance = start_review(db, region, make_user("organiser", org=region["school"]), "sleepy")
    assert instance.status is InstanceStatus.INCIDENT
    assert "'sleepy'" in only_incident(db, instance).message


def test_with_candidates_the_task_is_left_to_them(db, region, make_user):
    officer = make_user("officer1", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    instance = start_review(db, region, make_user("organiser", org=region["school"]), "ghost",
                            ('camunda:assignee="${reviewer}"',
                             'camunda:assignee="${reviewer}" camunda:candidateGroups="school_officer"'))
    assert instance.status is InstanceStatus.RUNNING
    [row] = rows(instance)
    assert row.assignee_id is None
    assert [t.id for t in db.session.scalars(tasks.inbox_query(officer))] == [row.id]


def test_one_unassignable_instance_of_several_stops_the_instance_the_others_stay(db, region, experts, make_user):
    starter = make_user("organiser", org=region["school"])
    instance = start_scoring(db, region, starter, quorum=2, people=["wang", "ghost"])
    assert instance.status is InstanceStatus.INCIDENT
    [row] = rows(instance)
    assert row.assignee.login == "wang"
    assert "'ghost'" in only_incident(db, instance).message
    with pytest.raises(Conflict):
        score(row, experts["wang"], 70)


def test_candidate_groups_that_come_out_empty_stop_the_instance_too(db, region, make_user):
    deploy("named_reviewer.bpmn", ('camunda:assignee="${reviewer}"', 'camunda:candidateGroups="${groups}"'))
    instance = instances.start("named_reviewer", subject_org=region["school"],
                               initiator=make_user("organiser", org=region["school"]), data={"groups": []})
    assert instance.status is InstanceStatus.INCIDENT
    assert "has no assignee, candidate users or candidate groups" in only_incident(db, instance).message
