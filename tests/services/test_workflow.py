"""Deploy, start, route, complete and tick through the service layer (real engine, real database)."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.workflow_support import FAILING_HOURS, hours_review_files
from webapp.models import AuditEvent, HumanTask, Incident, InstanceStatus, ProcessDefinition, Role, TaskStatus
from webapp.services import definitions, instances, tasks
from webapp.services.errors import Conflict, FormRejected, NotAllowed, ServiceError


@pytest.fixture
def people(region, make_user):
    return {
        "teacher": make_user("teacher1", org=region["school"], roles=((Role.TEACHER, region["school"]),)),
        "officer": make_user("officer1", roles=((Role.SCHOOL_OFFICER, region["school"]),)),
        "other_officer": make_user("officer2", roles=((Role.SCHOOL_OFFICER, region["school2"]),)),
    }


@pytest.fixture
def started(db, region, people):
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=people["teacher"],
                               data={}, title="测试申请")
    db.session.commit()  # as the view does; a failed action then rolls back to here
    return instance


def open_tasks(instance):
    from webapp.extensions import db

    return list(db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                              HumanTask.status == TaskStatus.OPEN)))


def submit(task, teacher, hours=12):
    return instances.complete_task(task, teacher, {"title": "信息技术培训", "hours": hours, "category": "training"},
                                   tasks.authorise_complete)


def test_deploy_is_versioned_and_idempotent(db):
    first = definitions.deploy(hours_review_files(), None)
    again = definitions.deploy(hours_review_files(), None)
    assert first.created == ["hours_review"]
    assert again.created == []
    assert again.definitions[0].id == first.definitions[0].id
    changed = {"hours_review.bpmn": hours_review_files()["hours_review.bpmn"].replace(b"P3D", b"P4D")}
    third = definitions.deploy(changed, None)
    assert third.definitions[0].version == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 2


def test_deploy_rejects_bad_upload_and_stores_nothing(db):
    bad = {"hours_review.bpmn": hours_review_files()["hours_review.bpmn"].replace(
        b'candidateGroups="school_officer"', b'candidateGroups="dean"')}
    with pytest.raises(definitions.DeployRejected) as rejected:
        definitions.deploy(bad, None)
    assert any(p.element_id == "review" for p in rejected.value.report.errors)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessDefinition)) == 0


def test_full_run_with_routing(db, started, people):
    (submit_task,) = open_tasks(started)
    assert submit_task.assignee_id == people["teacher"].id, "${initiator} is the teacher"
    submit(submit_task, people["teacher"])

    (review,) = open_tasks(started)
    assert review.bpmn_id == "review"
    assert review.due_at is not None
    assert [t.id for t in db.session.scalars(tasks.inbox_query(people["officer"]))] == [review.id]
    assert list(db.session.scalars(tasks.inbox_query(people["other_officer"]))) == [], "other school's officer"
    with pytest.raises(NotAllowed):
        instances.complete_task(review, people["other_officer"], {"approved": True}, tasks.authorise_complete)
    with pytest.raises(NotAllowed):
        instances.complete_task(review, people["teacher"], {"approved": True}, tasks.authorise_complete)

    instances.complete_task(review, people["officer"], {"approved": True, "comment": "同意"},
                            tasks.authorise_complete)
    assert started.status is InstanceStatus.COMPLETED
    assert review.status is TaskStatus.COMPLETED
    assert review.completed_by_id == people["officer"].id
    with pytest.raises(Conflict):
        instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.instance_id == started.id)
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["instance.start", "task.complete", "task.complete"]


def test_form_constraints_are_enforced_server_side(db, started, people):
    (submit_task,) = open_tasks(started)
    with pytest.raises(FormRejected) as rejected:
        instances.complete_task(submit_task, people["teacher"], {"title": "ab", "hours": 99},
                                tasks.authorise_complete)
    assert set(rejected.value.errors) == {"title", "hours"}
    assert submit_task.status is TaskStatus.OPEN


def test_claim_unclaim_and_transfer(db, started, people, make_user, region):
    (submit_task,) = open_tasks(started)
    submit(submit_task, people["teacher"])
    (review,) = open_tasks(started)
    colleague = make_user("officer3", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    tasks.claim(review, people["officer"])
    with pytest.raises(Conflict):
        tasks.claim(review, colleague)
    with pytest.raises(NotAllowed):
        instances.complete_task(review, colleague, {"approved": True}, tasks.authorise_complete)
    tasks.unclaim(review, people["officer"])
    with pytest.raises(ServiceError) as refused:
        tasks.transfer(review, people["officer"], people["other_officer"], "出差")
    assert refused.value.field == "to_user"
    tasks.transfer(review, people["officer"], colleague, "出差")
    assert review.assignee_id == colleague.id
    assert [t.id for t in db.session.scalars(tasks.inbox_query(colleague, tasks.Scope.ASSIGNED))] == [review.id]
    tasks.comment(review, colleague, "请补充证明材料")
    instances.complete_task(review, colleague, {"approved": False}, tasks.authorise_complete)
    assert started.status is InstanceStatus.COMPLETED


def test_reminder_timer_fires_once_when_due(db, started, people):
    (submit_task,) = open_tasks(started)
    submit(submit_task, people["teacher"])
    assert started.next_timer_at is not None
    due = started.next_timer_at
    assert due - datetime.now(UTC) > timedelta(hours=47)
    assert instances.lock_next_due(due - timedelta(minutes=1)) is None
    locked = instances.lock_next_due(due + timedelta(minutes=1))
    assert locked.id == started.id
    fired = instances.fire_due_timers(locked, due + timedelta(minutes=1))
    assert len(fired) == 1
    assert len(open_tasks(started)) == 1, "non-interrupting: the review stays open"
    assert instances.lock_next_due(due + timedelta(minutes=2)) is None, "fires once"


def test_failing_service_handler_becomes_an_incident(db, started, people):
    (submit_task,) = open_tasks(started)
    with pytest.raises(instances.ActionFailed) as failure:
        submit(submit_task, people["teacher"], hours=FAILING_HOURS)
    db.session.rollback()
    incident = instances.record_incident(failure.value)
    assert "rule service unreachable" in incident.message
    assert db.session.get(Incident, incident.id).instance_id == started.id


def test_closed_tasks_stay_visible_to_the_chain_only(db, started, people, make_user, region):
    (submit_task,) = open_tasks(started)
    submit(submit_task, people["teacher"])
    (review,) = open_tasks(started)
    colleague = make_user("officer3", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    other_teacher = make_user("teacher2", roles=((Role.TEACHER, region["school"]),))
    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    assert review.candidates == [], "closed tasks keep no candidates"
    assert tasks.can_see(review, colleague), "a colleague in the chain is told it is closed (409), not 404"
    assert not tasks.can_see(review, people["other_officer"])
    assert not tasks.can_see(review, other_teacher)
    assert tasks.can_see(review, people["teacher"]), "the applicant"


def test_only_those_who_act_on_an_instance_may_comment(db, started, people, make_user, region):
    from datetime import date

    from webapp.models import TaskComment
    from webapp.services.users import delegate, revoke_delegation

    (submit_task,) = open_tasks(started)
    submit(submit_task, people["teacher"])
    (review,) = open_tasks(started)
    colleague = make_user("officer3", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    principal = make_user("principal1", roles=((Role.PRINCIPAL, region["school"]),))
    bureau = make_user("city1", roles=((Role.BUREAU_OFFICER, region["city"]),))
    admin = make_user("admin1", roles=((Role.ADMIN, region["city"]),))
    substitute = make_user("substitute1")
    assert tasks.can_see(review, principal) and tasks.can_see(review, bureau), "they may look"
    assert tasks.can_see_instance(started, admin)
    for onlooker in (principal, bureau, admin, substitute, people["other_officer"]):
        with pytest.raises(NotAllowed, match="只有本流程的参与者可以发表评论"):
            tasks.comment(review, onlooker, "我也说一句")
    assert tasks.comment(review, people["teacher"], "请尽快审核").body == "请尽快审核", "the initiator"
    assert tasks.comment(review, colleague, "我来看看"), "a candidate of the open task"

    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    assert tasks.comment(review, people["officer"], "已同意"), "who completed a task of it"
    with pytest.raises(NotAllowed):
        tasks.comment(review, colleague, "no longer a candidate")
    away = delegate(people["officer"], substitute, role=None, valid_from=date.today(), valid_to=date.today())
    assert tasks.comment(review, substitute, "代王专干补充"), "the substitute of one who acted"
    revoke_delegation(away)
    with pytest.raises(NotAllowed):
        tasks.comment(review, substitute, "revoked")
    assert [note.author_id for note in db.session.scalars(
        sa.select(TaskComment).where(TaskComment.instance_id == started.id).order_by(TaskComment.id))] == [
        people["teacher"].id, colleague.id, people["officer"].id, substitute.id]


def test_claimable_copies_follow_claim_unclaim_and_transfer(db, region, people, make_user):
    """The index-only claimable count and page agree with the inbox query through every change."""
    definitions.deploy(hours_review_files(), None)
    colleague = make_user("officer3", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    reviews = []
    for hours in (4, 6, 8):
        instance = instances.start("hours_review", subject_org=region["maths"], initiator=people["teacher"])
        submit(open_tasks(instance)[0], people["teacher"], hours=hours)
        reviews.append(open_tasks(instance)[0])
    officer = people["officer"]
    pairs = tasks.held_pairs(officer)

    def agree(expected: int) -> None:
        generic = list(db.session.scalars(tasks.inbox_query(officer, tasks.Scope.CLAIMABLE, pairs=pairs)
                                          .order_by(None).order_by(HumanTask.due_at, HumanTask.id)))
        assert tasks.claimable_count(officer, pairs) == len(generic) == expected
        assert tasks.claimable_page(officer, pairs, page=1, per_page=30) == generic
        assert tasks.claimable_page(officer, pairs, page=2, per_page=2) == generic[2:]

    agree(3)
    tasks.claim(reviews[0], colleague)
    agree(2)
    tasks.unclaim(reviews[0], colleague)
    agree(3)
    tasks.transfer(reviews[1], officer, colleague, "出差")
    agree(2)
    instances.complete_task(reviews[2], officer, {"approved": True}, tasks.authorise_complete)
    agree(1)
    assert tasks.claimable_count(people["other_officer"], tasks.held_pairs(people["other_officer"])) == 0


def test_designers_and_experts_above_do_not_see_applications(db, started, people, make_user, region):
    (submit_task,) = open_tasks(started)
    submit(submit_task, people["teacher"])
    (review,) = open_tasks(started)
    designer = make_user("designer1", roles=((Role.DESIGNER, region["city"]),))
    expert = make_user("expert1", roles=((Role.EXPERT, region["county"]),))
    county = make_user("county9", roles=((Role.COUNTY_OFFICER, region["county"]),))
    assert not tasks.can_see(review, designer)
    assert not tasks.can_see(review, expert)
    assert tasks.can_see(review, county), "the county centre reviews the school's work"


DELEGATION_PERIODS = {
    "in force": (0, 0, True),
    "ended yesterday": (-7, -1, False),
    "starts tomorrow": (1, 7, False),
}


@pytest.mark.parametrize("period", list(DELEGATION_PERIODS))
def test_a_substitute_acts_only_while_the_delegation_is_in_force(db, started, people, make_user, region, period):
    """Outside its period a delegation gives nothing: no inbox, no task, no completion, no comment, no notice."""
    from webapp.services import notifications, roles
    from webapp.services.users import delegate

    first, last, in_force = DELEGATION_PERIODS[period]
    today = date.today()
    substitute = make_user("substitute1", org=region["school"])
    delegate(people["officer"], substitute, role=Role.SCHOOL_OFFICER, valid_from=today + timedelta(days=first),
             valid_to=today + timedelta(days=last))
    (submit_task,) = open_tasks(started)
    submit(submit_task, people["teacher"])
    (review,) = open_tasks(started)

    assert ("substitute1" in [user.login for user in roles.resolve(Role.SCHOOL_OFFICER, region["maths"]).users]
            ) is in_force
    assert any(held.role is Role.SCHOOL_OFFICER for held in roles.roles_of(substitute)) is in_force
    assert (substitute in notifications.task_recipients(review)) is in_force
    assert tasks.is_candidate(review, substitute) is in_force
    assert tasks.can_see(review, substitute) is in_force
    assert tasks.may_comment(started, substitute) is in_force, "as a candidate of the open review"
    inbox = list(db.session.scalars(tasks.inbox_query(substitute)))
    assert inbox == ([review] if in_force else [])
    if in_force:
        tasks.authorise_complete(review, substitute)
    else:
        with pytest.raises(NotAllowed):
            instances.complete_task(review, substitute, {"approved": True}, tasks.authorise_complete)
        assert review.status is TaskStatus.OPEN
    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    assert tasks.may_comment(started, substitute) is in_force, "as the substitute of the officer who approved"
