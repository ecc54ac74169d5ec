"""Self-service substitutes (代理人): the rules, the audit, the notices, acting in the range only, and acting_for."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.workflow_support import hours_review_files
from webapp.models import AuditEvent, Delegation, HumanTask, Notification, Role, RoleAssignment, TaskStatus
from webapp.services import definitions, delegations, instances, tasks
from webapp.services.errors import Conflict, NotFound, ServiceError
from webapp.services.users import delegate, end_assignment

TODAY = date.today()


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.fixture
def people(region, make_user):
    school = region["school"]
    return {
        "officer": make_user("liufang", display_name="刘芳", org=school,
                             roles=((Role.SCHOOL_OFFICER, school), (Role.TEACHER, school))),
        "colleague": make_user("wanglei", display_name="王磊", org=school, roles=((Role.TEACHER, school),)),
        "leader": make_user("zhoujie", display_name="周杰", org=school,
                            roles=((Role.SUBGROUP_LEADER, region["maths"]), (Role.TEACHER, school))),
        "outsider": make_user("chenli", display_name="陈丽", org=region["school2"],
                              roles=((Role.TEACHER, region["school2"]),)),
        "teacher": make_user("teacher1", org=school, roles=((Role.TEACHER, school),)),
    }


def own(people, **changes):
    values = {"role": Role.SCHOOL_OFFICER, "valid_from": TODAY, "valid_to": days(6), "reason": "出差"}
    values.update(changes)
    to_user = values.pop("to_user", people["colleague"])
    return delegations.create_own(values.pop("user", people["officer"]), to_user, **values)


def refusal(error: ServiceError) -> tuple[str | None, str]:
    with force_locale("en"):
        return error.field, str(error)


def notes(db, user, kind):
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.kind == kind)))


def events(db, action):
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_a_person_names_a_colleague_and_the_colleague_is_told(db, people):
    delegation = own(people)
    assert (delegation.from_user, delegation.to_user, delegation.role) == (
        people["officer"], people["colleague"], Role.SCHOOL_OFFICER)
    assert (delegation.valid_from, delegation.valid_to, delegation.reason) == (TODAY, days(6), "出差")
    assert delegation.created_by_id == people["officer"].id and delegations.is_self_service(delegation)
    (event,) = events(db, "delegation.create")
    assert (event.actor_id, event.object_id) == (people["officer"].id, str(delegation.id))
    assert event.after["self_service"] is True and event.after["role"] == "school_officer"
    assert event.after["to_user_id"] == people["colleague"].id
    (note,) = notes(db, people["colleague"], delegations.RECEIVED)
    assert "刘芳" in note.title and "出差" in note.body and note.link == delegations.PAGE == "/auth/substitutes"
    assert "学校师训专干" in note.body, "the role, in the substitute's language"
    assert notes(db, people["officer"], delegations.RECEIVED) == []


def test_all_roles_a_blank_reason_and_the_longest_period(db, people, app):
    longest = app.config["YANXUN"]["SUBSTITUTE_MAX_DAYS"]
    assert longest == 90
    delegation = own(people, role="", valid_from=days(1), valid_to=days(longest), reason="   ")
    assert delegation.role is None and delegation.reason is None
    (note,) = notes(db, people["colleague"], delegations.RECEIVED)
    assert "学校师训专干" not in note.body and "刘芳" in note.body
    assert (delegation.valid_to - delegation.valid_from).days + 1 == longest


BAD = {
    "start in the past": ({"valid_from": days(-1)}, "valid_from", "The first day cannot be in the past"),
    "end before start": ({"valid_from": days(3), "valid_to": days(2)}, "valid_to",
                         "The end date must not be before the start date."),
    "too long": ({"valid_to": days(90)}, "valid_to", "at most 90 days"),
    "self": ({"to_user": "officer"}, "to_user", "You cannot be your own substitute"),
    "another school": ({"to_user": "outsider"}, "to_user", "陈丽 does not work in your organisation"),
    "role not held": ({"role": Role.PRINCIPAL}, "role", "You do not hold this role on these days."),
    "no such role": ({"role": "dean"}, "role", "Choose one of the listed options."),
    "administrator": ({"role": Role.ADMIN}, "role", "delegated by another administrator"),
    "reason too long": ({"reason": "出" * 201}, "reason", "at most 200 characters"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_are_refused_on_their_field(db, people, case):
    changes, field, message = BAD[case]
    if "to_user" in changes:
        changes = {**changes, "to_user": people[changes["to_user"]]}
    with pytest.raises(ServiceError) as refused:
        own(people, **changes)
    assert refusal(refused.value)[0] == field
    assert message in refusal(refused.value)[1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delegation)) == 0
    assert events(db, "delegation.create") == []


def test_a_deactivated_substitute_and_a_person_without_roles(db, people, make_user, region):
    people["colleague"].active = False
    with pytest.raises(ServiceError) as refused:
        own(people)
    assert refusal(refused.value) == ("to_user", "The substitute's account is deactivated.")
    nobody = make_user("noroles", org=region["school"])
    with pytest.raises(ServiceError) as refused:
        own(people, user=nobody, to_user=people["teacher"], role=None)
    assert refusal(refused.value) == ("role", "You hold no role on these days, so there is nothing to delegate.")


def test_all_roles_of_an_administrator_would_include_administration(db, people, region, make_user):
    admin = make_user("admin1", org=region["school"],
                      roles=((Role.ADMIN, region["city"]), (Role.SCHOOL_OFFICER, region["school"])))
    with pytest.raises(ServiceError) as refused:
        own(people, user=admin, role=None)
    assert refusal(refused.value)[0] == "role" and "choose one role" in refusal(refused.value)[1]
    assert delegations.delegable_roles(admin) == [Role.SCHOOL_OFFICER]
    assert own(people, user=admin).role is Role.SCHOOL_OFFICER, "one role of theirs is fine"


def test_one_substitute_at_a_time_for_a_role(db, people, make_user, region):
    first = own(people, valid_from=days(2), valid_to=days(5))
    deputy = make_user("deputy", org=region["school"])
    for role, start, end in ((Role.SCHOOL_OFFICER, days(5), days(8)), (None, TODAY, days(2)),
                             (Role.SCHOOL_OFFICER, TODAY, days(30))):
        with pytest.raises(ServiceError) as refused:
            own(people, to_user=deputy, role=role, valid_from=start, valid_to=end)
        field, message = refusal(refused.value)
        assert field == "valid_from" and message.startswith("王磊 already substitutes for you from")
    assert own(people, to_user=deputy, role=Role.TEACHER, valid_from=days(2), valid_to=days(5)), "another role"
    assert own(people, to_user=deputy, valid_from=days(6), valid_to=days(9)), "the next days"
    delegations.revoke_own(people["officer"], first.id)
    assert own(people, to_user=deputy, valid_from=days(2), valid_to=days(5)), "a revoked one is no obstacle"


def test_one_set_up_by_an_administrator_counts_too(db, people, make_user, region):
    admin = make_user("admin1", roles=((Role.ADMIN, region["city"]),))
    delegations.create(people["officer"], people["teacher"], role=None, valid_from=TODAY, valid_to=days(3),
                       reason=None, actor=admin)
    with pytest.raises(ServiceError) as refused:
        own(people)
    assert refusal(refused.value)[0] == "valid_from"


def test_substitutes_are_colleagues_where_the_role_is_held(db, people, region, make_user):
    county_officer = make_user("county1", org=region["county"], roles=((Role.COUNTY_OFFICER, region["county"]),))
    centre = make_user("county2", org=region["county"])
    away = make_user("away", roles=((Role.SCHOOL_OFFICER, region["school"]),))  # no organisation of their own
    old = make_user("gone", org=region["school"])
    old.active = False
    school = {"wanglei", "zhoujie", "teacher1"}
    assert {u.login for u in delegations.substitute_choices(people["officer"])} == school
    assert {u.login for u in delegations.substitute_choices(away)} == school | {"liufang"}, "where the role is"
    assert {u.login for u in delegations.substitute_choices(people["leader"], Role.SUBGROUP_LEADER)} == (
        school - {"zhoujie"}) | {"liufang"}, "a subgroup leader's colleagues are the school's"
    assert [u.login for u in delegations.substitute_choices(county_officer)] == ["county2"], (
        "the county centre, not every school below it")
    assert own(people, user=away, role=Role.SCHOOL_OFFICER, to_user=people["colleague"])
    with pytest.raises(ServiceError) as refused:
        own(people, user=county_officer, role=Role.COUNTY_OFFICER, to_user=people["colleague"])
    assert refusal(refused.value)[0] == "to_user"
    assert own(people, user=county_officer, role=Role.COUNTY_OFFICER, to_user=centre)


def test_revoking_my_own_substitute(db, people, make_user, region):
    delegation = own(people)
    stranger = make_user("stranger", org=region["school"], roles=((Role.SCHOOL_OFFICER, region["school"]),))
    for user in (stranger, people["colleague"]):
        with pytest.raises(NotFound):
            delegations.revoke_own(user, delegation.id)
    assert delegation.active, "neither a stranger nor the substitute may revoke it"
    with pytest.raises(NotFound):
        delegations.revoke_own(people["officer"], delegation.id + 1000)

    delegations.revoke_own(people["officer"], delegation.id)
    assert not delegation.active and delegation.revoked_at is not None
    (event,) = events(db, "delegation.revoke")
    assert event.actor_id == people["officer"].id and event.after["self_service"] is True
    assert event.before["active"] is True and event.after["active"] is False
    (note,) = notes(db, people["colleague"], delegations.ENDED)
    assert "刘芳" in note.title and note.link == delegations.PAGE
    with pytest.raises(Conflict):
        delegations.revoke_own(people["officer"], delegation.id)
    assert len(events(db, "delegation.revoke")) == 1


def test_one_that_is_over_is_not_revoked_and_nobody_is_told(db, people, make_user, region):
    over = delegate(people["officer"], people["colleague"], role=None, valid_from=days(-5), valid_to=days(-1))
    with pytest.raises(Conflict):
        delegations.revoke_own(people["officer"], over.id)
    admin = make_user("admin1", roles=((Role.ADMIN, region["city"]),))
    delegations.revoke(over, actor=admin)
    (event,) = events(db, "delegation.revoke")
    assert event.after["self_service"] is False
    assert notes(db, people["colleague"], delegations.ENDED) == []


def test_an_administrators_delegation_is_audited_and_told_too(db, people, make_user, region):
    admin = make_user("admin1", roles=((Role.ADMIN, region["city"]),))
    delegation = delegations.create(people["officer"], people["colleague"], role=Role.SCHOOL_OFFICER,
                                    valid_from=days(-3), valid_to=days(3), reason="病假", actor=admin, ip="10.0.0.1")
    assert not delegations.is_self_service(delegation)
    (event,) = events(db, "delegation.create")
    assert (event.actor_id, event.ip, event.after["self_service"]) == (admin.id, "10.0.0.1", False)
    assert len(notes(db, people["colleague"], delegations.RECEIVED)) == 1


def test_what_a_person_sees_of_their_substitutes(db, people):
    ahead = own(people, valid_from=days(1), valid_to=days(2))
    now = own(people, role=Role.TEACHER)
    over = delegate(people["officer"], people["colleague"], role=None, valid_from=days(-9), valid_to=days(-2))
    revoked = own(people, valid_from=days(10), valid_to=days(12))
    delegations.revoke_own(people["officer"], revoked.id)
    mine = delegations.of_user(people["officer"])
    assert mine.given == [now, ahead] and mine.given_past == [revoked, over]
    assert mine.received == [] and mine.received_past == []
    theirs = delegations.of_user(people["colleague"])
    assert theirs.received == [now, ahead] and theirs.given == []
    assert [delegations.status(d, TODAY) for d in (now, ahead, over, revoked)] == [
        "current", "future", "past", "revoked"]


# -- acting in the range, and for whom -------------------------------------------------------------------------

@pytest.fixture
def review(db, region, people):
    """The school officer's review of a teacher's application, open."""
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=people["teacher"],
                               data={}, title="测试申请")
    (submit,) = open_tasks(db, instance)
    instances.complete_task(submit, people["teacher"], {"title": "信息技术培训", "hours": 12, "category": "training"},
                            tasks.authorise_complete)
    (task,) = open_tasks(db, instance)
    assert task.bpmn_id == "review"
    return task


def open_tasks(db, instance):
    return list(db.session.scalars(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                              HumanTask.status == TaskStatus.OPEN)))


def inbox(db, user):
    return list(db.session.scalars(tasks.inbox_query(user)))


def test_the_substitute_acts_on_the_tasks_during_the_range_only(db, people, review):
    substitute = people["colleague"]
    assert not tasks.can_act(review, substitute) and inbox(db, substitute) == []
    delegation = own(people, valid_from=days(1), valid_to=days(3))
    assert not tasks.can_act(review, substitute), "not before the first day"
    delegation.valid_from, delegation.valid_to = TODAY, days(2)  # the first day has come
    db.session.flush()
    assert tasks.can_act(review, substitute) and inbox(db, substitute) == [review]
    assert tasks.can_act(review, people["officer"]), "the person away keeps their own access"
    delegation.valid_from, delegation.valid_to = days(-3), days(-1)  # the last day has passed
    db.session.flush()
    assert not tasks.can_act(review, substitute) and inbox(db, substitute) == []


def test_a_revoked_substitute_stops_at_once(db, people, review):
    delegation = own(people)
    assert tasks.can_act(review, people["colleague"])
    delegations.revoke_own(people["officer"], delegation.id)
    assert not tasks.can_act(review, people["colleague"])


def test_acting_for_on_an_open_task(db, people, review, make_user, region):
    assert delegations.acting_for(people["colleague"], review, TODAY) is None, "no delegation"
    own(people)
    assert delegations.acting_for(people["colleague"], review, TODAY) == people["officer"]
    assert delegations.acting_for(people["colleague"], review, days(7)) is None, "after the range"
    assert delegations.acting_for(people["officer"], review, TODAY) is None, "in her own right"
    second = make_user("officer2", org=region["school"], roles=((Role.SCHOOL_OFFICER, region["school"]),))
    delegate(people["officer"], second, role=None, valid_from=TODAY, valid_to=TODAY)
    assert delegations.acting_for(second, review, TODAY) is None, "holds the role herself as well"
    own(people, user=people["leader"], role=Role.SUBGROUP_LEADER, to_user=people["teacher"])
    assert delegations.acting_for(people["teacher"], review, TODAY) is None, "a delegation of another role"


def test_acting_for_a_leader_who_substitutes_in_another_role(db, people, review, region):
    """周杰 leads a subgroup and substitutes for the school officer: the school's review is done for 刘芳, her
    subgroup's in her own right."""
    own(people, to_user=people["leader"])
    assert delegations.acting_for(people["leader"], review, TODAY) == people["officer"]
    (candidate,) = review.candidates
    candidate.role, candidate.org_id = Role.SUBGROUP_LEADER, region["maths"].id
    db.session.flush()
    assert delegations.acting_for(people["leader"], review, TODAY) is None


def test_acting_for_stays_right_once_the_task_is_over(db, people, review):
    delegation = own(people)
    instances.complete_task(review, people["colleague"], {"approved": True}, tasks.authorise_complete)
    assert review.status is TaskStatus.COMPLETED and review.candidates == [], "its candidates are gone"
    assert delegations.acting_for(people["colleague"], review, TODAY) == people["officer"]
    delegations.revoke_own(people["officer"], delegation.id)
    end_assignment(db.session.scalar(sa.select(RoleAssignment).where(
        RoleAssignment.user_id == people["officer"].id, RoleAssignment.role == Role.SCHOOL_OFFICER)))
    assert delegations.acting_for(people["colleague"], review, TODAY) == people["officer"], (
        "revoked and ended since, but in force that day")
    assert delegations.acting_for(people["colleague"], review, days(-1)) is None, "not in force the day before"
    assert delegations.acting_for(people["officer"], review, TODAY) is None

