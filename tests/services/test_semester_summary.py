"""The semester summary (学期总结与自查) through its services, on real instances of the diagram: the start
variables, each step, every bad input, the collection's close, the campaign's board, and the ledger's figures
checked against numbers worked out by hand.

The seeds ask for it: [000] 第26条 "学校每学年都应进行校本培训工作的总结和自查"; [003] 七.3(3) "集团总校、各学校做好
网络研修、校本研修学期总结工作"; [003] 第五步 "完成案例分析、论文、研修日志、个人教学风格总结等成果".
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.services.test_applications import english, evidence_dir  # noqa: F401  (the same fixtures)
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignSchool,
    CampaignSchoolStatus,
    HumanTask,
    InstanceStatus,
    Role,
    TaskStatus,
)
from webapp.processes.semester_summary import records, summaries
from webapp.processes.semester_summary.models import (
    PersonalStatus,
    PersonalSummary,
    SchoolSummary,
    SubgroupSummary,
)
from webapp.processes.semester_summary.stages import COMPILE, PERSONAL, REVIEW, SIGN, SUBGROUP
from webapp.services import campaigns, definitions, instances, ledger, rules, timeline
from webapp.services.errors import Conflict, FormRejected, NotAllowed, ServiceError
from webapp.services.uploads import Upload

DIAGRAM = Path(__file__).resolve().parents[2] / "workflows" / "semester_summary" / "semester_summary.bpmn"
#: A county on Dali's semester rule, [003] 九.2 "每学期修满18学时'研修活动'，获取7学时'研修成果'", and its yearly
#: online requirement, 二.1 "网络研修30学时(9学分)".
RULES = """\
id: test-dali-like
title: 测试县学时规则（仿大荔）
source: 测试数据
jurisdiction: C1
effective_from: 2020-01-01
units: {measure: hours, default: {hours: 1, credits: 1}}
periods:
  school_year_start: "09-01"
  semester_starts: ["09-01", "02-01"]
categories:
  online: {name: 网络研修, recognised_by: county}
  school_based: {name: 校本研修, recognised_by: school}
  school_activity: {name: 研修活动, parent: school_based}
  school_outcome: {name: 研修成果, parent: school_based}
requirements:
  semester:
    categories:
      school_activity: {min: 18}
      school_outcome: {min: 7}
  school_year:
    categories:
      online: {min: 30}
"""
CST = timezone(timedelta(hours=8))
PERIOD = ("2026-2027-1", date(2026, 9, 1), date(2027, 1, 31))
PDF = b"%PDF-1.4 case analysis "
PNG = b"\x89PNG\r\n\x1a\n training log "


@pytest.fixture
def school(db, region, make_user, tmp_path, evidence_dir):  # noqa: F811
    """Rules and diagram deployed; a school with four teachers (one leads the maths subgroup, the Chinese one has
    no leader), its officer and principal, and the county officer."""
    from webapp.services.users import set_primary_subgroup

    rule_file = tmp_path / "test-dali-like.yaml"
    rule_file.write_text(RULES, encoding="utf-8")
    rules.load_rule_files([rule_file])
    definitions.deploy({DIAGRAM.name: DIAGRAM.read_bytes()}, None)
    org = region["school"]
    teacher = ((Role.TEACHER, org),)
    people = {
        "t1": make_user("tch1", org=org, display_name="甲老师", roles=teacher),
        "t2": make_user("tch2", org=org, display_name="乙老师", roles=teacher),
        "t3": make_user("tch3", org=org, display_name="丙老师", roles=((Role.TEACHER, region["chinese"]),)),
        "l1": make_user("lead1", org=org, display_name="丁组长",
                        roles=(*teacher, (Role.SUBGROUP_LEADER, region["maths"]))),
        "officer": make_user("officer1", org=org, roles=((Role.SCHOOL_OFFICER, org),)),
        "principal": make_user("principal1", org=org, roles=((Role.PRINCIPAL, org),)),
        "county": make_user("county1", roles=((Role.COUNTY_OFFICER, region["county"]),)),
        "other_officer": make_user("officer2", roles=((Role.SCHOOL_OFFICER, region["school2"]),)),
    }
    for login in ("t1", "t2", "l1"):
        set_primary_subgroup(people[login], region["maths"])
    db.session.commit()
    return {"org": org, **people}


def launch(school, personal_deadline: datetime | None = None):
    """Start the school's instance as the campaign core does (a Campaign, its CampaignSchool, the variables);
    written out rather than ``campaigns.launch`` so a test may give a deadline already past."""
    from webapp.extensions import db

    personal_deadline = personal_deadline or datetime(2027, 1, 10, 17, tzinfo=CST)
    deadlines = {"personal": personal_deadline, "subgroup": personal_deadline + timedelta(days=7),
                 "school": personal_deadline + timedelta(days=14)}
    campaign = Campaign(process_key="semester_summary", definition_id=definitions.latest("semester_summary").id,
                        title=records.default_title(PERIOD[0]), period=PERIOD[0], period_start=PERIOD[1],
                        period_end=PERIOD[2], org_id=school["county"].org_id or school["org"].parent_id,
                        launched_by_id=school["county"].id, deadlines={k: v.isoformat() for k, v in deadlines.items()})
    db.session.add(campaign)
    db.session.flush()
    data = campaigns.start_variables(campaign, school["org"])  # the core's variables, then the process's
    instance = instances.start("semester_summary", subject_org=school["org"], initiator=school["county"], data=data,
                               title=campaign.title, by_feature=True)
    db.session.add(CampaignSchool(campaign_id=campaign.id, org_id=school["org"].id, process_key="semester_summary",
                                  period=PERIOD[0], instance_id=instance.id, status=CampaignSchoolStatus.IN_PROGRESS))
    db.session.commit()
    return instance


def open_tasks(instance, bpmn_id: str) -> list[HumanTask]:
    from webapp.extensions import db

    return list(db.session.scalars(sa.select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.bpmn_id == bpmn_id, HumanTask.status == TaskStatus.OPEN)
        .order_by(HumanTask.id)))


def task_of(instance, bpmn_id: str, user=None) -> HumanTask:
    found = [t for t in open_tasks(instance, bpmn_id) if user is None or t.assignee_id == user.id]
    assert found, f"no open {bpmn_id}"
    return found[0]


def board(instance) -> CampaignSchool:
    from webapp.extensions import db

    row = db.session.scalar(sa.select(CampaignSchool).where(CampaignSchool.instance_id == instance.id))
    db.session.refresh(row)
    return row


def submit(instance, teacher, body="本学期研修总结。", files=None) -> PersonalSummary:
    from webapp.extensions import db

    summary = summaries.save_personal(task_of(instance, PERSONAL, teacher), teacher, body, files or {})
    db.session.commit()
    return summary


SELF_CHECK = {duty: {"status": "done", "note": ""} for duty in ("planning", "credit_review", "evaluation",
                                                                 "archiving")}


def test_diagram_checks_clean_through_the_registry(app) -> None:
    report = definitions.check({DIAGRAM.name: DIAGRAM.read_bytes()})
    assert [str(p) for p in report.problems] == []


def test_start_variables_list_the_active_teachers_and_the_led_subgroups(db, school, region, make_user) -> None:
    from webapp.services.users import assign_role

    campaign = Campaign(launched_at=datetime(2026, 12, 1, tzinfo=UTC))
    gone = make_user("tch9", org=school["org"], roles=((Role.TEACHER, school["org"]),))
    gone.active = False
    later = make_user("lead2", org=school["org"])  # a second leader of maths: the first one stays the leader
    assign_role(later, Role.SUBGROUP_LEADER, region["maths"], valid_from=date(2026, 11, 1))
    found = summaries.start_variables(school["org"], campaign)
    assert sorted(found["teachers"]) == ["lead1", "tch1", "tch2", "tch3"]  # tch3 holds it at a subgroup; tch9 left
    assert found["subgroups"] == [{"code": "C1-K1-S1-MATH", "name": "数学备课组", "leader": "lead1"}]
    _led, without = summaries.led_subgroups(school["org"], date(2026, 12, 1))
    assert [s.name for s in without] == ["语文备课组"]
    with pytest.raises(ServiceError, match="no teachers in post"):
        summaries.start_variables(region["school2"], campaign)


def test_the_whole_story_to_the_county_with_a_return(db, school, evidence_dir) -> None:  # noqa: F811
    instance = launch(school)
    assert board(instance).facts == {}
    t1 = submit(instance, school["t1"], files={"case_analysis": [Upload("案例.pdf", PDF)],
                                               "log": [Upload("日志.png", PNG)]})
    assert t1.status is PersonalStatus.SUBMITTED and t1.submitted_at is not None
    assert sorted((a.kind.value, a.file_name) for a in t1.attachments) == [("case_analysis", "案例.pdf"),
                                                                           ("log", "日志.png")]
    assert (evidence_dir / t1.attachments[0].storage_path).read_bytes() in (PDF, PNG)
    assert {c["code"] for c in t1.hours["categories"]} == {"online", "school_based", "school_activity",
                                                          "school_outcome"}
    assert board(instance).facts == {"personal_in": 1, "personal_expected": 4}
    for login in ("t2", "t3", "l1"):
        submit(instance, school[login])
    assert board(instance).facts == {"personal_in": 4, "personal_expected": 4}

    leader_task = task_of(instance, SUBGROUP, school["l1"])
    subgroup = summaries.subgroup_of(leader_task)
    assert subgroup.name == "数学备课组"
    assert sorted((m.teacher.login, m.status) for m in summaries.members(instance, subgroup)) == [
        ("lead1", "submitted"), ("tch1", "submitted"), ("tch2", "submitted")]
    summaries.submit_subgroup(leader_task, school["l1"], "数学组本学期开展研课磨课6次。")
    db.session.commit()

    compiled = summaries.compile_summary(task_of(instance, COMPILE), school["officer"], SELF_CHECK, 2, "学校总结")
    db.session.commit()
    assert compiled.aggregates["teachers"] == 4 and compiled.missing_teachers == []
    summaries.sign(task_of(instance, SIGN), school["principal"], "sign")
    db.session.commit()
    assert board(instance).status is CampaignSchoolStatus.SUBMITTED

    summaries.county_review(task_of(instance, REVIEW), school["county"], "return", "研修简报不足2期的佐证")
    db.session.commit()
    assert (board(instance).status, board(instance).returned_count) == (CampaignSchoolStatus.RETURNED, 1)
    entries = timeline.build(instance).entries
    assert any(e.comment == "研修简报不足2期的佐证" and e.kind == "return" for e in entries)
    assert "Returned to the school" in [d for e in entries for d in (e.details or [])]

    compile_task = task_of(instance, COMPILE)
    summaries.compile_summary(compile_task, school["officer"], SELF_CHECK, 3, "学校总结（补充）")
    summaries.sign(task_of(instance, SIGN), school["principal"], "sign")
    summaries.county_review(task_of(instance, REVIEW), school["county"], "accept")
    db.session.commit()
    record = db.session.scalar(sa.select(SchoolSummary).where(SchoolSummary.instance_id == instance.id))
    assert (record.newsletters, record.county_decision.value, record.returned_count) == (3, "accepted", 1)
    assert board(instance).status is CampaignSchoolStatus.ACCEPTED
    db.session.refresh(instance)
    assert instance.status is InstanceStatus.COMPLETED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SubgroupSummary)) == 1


def test_the_school_figures_are_the_ledgers_worked_out_by_hand(db, school) -> None:
    """[003] 九.2 "每学期修满18学时'研修活动'，获取7学时'研修成果'" and 网络研修30学时 a year.

    Posted in the semester 2026-09-01 – 2027-01-31:
      甲 (t1): activity 20, outcome 8, online 30        → meets every line
      乙 (t2): activity 10 + 6 = 16, outcome 7          → below activity 18 and online 30
      丙 (t3): activity 18, outcome 7, online 30 reversed; activity 5 on 2026-08-20 (last school year)
                                                        → below online 30 only
      丁 (l1): nothing                                  → below all three
    Hours: 研修活动 20 + 16 + 18 = 54, 研修成果 8 + 7 + 7 = 22, 校本研修 76, 网络研修 30 (the reversed 30 is not
    live; the August 5 hours are outside the semester). Below: activity 2 (乙, 丁), outcome 1 (丁), online 3
    (乙, 丙, 丁). The attainment rate judges the lines due in the semester (the semester's own two): 甲 and 丙 meet
    both, 2 of 4 = 50 %; the school year's online line is shown with its count but judged when the year ends.
    """
    t1, t2, t3 = school["t1"], school["t2"], school["t3"]
    post = ledger.post_entry
    post(t1, category="school_activity", hours=20, earned_on=date(2026, 10, 10))
    post(t1, category="school_outcome", hours=8, earned_on=date(2026, 11, 5))
    post(t1, category="online", hours=30, earned_on=date(2026, 11, 20))
    post(t2, category="school_activity", hours=10, earned_on=date(2026, 9, 20))
    post(t2, category="school_activity", hours=6, earned_on=date(2026, 11, 28))
    post(t2, category="school_outcome", hours=7, earned_on=date(2026, 10, 30))
    post(t3, category="school_activity", hours=18, earned_on=date(2026, 10, 1))
    post(t3, category="school_outcome", hours=7, earned_on=date(2026, 10, 2))
    post(t3, category="school_activity", hours=5, earned_on=date(2026, 8, 20))
    wrong = post(t3, category="online", hours=30, earned_on=date(2026, 11, 1))
    ledger.reverse_entry(wrong, school["officer"], "证书不符")
    db.session.commit()
    instance = launch(school)
    for login in ("t1", "t2", "t3", "l1"):
        submit(instance, school[login])
    summaries.submit_subgroup(task_of(instance, SUBGROUP), school["l1"], "组总结")
    record = summaries.compile_summary(task_of(instance, COMPILE), school["officer"], SELF_CHECK, 2, "总结")
    figures = record.aggregates
    assert {c["name"]: c["hours"] for c in figures["categories"]} == {
        "网络研修": 30, "校本研修": 76, "研修活动": 54, "研修成果": 22}
    assert {r["label"]: r["below"] for r in figures["requirements"]} == {
        "2026–2027学年第一学期 · 研修活动 ≥ 18": 2, "2026–2027学年第一学期 · 研修成果 ≥ 7": 1,
        "2026–2027学年 · 网络研修 ≥ 30": 3}
    assert (figures["teachers"], figures["meeting"], figures["attainment_rate"]) == (4, 2, 0.5)
    assert [r["due"] for r in figures["requirements"]] == [True, True, False]
    hours = db.session.scalar(sa.select(PersonalSummary).where(PersonalSummary.teacher_id == t2.id)).hours
    assert {c["code"]: c["hours"] for c in hours["categories"]}["school_activity"] == 16
    assert [(line["label"], line["met"]) for line in hours["lines"]] == [
        ("2026–2027学年第一学期 · 研修活动 ≥ 18", False), ("2026–2027学年第一学期 · 研修成果 ≥ 7", True),
        ("2026–2027学年 · 网络研修 ≥ 30", False)]


@pytest.mark.parametrize(("body", "files", "field", "message"), [
    ("", {}, "body", "Write your personal summary."),
    ("   ", {}, "body", "Write your personal summary."),
    ("字" * 5001, {}, "body", "At most 5000 characters."),
    ("总结", {"paper": [Upload("论文.exe", b"MZ\x90\x00")]}, "paper", "only these file types are accepted"),
    ("总结", {"paper": [Upload("论文.pdf", b"")]}, "paper", "is empty"),
    ("总结", {"paper": [Upload("论文.pdf", b"MZ\x90\x00 not a pdf")]}, "paper", "is not a real PDF file"),
    ("总结", {"log": [Upload("big.png", PNG + b"x" * (11 * 1024 * 1024))]}, "log", "is larger than 10 MB"),
])
def test_bad_personal_summaries_are_refused_and_nothing_is_saved(db, school, evidence_dir, body, files, field,  # noqa: F811
                                                                 message) -> None:
    instance = launch(school)
    task = task_of(instance, PERSONAL, school["t1"])
    with pytest.raises(FormRejected) as refused:
        summaries.save_personal(task, school["t1"], body, files)
    db.session.rollback()
    assert any(message in m for m in refused.value.errors[field])
    assert task_of(instance, PERSONAL, school["t1"]).status is TaskStatus.OPEN
    assert not evidence_dir.exists() or not any(evidence_dir.rglob("*"))


def test_a_draft_may_be_saved_empty_and_is_submitted_later(db, school) -> None:
    instance = launch(school)
    draft = summaries.save_personal(task_of(instance, PERSONAL, school["t1"]), school["t1"], "", submit=False)
    db.session.commit()
    assert draft.status is PersonalStatus.DRAFT
    submit(instance, school["t1"], "写好了")
    db.session.refresh(draft)
    assert (draft.status, draft.body) == (PersonalStatus.SUBMITTED, "写好了")


def test_wrong_users_and_stale_forms_are_refused(db, school) -> None:
    instance = launch(school)
    task = task_of(instance, PERSONAL, school["t1"])
    with pytest.raises(NotAllowed):
        summaries.save_personal(task, school["t2"], "不是我的任务")
    db.session.rollback()
    submit(instance, school["t1"])
    with pytest.raises(Conflict, match="already been completed"):  # the same form sent twice
        summaries.save_personal(task, school["t1"], "再交一次")
    db.session.rollback()
    for login in ("t2", "t3", "l1"):
        submit(instance, school[login])
    with pytest.raises(NotAllowed):
        summaries.submit_subgroup(task_of(instance, SUBGROUP), school["t1"], "不是组长")
    db.session.rollback()
    summaries.submit_subgroup(task_of(instance, SUBGROUP), school["l1"], "组总结")
    db.session.commit()
    with pytest.raises(NotAllowed):
        summaries.compile_summary(task_of(instance, COMPILE), school["other_officer"], SELF_CHECK, 2, "别校")
    db.session.rollback()
    with pytest.raises(FormRejected) as refused:
        summaries.compile_summary(task_of(instance, COMPILE), school["officer"],
                                  {"planning": {"status": "maybe"}}, -1, "")
    db.session.rollback()
    assert set(refused.value.errors) == {"planning", "credit_review", "evaluation", "archiving", "newsletters",
                                         "body"}
    summaries.compile_summary(task_of(instance, COMPILE), school["officer"], SELF_CHECK, 2, "总结")
    db.session.commit()
    with pytest.raises(FormRejected) as refused:
        summaries.sign(task_of(instance, SIGN), school["principal"], "return", " ")
    db.session.rollback()
    assert refused.value.errors["comment"] == ["Give the reason for returning it."]
    summaries.sign(task_of(instance, SIGN), school["principal"], "return", "自查第二项要补材料")
    db.session.commit()
    assert [t.bpmn_id for t in instances.open_tasks(instance)] == [COMPILE]
    record = summaries.school_summary(instance)
    assert (record.sign_comment, record.returned_count, record.signed_at) == ("自查第二项要补材料", 1, None)
    summaries.compile_summary(task_of(instance, COMPILE), school["officer"], SELF_CHECK, 2, "总结")
    db.session.commit()
    summaries.sign(task_of(instance, SIGN), school["principal"], "sign")
    db.session.commit()
    with pytest.raises(FormRejected):
        summaries.county_review(task_of(instance, REVIEW), school["county"], "return", "")
    db.session.rollback()
    with pytest.raises(NotAllowed):
        summaries.county_review(task_of(instance, REVIEW), school["principal"], "accept")


def test_closing_the_collection_waits_for_the_deadline_and_lists_the_missing(db, school) -> None:
    deadline = datetime(2027, 1, 10, 17, tzinfo=CST)
    instance = launch(school, deadline)
    submit(instance, school["t1"])
    with pytest.raises(NotAllowed):
        summaries.close_collection(instance, school["t2"], now=deadline + timedelta(hours=1))
    db.session.rollback()
    with pytest.raises(Conflict, match="has not passed"):
        summaries.close_collection(instance, school["officer"], now=deadline - timedelta(minutes=1))
    db.session.rollback()
    rows = summaries.close_collection(instance, school["officer"], now=deadline + timedelta(minutes=1))
    db.session.commit()
    assert sorted((r.teacher.login, r.status) for r in rows) == [("lead1", "missing"), ("tch1", "submitted"),
                                                                 ("tch2", "missing"), ("tch3", "missing")]
    assert open_tasks(instance, PERSONAL) == []
    assert board(instance).facts == {"personal_in": 1, "personal_expected": 4}
    assert db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.action == "summary.close_collection"))
    with pytest.raises(Conflict, match="already closed"):
        summaries.close_collection(instance, school["officer"], now=deadline + timedelta(days=1))
    db.session.rollback()
    summaries.submit_subgroup(task_of(instance, SUBGROUP), school["l1"], "组总结")
    record = summaries.compile_summary(task_of(instance, COMPILE), school["officer"], SELF_CHECK, 2, "总结")
    assert sorted(m["login"] for m in record.missing_teachers) == ["lead1", "tch2", "tch3"]
    assert record.aggregates["teachers"] == 4  # the missing are counted, never dropped


def test_a_teacher_who_leaves_is_withdrawn_with_the_reason(db, school) -> None:
    """The campaign core withdraws the leaver's task (``withdrawn_when_assignee_leaves``) and tells the package."""
    instance = launch(school)
    [task] = campaigns.withdraw_tasks_of_leaver(school["t2"], school["org"], "调往二县实验小学", school["officer"])
    db.session.commit()
    assert task.status is TaskStatus.CANCELLED
    summary = db.session.scalar(sa.select(PersonalSummary).where(PersonalSummary.teacher_id == school["t2"].id))
    assert (summary.status, summary.withdrawn_reason) == (PersonalStatus.WITHDRAWN, "调往二县实验小学")
    assert board(instance).facts == {"personal_in": 0, "personal_expected": 3}
    assert "tch2" not in [t.login for t in summaries.teachers_asked(instance)]


def test_inbox_rows_and_titles_say_school_period_and_stage(db, school) -> None:
    instance = launch(school)
    row = records.summarise([instance.id])[instance.id]
    assert row.headline == "一县一中 · 2026–2027 school year, first semester"
    assert row.facts == ("Personal summaries",)
    assert records.default_title("2026-2027-2") == "2026–2027 school year, second semester summary"
    assert records.steps_to_come(instance) == ["Subgroup summaries", "School summary and self-check",
                                               "Principal's signature", "County review"]


def test_a_leader_of_two_subgroups_writes_one_summary_for_each(db, school, region) -> None:
    from webapp.services.users import assign_role

    assign_role(school["l1"], Role.SUBGROUP_LEADER, region["chinese"])
    db.session.commit()
    instance = launch(school)
    for login in ("t1", "t2", "t3", "l1"):
        submit(instance, school[login])
    first, second = open_tasks(instance, SUBGROUP)
    assert {summaries.subgroup_of(first).name, summaries.subgroup_of(second).name} == {"数学备课组", "语文备课组"}
    chinese = second if summaries.subgroup_of(second).name == "语文备课组" else first
    assert [m.teacher.login for m in summaries.members(instance, summaries.subgroup_of(chinese))] == ["tch3"]
    for task in (first, second):
        summaries.submit_subgroup(task, school["l1"], "组总结")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SubgroupSummary)) == 2
    assert [t.bpmn_id for t in instances.open_tasks(instance)] == [COMPILE]


def test_the_core_reminds_the_teachers_still_writing(db, school) -> None:
    from webapp.models import Notification

    instance = launch(school)
    submit(instance, school["t1"])
    instances.fire_due_timers(instance, datetime(2027, 1, 8, 12, tzinfo=CST))  # after personal_remind_at
    db.session.commit()
    reminded = set(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.kind == "campaign.remind.before", Notification.instance_id == instance.id)))
    assert reminded == {school[login].id for login in ("t2", "t3", "l1")}
