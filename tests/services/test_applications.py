"""The credit-hour application process end to end through the service layer: checks, the review chain,
return for revision, reject, withdraw, four-eyes, duplicate evidence and who may see or act."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import (
    CreditEntry,
    EntrySource,
    HumanTask,
    InstanceStatus,
    Notification,
    Role,
    TaskStatus,
)
from webapp.processes.credit_application import applications
from webapp.processes.credit_application.models import Application, ApplicationStatus
from webapp.services import definitions, instances, ledger, rules, tasks
from webapp.services.errors import Conflict, FormRejected, NotAllowed, NotFound, ServiceError

DIAGRAM = Path(__file__).resolve().parents[2] / "workflows" / "credit_application" / "credit_application.bpmn"
RULES = """\
id: test-c1-2020
title: 测试市学时规则
source: 测试数据
jurisdiction: C1
effective_from: 2020-01-01
units: {measure: hours, default: {hours: 1, credits: 1}}
periods:
  school_year_start: "09-01"
  semester_starts: ["09-01", "02-01"]
  cycles:
    cycle: {anchor: 2021-01-01, years: 5, name: 培训周期}
categories:
  school_based: {name: 校本研修, recognised_by: school}
  online: {name: 网络研修, recognised_by: county}
  school_outcome: {name: 研修成果, parent: school_based}
items:
  open_lesson: {category: school_based, name: 公开课, hours: 4, caps: {school_year: {max: 12}}}
  remote_course: {category: online, name: 远程研修课程}
requirements:
  cycle:
    total: {min: 360, measure: hours}
shared_evidence:
  - categories: [online, school_outcome]
    note: 研修成果可以共用
"""
PDF = b"%PDF-1.4 certificate "
PNG = b"\x89PNG\r\n\x1a\n sign-in sheet "


@pytest.fixture(autouse=True)
def english(db):
    from flask_babel import force_locale

    with force_locale("en"):
        yield


@pytest.fixture
def evidence_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config["YANXUN"], "EVIDENCE_DIR", str(tmp_path / "evidence"))
    return tmp_path / "evidence"


@pytest.fixture
def chain(db, region, make_user, tmp_path, evidence_dir):
    """Rule set and diagram deployed; a teacher in the maths subgroup and the whole review chain."""
    from webapp.services.users import set_primary_subgroup

    rule_file = tmp_path / "test-c1.yaml"
    rule_file.write_text(RULES, encoding="utf-8")
    rules.load_rule_files([rule_file])
    definitions.deploy({DIAGRAM.name: DIAGRAM.read_bytes()}, None)
    school, county = region["school"], region["county"]
    teacher = make_user("teacher1", org=school, locale="en", roles=((Role.TEACHER, school),))
    set_primary_subgroup(teacher, region["maths"])
    people = {
        "teacher": teacher,
        "leader": make_user("leader1", org=school, roles=((Role.SUBGROUP_LEADER, region["maths"]),)),
        "officer": make_user("officer1", org=school, roles=((Role.SCHOOL_OFFICER, school),)),
        "county": make_user("county1", roles=((Role.COUNTY_OFFICER, county),)),
        "other_teacher": make_user("teacher2", org=school, locale="en", roles=((Role.TEACHER, school),)),
        "other_leader": make_user("leader2", org=school, roles=((Role.SUBGROUP_LEADER, region["chinese"]),)),
        "other_officer": make_user("officer2", roles=((Role.SCHOOL_OFFICER, region["school2"]),)),
        "other_county": make_user("county2", roles=((Role.COUNTY_OFFICER, region["county2"]),)),
    }
    db.session.commit()
    return people


def values(**overrides):
    base = {"category": "online", "item_code": "remote_course", "level": "province", "organiser": "省教育厅",
            "start_date": date(2026, 10, 1), "end_date": date(2026, 10, 5), "hours_requested": 30,
            "description": "省级远程研修"}
    return {**base, **overrides}


def apply(teacher, files=(("certificate.pdf", PDF),), **overrides):
    from webapp.extensions import db

    application = applications.submit(teacher, values(**overrides),
                                      [applications.Upload(name, data) for name, data in files])
    db.session.commit()
    return application


def task_of(application, bpmn_id=None):
    task = applications.open_task(application)
    assert task is not None, f"no open task; status {application.status}"
    if bpmn_id:
        assert task.bpmn_id == bpmn_id
    return task


def review(application, user, decision="approve", hours=None, comment="", bpmn_id=None):
    from webapp.extensions import db

    task = task_of(application, bpmn_id)
    if hours is None and decision == "approve":
        hours = applications.review_limit(application)
    applications.review(task, user, decision, hours, comment)
    db.session.commit()
    return task


def test_full_story_to_the_ledger(db, chain, evidence_dir):
    application = apply(chain["teacher"], files=(("certificate.pdf", PDF), ("photo.png", PNG)))
    assert application.status is ApplicationStatus.SUBMITTED
    assert len(application.evidence) == 2
    stored = evidence_dir / application.evidence[0].storage_path
    assert stored.read_bytes() == PDF
    sha = application.evidence[0].sha256
    assert application.evidence[0].storage_path == f"{sha[:2]}/{sha}"

    leader_task = review(application, chain["leader"], bpmn_id="leader_review")
    assert leader_task.completed_by_id == chain["leader"].id
    with pytest.raises(FormRejected) as refused:
        applications.review(task_of(application, "school_review"), chain["officer"], "approve", 20, "")
    assert "comment" in refused.value.errors, "fewer hours need a reason"
    with pytest.raises(FormRejected):
        applications.review(task_of(application, "school_review"), chain["officer"], "approve", 31, "x")
    review(application, chain["officer"], hours=24, comment="证书学时为24", bpmn_id="school_review")
    assert application.hours_approved == 24
    with pytest.raises(FormRejected):
        applications.review(task_of(application, "county_review"), chain["county"], "approve", 25, "多给")
    review(application, chain["county"], hours=24, bpmn_id="county_review")

    assert application.status is ApplicationStatus.RECOGNISED
    assert application.instance.status is InstanceStatus.COMPLETED
    entry = db.session.get(CreditEntry, application.credit_entry_id)
    assert (entry.source, entry.hours, entry.counted_hours) == (EntrySource.APPLICATION, 24, 24)
    assert entry.source_ref == str(application.instance_id)
    assert entry.evidence_hash == application.evidence[0].sha256
    assert entry.recognised_by_id == chain["county"].id
    cycle = ledger.progress(chain["teacher"], date(2026, 11, 1)).period("cycle")
    assert (cycle.total.counted, cycle.total.minimum, cycle.total.remaining) == (24, 360, 336)
    assert ledger.progress(chain["teacher"], date(2026, 10, 4)).period("cycle").total.counted == 0, \
        "earned when the training ended"
    kinds = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == chain["teacher"].id)).all()
    assert kinds == ["application.recognised"]
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "application.recognised"))
    assert note.body == "24 hours (24 credits) were recognised and all of them count in your ledger."


def test_the_notice_says_what_a_cap_leaves_out(db, chain):
    """Open lessons count at most 12 hours a school year: with 10 already counted, 2 of the 4 recognised hours
    count and 2 do not; the teacher is told exactly that, and why (not "4 hours were posted")."""
    ledger.post_entry(chain["teacher"], item="open_lesson", hours=4, earned_on=date(2026, 9, 10))
    ledger.post_entry(chain["teacher"], item="open_lesson", hours=4, earned_on=date(2026, 9, 17))
    ledger.post_entry(chain["teacher"], item="open_lesson", hours=2, earned_on=date(2026, 9, 24))
    db.session.commit()
    application = apply(chain["teacher"], category="school_based", item_code="open_lesson", hours_requested=4,
                        organiser="数学组")
    review(application, chain["leader"], bpmn_id="leader_review")
    review(application, chain["officer"], bpmn_id="school_review")
    assert application.status is ApplicationStatus.RECOGNISED
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "application.recognised"))
    assert note.body == ("4 hours (4 credits) were recognised; 2 hours (2 credits) count in your ledger and 2 hours "
                         "do not: 公开课在2026–2027学年最多计 12 学时，已计 10 学时，超出部分不计入.")


def test_school_based_item_is_recognised_by_the_school(db, chain):
    application = apply(chain["teacher"], category="school_based", item_code="open_lesson", hours_requested=4,
                        level="school")
    review(application, chain["leader"], bpmn_id="leader_review")
    review(application, chain["officer"], bpmn_id="school_review")
    assert application.status is ApplicationStatus.RECOGNISED
    assert applications.open_task(application) is None


def test_teacher_without_subgroup_leader_goes_to_the_school(db, chain, make_user, region):
    teacher = make_user("teacher3", org=region["school"], roles=((Role.TEACHER, region["school"]),))
    application = apply(teacher, category="school_based", item_code="open_lesson", hours_requested=4)
    assert task_of(application).bpmn_id == "school_review"



def test_a_teacher_who_alone_leads_her_own_subgroup_goes_to_the_school(db, chain, make_user, make_org, region):
    """Nobody else may review for her subgroup's leader (four-eyes), so that step is left out; once a co-leader is
    appointed, the co-leader reviews first."""
    from webapp.services.users import set_primary_subgroup

    english = make_org("subgroup", region["school"], code="C1-K1-S1-ENG", name="英语备课组")
    teacher = make_user("teacher_leader", org=region["school"], roles=((Role.TEACHER, region["school"]),
                                                                      (Role.SUBGROUP_LEADER, english)))
    set_primary_subgroup(teacher, english)
    alone = apply(teacher, category="school_based", item_code="open_lesson", hours_requested=4)
    assert alone.subject_org_id == english.id
    task_of(alone, "school_review")

    co_leader = make_user("co_leader", org=region["school"], roles=((Role.SUBGROUP_LEADER, english),))
    second = apply(teacher, files=(("lesson.pdf", PDF + b"second"),), category="school_based",
                   item_code="open_lesson", hours_requested=4, organiser="英语组")
    leader_task = task_of(second, "leader_review")
    assert tasks.is_candidate(leader_task, co_leader)
    with pytest.raises(NotAllowed):
        applications.review(leader_task, teacher, "approve", 4, "")

def test_failed_checks_return_to_the_teacher_who_revises(db, chain):
    application = apply(chain["teacher"], category="school_based", item_code="open_lesson", hours_requested=20)
    assert application.status is ApplicationStatus.RETURNED
    assert "at most 4 hours" in application.return_reason
    revise = task_of(application, "revise")
    assert revise.assignee_id == chain["teacher"].id
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "application.returned"))
    assert note.user_id == chain["teacher"].id and "at most 4 hours" in note.body

    with pytest.raises(NotAllowed):
        applications.resubmit(application, chain["other_teacher"], values(), [])
    with pytest.raises(FormRejected) as refused:
        applications.resubmit(application, chain["teacher"], values(hours_requested=0), [])
    assert "hours_requested" in refused.value.errors
    applications.resubmit(application, chain["teacher"], values(category="school_based", item_code="open_lesson",
                                                                hours_requested=4), [])
    db.session.commit()
    assert application.status is ApplicationStatus.SUBMITTED
    assert revise.status is TaskStatus.COMPLETED
    assert task_of(application).bpmn_id == "leader_review"



def test_an_application_keeps_within_the_evidence_file_limit(app, db, chain, monkeypatch):
    """At most EVIDENCE_MAX_FILES files, counting on a revision the files it keeps as well as the new ones."""
    monkeypatch.setitem(app.config["YANXUN"], "EVIDENCE_MAX_FILES", 2)
    pdfs = [(f"certificate{n}.pdf", PDF + str(n).encode()) for n in range(4)]
    with pytest.raises(FormRejected) as refused:
        apply(chain["teacher"], files=pdfs[:3])
    assert refused.value.errors == {"evidence": ["Attach at most 2 files."]}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == 0

    application = apply(chain["teacher"], files=pdfs[:2], category="school_based", item_code="open_lesson",
                        hours_requested=20)
    assert application.status is ApplicationStatus.RETURNED and len(application.evidence) == 2
    revised = values(category="school_based", item_code="open_lesson", hours_requested=4)
    with pytest.raises(FormRejected) as refused:
        applications.resubmit(application, chain["teacher"], revised, [applications.Upload(*pdfs[2])])
    assert refused.value.errors == {"evidence": ["Attach at most 2 files."]}
    db.session.rollback()
    assert application.status is ApplicationStatus.RETURNED and len(application.evidence) == 2
    replaced = application.evidence[0]
    applications.resubmit(application, chain["teacher"], revised, [applications.Upload(*pdfs[2])],
                          remove_ids=[replaced.id])
    db.session.commit()
    assert application.status is ApplicationStatus.SUBMITTED
    assert sorted(e.file_name for e in application.evidence) == ["certificate1.pdf", "certificate2.pdf"]

def test_reviewer_returns_for_revision_with_comment(db, chain):
    application = apply(chain["teacher"])
    review(application, chain["leader"])
    with pytest.raises(FormRejected) as refused:
        applications.review(task_of(application), chain["officer"], "return", None, "")
    assert "comment" in refused.value.errors
    review(application, chain["officer"], "return", comment="请补充结业证书")
    assert application.status is ApplicationStatus.RETURNED
    assert application.return_reason == "请补充结业证书"
    task_of(application, "revise")
    kinds = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == chain["teacher"].id)).all()
    assert kinds.count("application.returned") == 1
    assert "task.opened" not in kinds, "one notice (with the reason), not two"
    applications.resubmit(application, chain["teacher"], values(hours_requested=28),
                          [applications.Upload("extra.png", PNG)])
    db.session.commit()
    assert len(application.evidence) == 2
    assert application.hours_approved is None
    assert task_of(application).bpmn_id == "leader_review", "the chain starts again"


def test_reject_ends_the_process(db, chain):
    application = apply(chain["teacher"])
    review(application, chain["leader"], "reject", comment="与本人无关")
    assert application.status is ApplicationStatus.REJECTED
    assert application.instance.status is InstanceStatus.COMPLETED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CreditEntry)) == 0
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "application.rejected"))
    assert note.body == "与本人无关"


def test_withdraw_before_the_final_decision(db, chain):
    application = apply(chain["teacher"])
    review(application, chain["leader"])
    open_review = task_of(application, "school_review")
    with pytest.raises(NotAllowed):
        applications.withdraw(application, chain["officer"])
    applications.withdraw(application, chain["teacher"])
    db.session.commit()
    assert application.status is ApplicationStatus.WITHDRAWN
    assert application.instance.status is InstanceStatus.CANCELLED
    assert application.instance.next_timer_at is None
    assert open_review.status is TaskStatus.CANCELLED
    assert list(db.session.scalars(tasks.inbox_query(chain["officer"]))) == []
    with pytest.raises(Conflict):
        applications.review(open_review, chain["officer"], "approve", 30, "")
    with pytest.raises(Conflict):
        applications.withdraw(application, chain["teacher"])
    # withdrawn evidence is free again
    again = apply(chain["teacher"], hours_requested=29)
    assert again.status is ApplicationStatus.SUBMITTED


def test_no_withdraw_after_the_final_decision(db, chain):
    application = apply(chain["teacher"], category="school_based", item_code="open_lesson", hours_requested=4)
    review(application, chain["leader"])
    review(application, chain["officer"])
    with pytest.raises(Conflict):
        applications.withdraw(application, chain["teacher"])
    assert application.status is ApplicationStatus.RECOGNISED


def test_four_eyes(db, chain, make_user, region):
    both = make_user("both1", org=region["school"], roles=((Role.SUBGROUP_LEADER, region["maths"]),
                                                          (Role.SCHOOL_OFFICER, region["school"])))
    application = apply(chain["teacher"])
    review(application, both, bpmn_id="leader_review")
    school_task = task_of(application, "school_review")
    with pytest.raises(NotAllowed) as refused:
        applications.review(school_task, both, "approve", 30, "")
    assert "four-eyes" in str(refused.value)
    with pytest.raises(NotAllowed):  # the engine path is guarded too
        instances.complete_task(school_task, both, {"decision": "approve"}, applications.authorise_review)
    assert school_task.status is TaskStatus.OPEN
    review(application, chain["officer"], bpmn_id="school_review")
    assert task_of(application).bpmn_id == "county_review"


def test_applicant_never_reviews_own_application(db, chain, make_user, region):
    leader = make_user("leaderteacher", org=region["school"], roles=((Role.TEACHER, region["school"]),
                                                                     (Role.SCHOOL_OFFICER, region["school"])))
    application = apply(leader, category="school_based", item_code="open_lesson", hours_requested=4)
    with pytest.raises(NotAllowed):
        applications.review(task_of(application, "school_review"), leader, "approve", 4, "")


def test_the_applicants_own_review_is_not_offered_in_her_inbox(db, chain, make_user, region):
    leader = make_user("leaderteacher", org=region["school"], roles=((Role.TEACHER, region["school"]),
                                                                     (Role.SCHOOL_OFFICER, region["school"])))
    application = apply(leader, category="school_based", item_code="open_lesson", hours_requested=4)
    own = task_of(application, "school_review")
    pairs = tasks.held_pairs(leader)
    for scope in (tasks.Scope.CLAIMABLE, tasks.Scope.ALL):
        assert own.id not in [t.id for t in db.session.scalars(tasks.inbox_query(leader, scope))]
    assert tasks.claimable_count(leader, pairs) == 0
    assert tasks.claimable_page(leader, pairs, page=1, per_page=20) == []
    officer = chain["officer"]
    assert tasks.claimable_count(officer, tasks.held_pairs(officer)) == 1
    with pytest.raises(ServiceError) as refused:  # nor can it be transferred to her
        tasks.transfer(own, officer, leader, "她也是专干")
    assert refused.value.field == "to_user"
    assert own.assignee_id is None
    assert list(db.session.scalars(tasks.inbox_query(leader, tasks.Scope.ASSIGNED))) == []


def test_duplicate_evidence_is_detected(db, chain):
    first = apply(chain["teacher"])
    assert first.status is ApplicationStatus.SUBMITTED
    second = apply(chain["other_teacher"], organiser="别的机构")
    assert second.status is ApplicationStatus.RETURNED
    assert second.return_reason == ("The file certificate.pdf has already been used as evidence for credit hours; "
                                    "the same file cannot be used twice.")
    # the same teacher submitting the same thing twice gets the first back (double submit)
    assert apply(chain["teacher"]).id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)
                             .where(Application.teacher_id == chain["teacher"].id)) == 1


def test_duplicate_evidence_of_another_teacher_names_no_application(db, chain, region, make_user):
    """Another county's teacher learns only that the file was used: not its application number, not in Chinese
    either."""
    first = apply(chain["teacher"])
    elsewhere = make_user("teacher3", org=region["school2"], locale="zh_CN", roles=((Role.TEACHER, region["school2"]),))
    second = apply(elsewhere, organiser="别的机构")
    assert second.status is ApplicationStatus.RETURNED
    assert second.return_reason == "文件 certificate.pdf 已被用作学时证明材料，同一份材料不能重复使用。"
    assert str(first.id) not in second.return_reason.replace("certificate.pdf", "")


def test_duplicate_evidence_of_the_teacher_names_her_own_application(db, chain):
    first = apply(chain["teacher"])
    again = apply(chain["teacher"], organiser="另一个机构")  # not a double submit: other fields, same file
    assert again.id != first.id and again.status is ApplicationStatus.RETURNED
    assert again.return_reason == f"The file certificate.pdf was already used in your application no. {first.id}."


def test_evidence_in_another_teachers_ledger_names_no_entry(db, chain):
    import hashlib

    ledger.post_entry(chain["other_teacher"], earned_on=date(2026, 9, 10), category="online", hours=10,
                      evidence_hash=hashlib.sha256(PDF).hexdigest(), source=EntrySource.IMPORT)
    application = apply(chain["teacher"])
    assert application.status is ApplicationStatus.RETURNED
    assert application.return_reason == ("The file certificate.pdf has already been used as evidence for credit "
                                         "hours; the same file cannot be used twice.")


def test_evidence_already_in_the_ledger_is_a_duplicate(db, chain):
    import hashlib

    ledger.post_entry(chain["teacher"], earned_on=date(2026, 9, 10), category="online", hours=10,
                      evidence_hash=hashlib.sha256(PDF).hexdigest(), source=EntrySource.IMPORT)
    application = apply(chain["teacher"])
    assert application.status is ApplicationStatus.RETURNED
    assert "already backs a credit entry of 2026-09-10" in application.return_reason


def test_a_recognised_outcome_may_back_an_application_in_the_sharing_category(db, chain):
    """Dali [003] 六: "网络研修、校本研修的研修成果在学时认定时,可以共用". Once the outcome is in the ledger
    as a school-based outcome, an online application with the same file is not a duplicate (it used to be
    accepted only while both were in flight); a second school-based outcome with it still is."""
    import hashlib

    ledger.post_entry(chain["teacher"], earned_on=date(2026, 9, 10), category="school_outcome", hours=4,
                      evidence_hash=hashlib.sha256(PDF).hexdigest(), source=EntrySource.IMPORT)
    online = apply(chain["teacher"])
    assert online.status is ApplicationStatus.SUBMITTED, online.return_reason
    outcome = apply(chain["teacher"], category="school_outcome", item_code=None, organiser="本校", hours_requested=4)
    assert outcome.status is ApplicationStatus.RETURNED
    assert "already backs a credit entry of 2026-09-10" in outcome.return_reason


def test_a_resubmitted_application_keeps_its_file_against_a_later_one(db, chain):
    """A returned for revision, B (later) reuses A's file and is returned as a duplicate of A; A resubmitted
    must go on (it used to be refused because of B, and B because of A, until B was withdrawn)."""
    first = apply(chain["teacher"])
    review(first, chain["leader"], "return", comment="请补充培训通知", bpmn_id="leader_review")
    assert first.status is ApplicationStatus.RETURNED
    later = apply(chain["teacher"], organiser="另一个机构")
    assert later.status is ApplicationStatus.RETURNED
    assert later.return_reason == f"The file certificate.pdf was already used in your application no. {first.id}."
    applications.resubmit(first, chain["teacher"], values(description="补充了培训通知"), [])
    db.session.commit()
    assert first.status is ApplicationStatus.SUBMITTED, first.return_reason
    assert task_of(first).bpmn_id == "leader_review"


def test_bad_input_is_refused_and_nothing_is_saved(db, chain, app, monkeypatch, evidence_dir):
    monkeypatch.setitem(app.config["YANXUN"], "EVIDENCE_MAX_BYTES", 100)
    cases = [
        [applications.Upload("big.pdf", PDF + b"x" * 200)],
        [applications.Upload("macro.exe", b"MZ....")],
        [applications.Upload("fake.pdf", b"not a pdf")],
        [],
    ]
    for uploads in cases:
        with pytest.raises(FormRejected) as refused:
            applications.submit(chain["teacher"], values(), uploads)
        assert "evidence" in refused.value.errors
        db.session.rollback()
    with pytest.raises(FormRejected) as refused:
        applications.submit(chain["teacher"], values(category="nope", end_date=date(2026, 9, 1), organiser=""),
                            [applications.Upload("c.pdf", PDF)])
    assert set(refused.value.errors) == {"category", "end_date", "organiser"}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == 0
    assert not evidence_dir.exists() or not any(evidence_dir.rglob("*"))


def test_nobody_outside_the_chain_sees_or_acts(db, chain):
    application = apply(chain["teacher"])
    outsiders = [chain["other_teacher"], chain["other_leader"], chain["other_officer"], chain["other_county"]]
    leader_task = task_of(application, "leader_review")
    for user in outsiders:
        with pytest.raises(NotFound):
            applications.get_visible(application.id, user)
        with pytest.raises(NotFound):
            tasks.get_visible(leader_task.id, user)
        assert list(db.session.scalars(tasks.inbox_query(user))) == []
        with pytest.raises(NotAllowed):
            applications.review(leader_task, user, "approve", 30, "")
        with pytest.raises(NotAllowed):
            applications.withdraw(application, user)
    assert applications.get_visible(application.id, chain["leader"]) is application
    assert applications.get_visible(application.id, chain["teacher"]) is application
    with pytest.raises(NotAllowed):
        applications.review(leader_task, chain["officer"], "approve", 30, "")
    review(application, chain["leader"])
    assert applications.get_visible(application.id, chain["leader"]) is application, "after acting, still visible"
    school_task = task_of(application, "school_review")
    with pytest.raises(NotAllowed):
        applications.review(school_task, chain["other_officer"], "approve", 30, "")
    assert [t.id for t in db.session.scalars(tasks.inbox_query(chain["officer"]))] == [school_task.id]


def test_reminder_and_escalation_notify_without_closing_the_review(db, chain):
    from datetime import timedelta

    application = apply(chain["teacher"])
    instance = application.instance
    first = instance.next_timer_at
    assert first is not None
    fired = instances.fire_due_timers(instances.lock_instance(instance.id), first + timedelta(minutes=1))
    db.session.commit()
    assert len(fired) == 1
    reminded = db.session.scalars(sa.select(Notification.user_id)
                                  .where(Notification.kind == "application.reminder")).all()
    assert reminded == [chain["leader"].id]
    later = instance.next_timer_at
    assert later - first >= timedelta(days=3, hours=23)
    instances.fire_due_timers(instances.lock_instance(instance.id), later + timedelta(minutes=1))
    db.session.commit()
    escalated = db.session.scalars(sa.select(Notification.user_id)
                                   .where(Notification.kind == "application.escalation")).all()
    assert escalated == [chain["officer"].id], "the next level up"
    assert task_of(application, "leader_review").status is TaskStatus.OPEN
    assert db.session.scalar(sa.select(HumanTask.due_at).where(HumanTask.bpmn_id == "leader_review")) is not None


def test_api_completion_of_a_review_keeps_four_eyes(app, db, chain, make_user, region):
    """The JSON API's complete goes through the same application rules as the review page."""
    from webapp.services.api_tokens import issue

    both = make_user("both2", org=region["school"], locale="en",
                     roles=((Role.SUBGROUP_LEADER, region["maths"]), (Role.SCHOOL_OFFICER, region["school"])))
    token = issue(both, "test")[1]
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    application = apply(chain["teacher"])
    leader_task = task_of(application, "leader_review")
    response = client.post(f"/api/v1/tasks/{leader_task.id}/complete", headers=headers,
                           json={"data": {"decision": "approve", "approved_hours": 40}})
    assert response.status_code == 422, "more hours than asked are refused"
    assert "approved_hours" in response.get_json()["error"]["fields"]
    response = client.post(f"/api/v1/tasks/{leader_task.id}/complete", headers=headers,
                           json={"data": {"decision": "approve", "approved_hours": 30}})
    assert response.status_code == 200, response.get_json()
    school_task = task_of(application, "school_review")
    refused = client.post(f"/api/v1/tasks/{school_task.id}/complete", headers=headers,
                          json={"data": {"decision": "approve", "approved_hours": 30}})
    assert refused.status_code == 403
    assert "four-eyes" in refused.get_json()["error"]["message"]
    teacher_token = issue(chain["teacher"], "test")[1]
    db.session.commit()
    application2 = apply(chain["teacher"], files=(("other.pdf", PDF + b"2"),))
    db.session.commit()
    applications.review(task_of(application2, "leader_review"), chain["leader"], "return", None, "补充材料")
    db.session.commit()
    revise = task_of(application2, "revise")
    answer = client.post(f"/api/v1/tasks/{revise.id}/complete", json={"data": {}},
                         headers={"Authorization": f"Bearer {teacher_token}"})
    assert answer.status_code == 400


def test_the_credit_process_cannot_be_started_with_made_up_data(app, db, chain):
    """Starting credit_application directly (API or service) is refused: it would act on others' records."""
    from webapp.services.api_tokens import issue

    application = apply(chain["teacher"])
    token = issue(chain["officer"], "test")[1]
    db.session.commit()
    response = app.test_client().post(
        "/api/v1/instances", headers={"Authorization": f"Bearer {token}"},
        json={"process_key": "credit_application", "subject_org": chain["officer"].org_id,
              "data": {"application_id": application.id, "needs_leader": False, "decision": "approve",
                       "approved_hours": 30, "last_reviewer": "county1"}})
    assert response.status_code == 403
    with pytest.raises(NotAllowed):
        instances.start("credit_application", subject_org=chain["officer"].org, initiator=chain["officer"],
                        data={"application_id": application.id})


def stripped_diagram(*, with_school_review: bool = False, candidate: str = "school_officer") -> bytes:
    """The credit process redeployed as a designer might break it: the checks, then straight to posting."""
    from tests.engine.engine_support import process_xml

    def service(node_id: str, topic: str) -> tuple[str, str, str, str]:
        return ("serviceTask", node_id, f'name="{topic}" camunda:type="external" camunda:topic="{topic}"', "")

    nodes = [("startEvent", "start", "", ""), service("check", "credit.check")]
    if with_school_review:
        nodes.append(("userTask", "school_review", f'name="学校审核" camunda:candidateGroups="{candidate}" '
                      'camunda:formKey="credit.review"', ""))
    nodes += [service("post", "credit.post"), ("endEvent", "end", "", "")]
    ids = [node[1] for node in nodes]
    return process_xml("credit_application", nodes,
                       list(zip(ids, ids[1:], [None] * len(ids), strict=False))).encode()


def test_a_diagram_without_its_reviews_cannot_post_credits(db, chain):
    """Hardening issue, item 3: redeployed as check → post, a teacher's hours must not reach the ledger."""
    definitions.deploy({"credit_application.bpmn": stripped_diagram()}, None)
    with pytest.raises(instances.ActionFailed) as refused:
        applications.submit(chain["teacher"], values(), [applications.Upload("certificate.pdf", PDF)])
    assert "credit.post refused" in str(refused.value.error)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CreditEntry)) == 0


def test_one_review_by_a_teacher_is_not_the_chain_the_policy_needs(db, chain):
    """Only a school review, open to teachers: the teacher next door approves; the ledger still refuses."""
    definitions.deploy({"credit_application.bpmn": stripped_diagram(with_school_review=True, candidate="teacher")},
                       None)
    application = apply(chain["teacher"], category="school_based", item_code="open_lesson", hours_requested=4,
                        level="school")
    task = task_of(application, "school_review")
    with pytest.raises(instances.ActionFailed) as refused:
        applications.review(task, chain["other_teacher"], "approve", 4, "")
    assert "credit.post refused" in str(refused.value.error)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CreditEntry)) == 0
