"""Campaigns through the service and the jobs: launch checks, starting in batches with one school failing, the pinned
version, the board, the spreadsheet, extending, closing, reminders and withdrawing a leaver's tasks."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tests.web.campaign_support import (  # noqa: F401
    DIAGRAM,
    KEY,
    campaign_process,
    county_people,
    deadlines,
    launch,
    withdrawn_calls,
)
from webapp import jobs
from webapp.models import (
    AuditEvent,
    CampaignSchool,
    CampaignSchoolStatus,
    CampaignStatus,
    HumanTask,
    InstanceStatus,
    Notification,
    Role,
    TaskStatus,
)
from webapp.models.base import utcnow
from webapp.services import campaigns, definitions, instances, tasks, users
from webapp.services.errors import NotAllowed, ServiceError


@pytest.fixture(autouse=True)
def english(db):
    """The words in English (the Chinese ones are added to the catalogue from /tmp/i18n-campaigns.json)."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield


def _launched(db, people, region, **changes):
    campaign = launch(people, region, **changes)
    db.session.commit()
    jobs.start_pending(campaign.id, batch=2)
    db.session.refresh(campaign)
    return campaign


def _rows(campaign):
    return {row.org.name: row for row in campaign_schools(campaign)}


def campaign_schools(campaign):
    from webapp.extensions import db

    return list(db.session.scalars(sa.select(CampaignSchool).where(CampaignSchool.campaign_id == campaign.id)
                                   .order_by(CampaignSchool.id)))


def test_launch_refuses_with_clear_messages(db, region, campaign_process, county_people):  # noqa: F811
    people = county_people
    cases = [
        ({"title": " "}, "title", "title"),
        ({"schools": []}, "schools", "school"),
        ({"deadlines": {"summary": utcnow() + timedelta(days=3)}}, "deadline_review", "学校汇总"),
        ({"deadlines": deadlines(summary_days=-1)}, "deadline_summary", "already passed"),
        ({"deadlines": deadlines(summary_days=20, review_days=10)}, "deadline_review", "cannot come before"),
        ({"period_end": date(2026, 8, 1)}, "period_end", "cannot end before"),
        ({"schools": [region["school2"]]}, "schools", "二县实验小学"),
    ]
    for changes, field, words in cases:
        with pytest.raises(ServiceError) as caught:
            launch(people, region, **changes)
        db.session.rollback()
        assert caught.value.field == field, (changes, caught.value.field, str(caught.value))
        assert words in str(caught.value), (changes, str(caught.value))
    with pytest.raises(NotAllowed):
        launch(people, region, actor=people["far_county"])
    with pytest.raises(ServiceError) as caught:
        campaigns.launch("hours_review", title="x", period="p", period_start=None, period_end=None,
                         org=region["county"], schools=people["schools"], deadlines=deadlines(),
                         actor=people["county"])
    assert caught.value.field == "process_key"
    launch(people, region, schools=people["schools"][:2])
    db.session.commit()
    with pytest.raises(ServiceError) as caught:
        launch(people, region)
    assert str(caught.value) == "These schools already take part in this period: 一县一中、一县二中"


def test_launch_starts_every_school_in_batches_and_a_failure_says_why(db, region, campaign_process,  # noqa: F811
                                                                       county_people):  # noqa: F811
    people = county_people
    campaign = launch(people, region)
    db.session.commit()
    assert campaign.status is CampaignStatus.LAUNCHING and campaign.total == 3
    assert all(row.status is CampaignSchoolStatus.PENDING for row in campaign_schools(campaign))
    first = jobs.start_pending(campaign.id, batch=2, budget_seconds=0)  # one batch, then out of time
    assert (first.status, first.started + first.failed) == ("launching", 2)
    done = jobs.start_pending(campaign.id, batch=2)
    assert (done.status, done.started, done.failed) == ("open", 2, 1)
    rows = _rows(campaign)
    assert rows["一县三中"].status is CampaignSchoolStatus.FAILED
    assert rows["一县三中"].error == "该校还没有在职教师，无法开展本次总结"
    instance = rows["一县一中"].instance
    assert instance.title == "2026–2027 学年第一学期总结" and instance.subject_org.name == "一县一中"
    assert rows["一县一中"].status is CampaignSchoolStatus.IN_PROGRESS
    open_tasks = instances.open_tasks(instance)
    assert sorted(t.assignee.login for t in open_tasks) == ["teacher1", "teacher2"], "parallel MI over teachers"
    assert all(t.due_at == campaigns.deadline(campaign, "summary") for t in open_tasks)
    variables = instances.get_runtime().variables(
        instances.get_runtime().load(instances.engine_definition(instance.definition), instance.state_json))
    assert variables["campaign_id"] == campaign.id and variables["period"] == "2026-2027-1"
    assert variables["period_start"] == "2026-09-01"
    assert variables["summary_deadline"].endswith("+08:00")
    assert variables["summary_remind_at"] < variables["summary_deadline"] < variables["summary_overdue_at"]
    assert jobs.start_pending(campaign.id) is None, "nothing left to launch"


def test_instances_keep_the_version_of_the_launch(db, region, campaign_process, county_people):  # noqa: F811
    people = county_people
    campaign = launch(people, region)
    db.session.commit()
    pinned = campaign.definition
    changed = DIAGRAM.read_text(encoding="utf-8").replace("汇总学校总结", "汇总学校总结（新版）")
    definitions.deploy({DIAGRAM.name: changed.encode()}, None)
    db.session.commit()
    assert definitions.latest(KEY).version == pinned.version + 1
    jobs.start_pending(campaign.id)
    for row in campaign_schools(campaign):
        if row.instance is not None:
            assert row.instance.definition_id == pinned.id


def test_the_sweep_resumes_a_launch_cut_short(db, region, campaign_process, county_people):  # noqa: F811
    campaign = launch(county_people, region)
    db.session.commit()
    assert jobs.pending_campaigns(stale_after=timedelta(0)) == [(campaign.id, "start")]
    assert jobs.run_pending_campaigns(stale_after=timedelta(0)) == 1
    db.session.refresh(campaign)
    assert campaign.status is CampaignStatus.OPEN and campaign.started == 2


def _complete_summaries(db, instance, logins):
    for task in instances.open_tasks(instance):
        if task.assignee and task.assignee.login in logins:
            instances.complete_task(task, task.assignee, {"summary": "好"}, tasks.authorise_complete)
    db.session.commit()


def test_board_rows_counts_late_and_filters(db, region, campaign_process, county_people):  # noqa: F811
    people = county_people
    campaign = _launched(db, people, region)
    rows = _rows(campaign)
    _complete_summaries(db, rows["一县二中"].instance, {"teacher3"})
    campaigns.record(rows["一县二中"].instance, CampaignSchoolStatus.SUBMITTED, facts={"summaries": "1 / 1"})
    campaigns.record(rows["一县二中"].instance, CampaignSchoolStatus.RETURNED)
    campaigns.record(rows["一县二中"].instance, CampaignSchoolStatus.SUBMITTED)
    db.session.commit()
    view = campaigns.board(campaign)
    by_school = {row.school: row for row in view.rows}
    assert by_school["一县一中"].stage_label == "个人总结" and not by_school["一县一中"].late
    assert by_school["一县二中"].stage_label == "学校汇总"
    assert by_school["一县二中"].returned_count == 1 and by_school["一县二中"].submitted_at is not None
    assert by_school["一县二中"].facts == ("1 / 1",)
    assert by_school["一县三中"].stage_label == "Failed to start"
    assert by_school["一县三中"].error
    assert view.stages[:2] == [("summary", "个人总结", 1), ("review", "学校汇总", 1)]
    assert ("failed", "Failed to start", 1) in view.stages
    assert view.states["submitted"] == 1 and view.states["late"] == 0 and view.states["failed"] == 1
    later = campaigns.board(campaign, now=utcnow() + timedelta(days=11))
    assert later.states["late"] == 1, "past the summary deadline, only the school still in that stage is late"
    assert [r.school for r in later.rows if r.late] == ["一县一中"]
    assert [r.school for r in campaigns.board(campaign, stage="review").rows] == ["一县二中"]
    assert [r.school for r in campaigns.board(campaign, state="failed").rows] == ["一县三中"]
    assert [r.school for r in campaigns.board(campaign, text="二中").rows] == ["一县二中"]
    paged = campaigns.board(campaign, page=2, per_page=2)
    assert paged.total == 3 and [r.school for r in paged.rows] == ["一县三中"]
    assert campaigns.school_of_instance(rows["一县一中"].instance_id).campaign.id == campaign.id


def test_board_xlsx_has_every_row_with_a_title_line(db, region, campaign_process, county_people):  # noqa: F811
    campaign = _launched(db, county_people, region)
    data = campaigns.board_xlsx(campaign)
    sheet = load_workbook(io.BytesIO(data)).active
    values = [[cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    assert values[0][0].startswith("2026–2027 学年第一学期总结 · ")
    assert values[1][:3] == ["School", "Current step", "Status"]
    assert "已交总结" in values[1]
    assert sorted(row[0] for row in values[2:]) == ["一县一中", "一县三中", "一县二中"]


def test_remind_handler_tells_the_assignees_once(db, region, campaign_process, county_people):  # noqa: F811
    people = county_people
    campaign = _launched(db, people, region)
    instance = _rows(campaign)["一县一中"].instance
    remind_at = campaigns.deadline(campaign, "summary") - timedelta(days=3)
    locked = instances.lock_instance(instance.id)
    instances.fire_due_timers(locked, remind_at + timedelta(minutes=1))
    db.session.commit()
    notes = list(db.session.scalars(sa.select(Notification).where(Notification.kind == "campaign.remind.before")))
    assert sorted(note.user.login for note in notes) == ["teacher1", "teacher2"]
    assert "」个人总结将于 " in notes[0].title and notes[0].title.endswith("截止，请及时完成")
    # The same stage reminded again (a second timer, a retry) tells nobody twice.
    from webapp.engine.services import ServiceCall

    token = instances.current_instance.set(instance.id)
    try:
        campaigns.remind(ServiceCall("campaign.remind", "t", "remind_summary", None, KEY, {"stage": "summary"}, {}))
        campaigns.remind(ServiceCall("campaign.remind", "t", "remind_summary", None, KEY,
                                     {"stage": "summary", "when": "overdue"}, {}))
    finally:
        instances.current_instance.reset(token)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == "campaign.remind.before")) == 2
    overdue = list(db.session.scalars(sa.select(Notification).where(Notification.kind == "campaign.remind.overdue")))
    assert len(overdue) == 2 and "你的任务尚未完成" in overdue[0].title


def test_close_cancels_running_instances_with_the_reason_and_tells_the_people(db, region, campaign_process,  # noqa: F811
                                                                             county_people):  # noqa: F811
    people = county_people
    campaign = _launched(db, people, region)
    rows = _rows(campaign)
    with pytest.raises(ServiceError):
        campaigns.close(campaign, people["county"], " ")
    db.session.rollback()
    with pytest.raises(NotAllowed):
        campaigns.close(campaign, people["far_county"], "不办了")
    db.session.rollback()
    assert campaigns.close(campaign, people["county"], "上级通知取消本次总结") is True
    db.session.commit()
    assert campaign.status is CampaignStatus.CLOSED and campaign.close_reason == "上级通知取消本次总结"
    for name in ("一县一中", "一县二中"):
        row = _rows(campaign)[name]
        assert row.status is CampaignSchoolStatus.CANCELLED
        assert row.instance.status is InstanceStatus.CANCELLED
        assert all(t.status is TaskStatus.CANCELLED for t in db.session.scalars(
            sa.select(HumanTask).where(HumanTask.instance_id == row.instance_id)))
    told = list(db.session.scalars(sa.select(Notification).where(Notification.kind == "campaign.closed")))
    assert sorted(note.user.login for note in told) == ["teacher1", "teacher2", "teacher3"]
    assert told[0].body == "上级通知取消本次总结"
    cancelled = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "instance.cancel",
                                                             AuditEvent.instance_id == rows["一县一中"].instance_id))
    assert cancelled.after["reason"] == "上级通知取消本次总结"


def test_close_of_many_goes_to_the_job(db, region, campaign_process, county_people):  # noqa: F811
    campaign = _launched(db, county_people, region)
    assert campaigns.close(campaign, county_people["county"], "取消", inline_limit=1) is False
    db.session.commit()
    assert jobs.pending_campaigns() == [(campaign.id, "close")]
    assert jobs.run_campaign(campaign.id, "close", batch=1)[0] == "done"
    assert campaigns.count_running(campaign) == 0


def test_a_leaver_s_summary_tasks_are_withdrawn(db, region, campaign_process, county_people, withdrawn_calls,  # noqa: F811
                                                 make_org):
    people = county_people
    campaign = _launched(db, people, region)
    instance = _rows(campaign)["一县一中"].instance
    leaver = people["t1"]
    users.update_user(leaver, login=leaver.login, org=people["schools"][1], actor=people["county"])
    db.session.commit()
    withdrawn = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                            HumanTask.assignee_id == leaver.id))
    assert withdrawn.status is TaskStatus.CANCELLED and withdrawn.completed_at is not None
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "task.withdraw"))
    reason = "教师已调离本校"  # in the default language
    assert event.after["reason"] == reason
    assert withdrawn_calls == [(withdrawn.id, reason)]
    (other,) = instances.open_tasks(instance)
    assert other.assignee.login == "teacher2", "the flow goes on with the others"
    _complete_summaries(db, instance, {"teacher2"})
    assert [t.bpmn_id for t in instances.open_tasks(instance)] == ["compile"], "the withdrawn one is not awaited"
    # Ending a teacher role and deactivating withdraw too, in their words.
    other_instance = _rows(campaign)["一县二中"].instance
    (assignment,) = [a for a in people["t3"].role_assignments if a.role is Role.TEACHER] if hasattr(
        people["t3"], "role_assignments") else [db.session.scalar(sa.select(users.RoleAssignment).where(
            users.RoleAssignment.user_id == people["t3"].id))]
    users.end_assignment(assignment, actor=people["county"])
    db.session.commit()
    assert not instances.open_tasks(other_instance) or all(
        t.bpmn_id == "compile" for t in instances.open_tasks(other_instance))
    reasons = [e.after["reason"] for e in db.session.scalars(sa.select(AuditEvent)
                                                              .where(AuditEvent.action == "task.withdraw"))]
    assert "已不再担任本校教师" in reasons


def test_extend_moves_the_variables_due_dates_and_the_reminder_timer(db, region, campaign_process,  # noqa: F811
                                                                     county_people):  # noqa: F811
    people = county_people
    campaign = _launched(db, people, region)
    instance = _rows(campaign)["一县一中"].instance
    old_timer = instance.next_timer_at
    new_deadline = campaigns.deadline(campaign, "summary") + timedelta(days=5)
    with pytest.raises(ServiceError) as caught:
        campaigns.extend(campaign, "summary", campaigns.deadline(campaign, "review") + timedelta(days=1),
                         people["county"])
    assert caught.value.field == "deadline" and "cannot come before" in str(caught.value), "stages keep their order"
    db.session.rollback()
    with pytest.raises(ServiceError):
        campaigns.extend(campaign, "summary", utcnow() - timedelta(hours=1), people["county"])
    db.session.rollback()
    with pytest.raises(NotAllowed):
        campaigns.extend(campaign, "summary", new_deadline, people["far_county"])
    db.session.rollback()
    assert campaigns.extend(campaign, "summary", new_deadline, people["county"]) is True
    db.session.commit()
    assert campaigns.deadline(campaign, "summary") == new_deadline
    db.session.refresh(instance)
    runtime = instances.get_runtime()
    variables = runtime.variables(runtime.load(instances.engine_definition(instance.definition),
                                               instance.state_json))
    assert variables["summary_deadline"] == campaigns.local(new_deadline).isoformat()
    assert variables["summary_remind_at"] == campaigns.local(new_deadline - timedelta(days=3)).isoformat()
    assert instance.next_timer_at == old_timer + timedelta(days=5), "the reminder timer is re-armed"
    for task in instances.open_tasks(instance):
        assert task.due_at == new_deadline
        assert all(candidate.due_at in (None, new_deadline) for candidate in task.candidates)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "campaign.extend"))
    assert event.before["deadline"] != event.after["deadline"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "instance.variables")) == 2


def test_extend_of_many_goes_to_the_job(db, region, campaign_process, county_people):  # noqa: F811
    campaign = _launched(db, county_people, region)
    new_deadline = campaigns.deadline(campaign, "summary") + timedelta(days=2)
    assert campaigns.extend(campaign, "summary", new_deadline, county_people["county"], inline_limit=1) is False
    db.session.commit()
    assert jobs.run_campaign(campaign.id, "extend", batch=1, budget_seconds=0) == ("continue",
                                                                                  _rows(campaign)["一县一中"].id)
    assert jobs.run_campaign(campaign.id, "extend", after_id=_rows(campaign)["一县一中"].id)[0] == "done"
    for name in ("一县一中", "一县二中"):
        assert all(task.due_at == new_deadline for task in instances.open_tasks(_rows(campaign)[name].instance))
