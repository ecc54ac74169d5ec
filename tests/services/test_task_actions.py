"""Transfer (转交), urge (催办) and copy-to (抄送) through the service layer: who may, what is refused, and what
goes on the record and to whom (real engine, real database)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.workflow_support import hours_review_files
from webapp.models import (
    AuditEvent,
    HumanTask,
    InstanceStatus,
    Notification,
    Role,
    TaskCandidate,
    TaskStatus,
)
from webapp.services import definitions, instance_admin, instances, processes, tasks, urges, watchers
from webapp.services.errors import Conflict, NotAllowed, ServiceError


@pytest.fixture(autouse=True)
def english(db):
    from flask_babel import force_locale

    with force_locale("en"):
        yield


@pytest.fixture
def people(db, region, make_org, make_user):
    school, county = region["school"], region["county"]
    centre = make_org("institute", county, code="C1-K1-CENTRE", name="一县研培中心")
    city_institute = make_org("institute", region["city"], code="C1-INST", name="测试市研训院")
    made = {
        "teacher": make_user("teacher1", display_name="张老师", org=school, locale="en",
                             roles=((Role.TEACHER, school),)),
        "officer": make_user("officer1", display_name="王专干", org=school, locale="en",
                             roles=((Role.SCHOOL_OFFICER, school),)),
        "colleague": make_user("officer3", display_name="赵专干", org=school, locale="en",
                               roles=((Role.SCHOOL_OFFICER, school),)),
        "other_officer": make_user("officer2", display_name="李专干", org=region["school2"], locale="en",
                                   roles=((Role.SCHOOL_OFFICER, region["school2"]),)),
        "principal": make_user("principal1", display_name="黄校长", org=school, locale="en",
                               roles=((Role.PRINCIPAL, school),)),
        "peer": make_user("teacher3", display_name="刘老师", org=school, locale="en",
                          roles=((Role.TEACHER, school),)),
        "county": make_user("county1", display_name="曹老师", org=centre, locale="en",
                            roles=((Role.COUNTY_OFFICER, county),)),
        "bureau": make_user("bureau1", display_name="谭科长", org=region["city"], locale="en",
                            roles=((Role.BUREAU_OFFICER, region["city"]),)),
        "researcher": make_user("researcher1", display_name="彭研训员", org=city_institute, locale="en"),
        "far_teacher": make_user("teacher9", display_name="杨老师", org=region["school2"], locale="en",
                                 roles=((Role.TEACHER, region["school2"]),)),
        "admin": make_user("admin1", display_name="管理员", org=region["city"], locale="en",
                           roles=((Role.ADMIN, region["city"]),)),
    }
    db.session.commit()
    return made


@pytest.fixture
def review(db, region, people):
    """An hours_review instance the teacher started and submitted: its review waits for the school's officers."""
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=people["teacher"],
                               title="信息技术培训")
    (submit,) = instances.open_tasks(instance)
    instances.complete_task(submit, people["teacher"], {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    db.session.commit()
    (task,) = instances.open_tasks(instance)
    assert task.bpmn_id == "review"
    return task


def events(db, action):
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def notices(db, kind):
    return list(db.session.scalars(sa.select(Notification).where(Notification.kind == kind)
                                   .order_by(Notification.user_id, Notification.id)))


# -- transfer (转交) ---------------------------------------------------------------------------------------------

def test_transfer_hands_the_task_over_with_the_reason_on_record_and_to_the_colleague(db, review, people):
    officer, colleague = people["officer"], people["colleague"]
    tasks.transfer(review, officer, colleague, "  下周出差，请赵老师审核  ")
    db.session.commit()

    assert (review.assignee_id, review.claimed_by_id) == (colleague.id, None)
    assert not tasks.can_act(review, officer)
    assert tasks.can_act(review, colleague)
    assert [t.id for t in db.session.scalars(tasks.inbox_query(colleague, tasks.Scope.ASSIGNED))] == [review.id]
    assert list(db.session.scalars(sa.select(TaskCandidate.claimable).where(TaskCandidate.task_id == review.id))) \
        == [False], "no longer offered to the group"
    (event,) = events(db, "task.transfer")
    assert (event.actor_id, event.instance_id, event.object_id) == (officer.id, review.instance_id, str(review.id))
    assert event.after == {"task": "review", "to_user_id": colleague.id, "to_name": "赵专干",
                           "reason": "下周出差，请赵老师审核"}
    (notice,) = notices(db, "task.transferred")
    assert notice.user_id == colleague.id
    assert notice.link == f"/inbox/tasks/{review.id}"
    assert notice.title == "王专干 transferred a task to you: 学校审核 – 信息技术培训"
    assert "下周出差，请赵老师审核" in notice.body


@pytest.mark.parametrize(("to", "reason", "field", "message"), [
    ("officer", "出差", "to_user", "Choose a colleague other than yourself."),
    ("other_officer", "出差", "to_user", "李专干 does not hold the role this task needs."),
    ("peer", "出差", "to_user", "刘老师 does not hold the role this task needs."),
    ("colleague", "   ", "reason", "Give the reason for the transfer."),
    ("colleague", "理" * 201, "reason", "A reason can have at most 200 characters."),
])
def test_transfer_refuses_bad_input_and_changes_nothing(db, review, people, to, reason, field, message):
    with pytest.raises(ServiceError) as refused:
        tasks.transfer(review, people["officer"], people[to], reason)
    assert (refused.value.field, str(refused.value)) == (field, message)
    db.session.rollback()
    assert db.session.get(HumanTask, review.id).assignee_id is None
    assert events(db, "task.transfer") == []
    assert notices(db, "task.transferred") == []


def test_a_reason_of_200_characters_is_accepted(db, review, people):
    tasks.transfer(review, people["officer"], people["colleague"], "理" * 200)
    assert review.assignee_id == people["colleague"].id


def test_transfer_to_an_inactive_colleague_is_refused(db, review, people):
    from webapp.services.users import set_user_active

    set_user_active(people["colleague"], False)
    with pytest.raises(ServiceError) as refused:
        tasks.transfer(review, people["officer"], people["colleague"], "出差")
    assert str(refused.value) == "赵专干's account is not active."
    assert review.assignee_id is None


def test_only_who_may_act_on_the_task_may_transfer_it(db, review, people):
    for outsider in ("teacher", "other_officer", "county", "principal"):
        with pytest.raises(NotAllowed):
            tasks.transfer(review, people[outsider], people["colleague"], "出差")
    tasks.claim(review, people["colleague"])
    with pytest.raises(NotAllowed):  # claimed by a colleague: only they act on it now
        tasks.transfer(review, people["officer"], people["colleague"], "出差")
    assert events(db, "task.transfer") == []


def test_a_completed_task_cannot_be_transferred(db, review, people):
    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    with pytest.raises(Conflict):
        tasks.transfer(review, people["officer"], people["colleague"], "出差")


def test_transfer_candidates_are_the_colleagues_who_may_act_on_it(db, review, people, make_user, region):
    from webapp.services.users import delegate, set_user_active

    officer = people["officer"]
    assert tasks.transfer_candidates(review, officer) == [people["colleague"]]
    substitute = make_user("sub1", display_name="Anna 代理")  # Latin sorts before Chinese in every collation
    delegate(people["colleague"], substitute, role=Role.SCHOOL_OFFICER, valid_from=date.today(),
             valid_to=date.today())
    later = make_user("sub2", display_name="未来代理")
    delegate(people["colleague"], later, role=Role.SCHOOL_OFFICER, valid_from=date.today() + timedelta(days=1),
             valid_to=date.today() + timedelta(days=2))
    assert tasks.transfer_candidates(review, officer) == [substitute, people["colleague"]], "by name"
    assert all(tasks.is_candidate(review, person) for person in tasks.transfer_candidates(review, officer))
    assert tasks.transfer_candidates(review, officer, limit=1) == [substitute]
    set_user_active(people["colleague"], False)
    assert tasks.transfer_candidates(review, officer) == [], "an inactive holder and their substitute drop out"


def test_transfer_candidates_never_include_the_applicant_of_a_review(db, review, people, monkeypatch):
    """A teacher who is also the school's officer is a candidate of the review of her own hours, yet the review
    form forbids self-review: she is neither offered nor accepted."""
    from webapp.services.users import assign_role

    teacher = people["teacher"]
    assign_role(teacher, Role.SCHOOL_OFFICER, review.subject_org.parent)
    assert tasks.is_candidate(review, teacher)
    assert teacher in tasks.transfer_candidates(review, people["officer"])
    review.form_key = "hours.review"
    reviews = processes.ProcessPackage(key="hours_review_test", name="hours",
                                       self_review_forms=frozenset({"hours.review"}))
    monkeypatch.setattr(processes, "_packages", {**processes._packages, reviews.key: reviews})
    assert teacher not in tasks.transfer_candidates(review, people["officer"])
    with pytest.raises(ServiceError) as refused:
        tasks.transfer(review, people["officer"], teacher, "她也是专干")
    assert str(refused.value) == "张老师 started this process and may not handle this step of it."


# -- urge (催办) -------------------------------------------------------------------------------------------------

def test_the_initiator_urges_the_candidates_once_a_day(db, review, people, monkeypatch):
    teacher, instance = people["teacher"], review.instance
    (urged,) = urges.urge_instance(instance, teacher)
    db.session.commit()
    assert (urged.task.id, urged.recipients) == (review.id, 2)
    assert [n.user_id for n in notices(db, "task.urged")] == sorted([people["officer"].id, people["colleague"].id])
    notice = notices(db, "task.urged")[0]
    assert notice.title == "张老师 urges you: 学校审核 – 信息技术培训"
    assert notice.link == f"/inbox/tasks/{review.id}"
    (event,) = events(db, "task.urge")
    assert (event.actor_id, event.instance_id, event.object_id) == (teacher.id, instance.id, str(review.id))
    assert event.after == {"task": "review", "recipients": 2}

    with pytest.raises(Conflict) as again:
        urges.urge_instance(instance, teacher)
    assert "You have urged this already; you can urge again after" in str(again.value)
    with pytest.raises(Conflict):
        urges.urge_task(review, teacher)
    db.session.rollback()
    assert len(events(db, "task.urge")) == 1 and len(notices(db, "task.urged")) == 2
    assert urges.next_possible([review.id]) == event.at + urges.URGE_INTERVAL

    just_before = event.at + urges.URGE_INTERVAL - timedelta(minutes=1)
    monkeypatch.setattr(urges, "utcnow", lambda: just_before)
    with pytest.raises(Conflict):
        urges.urge_instance(instance, teacher)
    monkeypatch.setattr(urges, "utcnow", lambda: event.at + urges.URGE_INTERVAL + timedelta(minutes=1))
    assert [u.task.id for u in urges.urge_instance(instance, teacher)] == [review.id]
    assert len(events(db, "task.urge")) == 2


def test_a_claimed_task_urges_only_its_claimer(db, review, people):
    tasks.claim(review, people["colleague"])
    urged = urges.urge_task(review, people["teacher"])
    assert urged.recipients == 1
    assert [n.user_id for n in notices(db, "task.urged")] == [people["colleague"].id]


def test_the_initiator_is_never_urged_herself(db, review, people):
    """A teacher who is also her school's officer is a candidate of the review of her hours (the test process
    allows it): urging tells only the others."""
    from webapp.services.users import assign_role

    assign_role(people["teacher"], Role.SCHOOL_OFFICER, review.subject_org.parent)
    assert tasks.is_candidate(review, people["teacher"])
    assert urges.urge_task(review, people["teacher"]).recipients == 2
    assert [n.user_id for n in notices(db, "task.urged")] == sorted([people["officer"].id, people["colleague"].id])


def test_only_the_initiator_may_urge(db, review, people):
    for other in ("officer", "colleague", "county", "admin", "other_officer"):
        with pytest.raises(NotAllowed):
            urges.urge_instance(review.instance, people[other])
        with pytest.raises(NotAllowed):
            urges.urge_task(review, people[other])
    assert events(db, "task.urge") == [] and notices(db, "task.urged") == []


def test_nothing_to_urge_when_the_process_waits_for_the_initiator_or_is_over(db, region, people, review):
    started = instances.start("hours_review", subject_org=region["maths"], initiator=people["teacher"])
    (submit,) = instances.open_tasks(started)
    assert submit.assignee_id == people["teacher"].id
    with pytest.raises(Conflict) as refused:
        urges.urge_instance(started, people["teacher"])
    assert str(refused.value) == "Nobody can be urged: the process is not waiting for anyone else now."
    assert urges.urgeable(started) == []

    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    assert review.instance.status is InstanceStatus.COMPLETED
    with pytest.raises(Conflict) as over:
        urges.urge_instance(review.instance, people["teacher"])
    assert str(over.value) == "Only a process in progress can be urged."
    assert events(db, "task.urge") == []


# -- copy-to (抄送) ----------------------------------------------------------------------------------------------

def test_a_reviewer_copies_people_who_may_then_read_the_record(db, review, people):
    instance, officer = review.instance, people["officer"]
    chosen = [people["peer"], people["principal"], people["county"], people["bureau"]]
    assert not tasks.can_see_instance(instance, people["peer"])
    added = watchers.add(instance, officer, watchers.people(["TEACHER3", people["principal"].id, "county1",
                                                             "bureau1", "teacher3"]))
    db.session.commit()
    assert added == chosen
    assert [w.user_id for w in watchers.watchers(instance)] == [p.id for p in chosen]
    assert all(w.added_by_id == officer.id for w in watchers.watchers(instance))
    assert tasks.can_see_instance(instance, people["peer"])
    (event,) = events(db, "instance.copy")
    assert (event.actor_id, event.instance_id) == (officer.id, instance.id)
    assert event.after == {"user_ids": [p.id for p in chosen], "names": ["刘老师", "黄校长", "曹老师", "谭科长"]}
    copied = notices(db, "instance.copied")
    assert sorted(n.user_id for n in copied) == sorted(p.id for p in chosen)
    link = f"/inbox/instances/{instance.id}"
    assert {(n.title, n.link) for n in copied} == {("王专干 copied you on “信息技术培训”", link)}

    assert watchers.add(instance, people["colleague"], [people["peer"]]) == [], "copied already: nothing changes"
    assert len(events(db, "instance.copy")) == 1 and len(notices(db, "instance.copied")) == 4


@pytest.mark.parametrize("outsider", ["far_teacher", "researcher"])
def test_people_outside_the_county_cannot_be_copied(db, review, people, outsider):
    """The county's people and those holding a role above it may be copied: not another county's teacher, nor
    someone of the city's institute without a role."""
    with pytest.raises(ServiceError) as refused:
        watchers.add(review.instance, people["officer"], [people["peer"], people[outsider]])
    assert refused.value.field == "users"
    assert people[outsider].display_name in str(refused.value)
    assert people["peer"].display_name not in str(refused.value)
    assert watchers.watchers(review.instance) == []


def test_copy_scope_is_the_county_above_the_record(db, review, region):
    assert watchers.copy_scope(review.instance).id == region["county"].id


def test_copying_refuses_inactive_people_self_unknown_logins_and_more_than_twenty(db, review, people, make_user,
                                                                                  region):
    from webapp.services.users import set_user_active

    officer, instance = people["officer"], review.instance
    set_user_active(people["peer"], False)
    with pytest.raises(ServiceError, match="刘老师"):
        watchers.add(instance, officer, [people["peer"]])
    with pytest.raises(ServiceError, match="You cannot copy yourself"):
        watchers.add(instance, officer, [officer])
    with pytest.raises(ServiceError, match="Choose the people to copy"):
        watchers.add(instance, officer, [])
    with pytest.raises(ServiceError) as unknown:
        watchers.people(["county1", "nobody"])
    assert str(unknown.value) == "There is no such user: nobody."
    crowd = [make_user(f"crowd{n:02d}", org=region["school"]) for n in range(21)]
    with pytest.raises(ServiceError, match="at most 20"):
        watchers.add(instance, officer, crowd)
    with pytest.raises(ServiceError, match="at most 20"):
        watchers.people([person.login for person in crowd])
    assert len(watchers.add(instance, officer, crowd[:20])) == 20
    assert watchers.people(["CROWD00", crowd[0].id, " crowd00 "]) == [crowd[0]]


def test_only_who_acts_or_acted_on_the_process_may_copy(db, review, people):
    instance = review.instance
    for outsider in ("other_officer", "county", "principal", "admin", "peer"):
        assert not watchers.may_copy(instance, people[outsider])
        with pytest.raises(NotAllowed):
            watchers.add(instance, people[outsider], [people["bureau"]])
    assert watchers.may_copy(instance, people["teacher"]), "she completed the submit task"
    assert watchers.may_copy(instance, people["colleague"]), "a candidate of the open review"
    tasks.claim(review, people["officer"])
    assert not watchers.may_copy(instance, people["colleague"]), "claimed by another: cannot act on it"
    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    assert watchers.may_copy(instance, people["officer"]), "completed one of its tasks"
    assert watchers.watchers(instance) == []


def test_watchers_hear_when_the_process_completes(db, review, people):
    instance = review.instance
    watchers.add(instance, people["officer"], [people["peer"], people["principal"]])
    assert notices(db, "instance.ended") == []
    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    assert instance.status is InstanceStatus.COMPLETED
    ended = notices(db, "instance.ended")
    assert sorted(n.user_id for n in ended) == sorted([people["peer"].id, people["principal"].id])
    assert {(n.title, n.link) for n in ended} == {("“信息技术培训” has finished", f"/inbox/instances/{instance.id}")}


def test_watchers_hear_when_an_administrator_cancels_the_process(db, review, people):
    instance = review.instance
    watchers.add(instance, people["officer"], [people["peer"]])
    instance_admin.cancel(instance.id, people["admin"], "重复申请")
    assert db.session.get(HumanTask, review.id).status is TaskStatus.CANCELLED
    (ended,) = notices(db, "instance.ended")
    assert (ended.user_id, ended.title) == (people["peer"].id, "“信息技术培训” was cancelled")


def test_an_instance_without_watchers_ends_without_such_notices(db, review, people):
    instances.complete_task(review, people["officer"], {"approved": True}, tasks.authorise_complete)
    assert notices(db, "instance.ended") == []

