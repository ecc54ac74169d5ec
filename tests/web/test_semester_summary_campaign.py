"""A semester-summary campaign over three schools of a county, end to end through the API, the pages and the
timers, as the county, the schools and the teachers would run it.

The seeds: [000] 第26条 "学校每学年都应进行校本培训工作的总结和自查"; [003] 七.3(3) "集团总校、各学校做好网络研修、校本
研修学期总结工作"; the figures judge [003] 九.2 "每学期修满18学时'研修活动'，获取7学时'研修成果'".
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.services.test_semester_summary import DIAGRAM, RULES
from tests.web.test_api import Api
from webapp import jobs
from webapp.models import Campaign, CampaignSchool, CampaignSchoolStatus, HumanTask, Notification, Role, TaskStatus
from webapp.models.base import utcnow
from webapp.processes.semester_summary.models import PersonalStatus, PersonalSummary
from webapp.processes.semester_summary.stages import COMPILE, PERSONAL, REVIEW, SIGN, SUBGROUP
from webapp.services import campaigns, definitions, ledger, rules, timeline

SELF_CHECK = {"planning": {"status": "done", "note": "计划经校务会审定"},
              "credit_review": {"status": "done", "note": ""},
              "evaluation": {"status": "partial", "note": "成果交流面不广"},
              "archiving": {"status": "done", "note": ""}}


@pytest.fixture
def county(db, region, make_org, make_user, tmp_path):
    """Three schools of 一县 on the Dali-like rules: 一县一中 with three teachers and a subgroup leader, 一县二中 and
    一县三中 with two teachers each; each school its training officer and principal; the county's officer."""
    from webapp.services.users import set_primary_subgroup

    rule_file = tmp_path / "dali-like.yaml"
    rule_file.write_text(RULES, encoding="utf-8")
    rules.load_rule_files([rule_file])
    definitions.deploy({DIAGRAM.name: DIAGRAM.read_bytes()}, None)
    schools = [region["school"], make_org("school", region["county"], code="C1-K1-S2", name="一县二中"),
               make_org("school", region["county"], code="C1-K1-S3", name="一县三中")]
    people = {"county": make_user("county1", roles=((Role.COUNTY_OFFICER, region["county"]),))}
    for n, school in enumerate(schools, start=1):
        people[f"officer{n}"] = make_user(f"officer{n}", org=school, roles=((Role.SCHOOL_OFFICER, school),))
        people[f"principal{n}"] = make_user(f"principal{n}", org=school, roles=((Role.PRINCIPAL, school),))
        for k in range(1, 4 if n == 1 else 3):
            people[f"t{n}{k}"] = make_user(f"t{n}{k}", org=school, display_name=f"{school.name}教师{k}",
                                           roles=((Role.TEACHER, school),))
    people["leader"] = make_user("leader1", org=schools[0], display_name="数学组长",
                                 roles=((Role.TEACHER, schools[0]), (Role.SUBGROUP_LEADER, region["maths"])))
    for login in ("t11", "t12", "t13", "leader"):
        set_primary_subgroup(people[login], region["maths"])
    db.session.commit()
    return {"schools": schools, **people}


def _api(app, login):
    return Api(app.test_client()).login(login)


def _open(instance_id, bpmn_id, user=None):
    from webapp.extensions import db

    query = sa.select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id,
                                       HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.id)
    if user is not None:
        query = query.where(HumanTask.assignee_id == user.id)
    return list(db.session.scalars(query))


def _complete(app, login, task, **data):
    response = _api(app, login).post(f"/tasks/{task.id}/complete", {"data": data})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _at(days):
    return campaigns.local(utcnow() + timedelta(days=days)).replace(second=0, microsecond=0)


def test_a_county_campaign_over_three_schools(app, db, county, region):
    """The whole story: launched through the API; reminders from the diagram's timers; one school closes its
    collection at the deadline with a teacher missing, is returned by the county, fixes and is accepted, with the
    ledger's figures worked out by hand; the others reach their own stages; the board counts it all.

    Ledger of 一县一中 in the semester 2026-09-01 – 2027-01-31 ([003] 九.2: 研修活动 ≥ 18, 研修成果 ≥ 7 a semester;
    网络研修 ≥ 30 a school year):
      t11: activity 20, outcome 7                  → meets both semester lines
      t12: activity 12, outcome 8                  → below activity
      t13: activity 18, outcome 3; activity 10 on 2026-08-25 (last school year, not counted)  → below outcome
      组长: nothing                                 → below both
    研修活动 20 + 12 + 18 = 50, 研修成果 7 + 8 + 3 = 18; below activity 2 (t12, 组长), below outcome 2 (t13, 组长),
    below the year's online line 4 (shown, not yet due); meeting every line due in the semester: t11, 1 of 4 = 25 %.
    """
    c = county
    post = ledger.post_entry
    post(c["t11"], category="school_activity", hours=20, earned_on=date(2026, 10, 10))
    post(c["t11"], category="school_outcome", hours=7, earned_on=date(2026, 11, 5))
    post(c["t12"], category="school_activity", hours=12, earned_on=date(2026, 9, 20))
    post(c["t12"], category="school_outcome", hours=8, earned_on=date(2026, 10, 30))
    post(c["t13"], category="school_activity", hours=18, earned_on=date(2026, 10, 1))
    post(c["t13"], category="school_outcome", hours=3, earned_on=date(2026, 10, 2))
    post(c["t13"], category="school_activity", hours=10, earned_on=date(2026, 8, 25))
    db.session.commit()

    # The county launches over its three schools (the launch runs as background work; embedded: at once).
    county_api = _api(app, "county1")
    deadlines = {"personal": _at(10), "subgroup": _at(17), "school": _at(24)}
    launched = county_api.post("/campaigns", {
        "process_key": "semester_summary", "title": "2026–2027 学年第一学期总结", "period": "2026-2027-1",
        "period_start": "2026-09-01", "period_end": "2027-01-31", "org_id": region["county"].id,
        "school_ids": [school.id for school in c["schools"]],
        "deadlines": {key: at.isoformat() for key, at in deadlines.items()}})
    assert launched.status_code == 201, launched.get_json()
    campaign_id = launched.get_json()["id"]
    twice = county_api.post("/campaigns", {**launched.get_json(), "process_key": "semester_summary",
                                           "org_id": region["county"].id, "school_ids": [c["schools"][0].id],
                                           "deadlines": {k: at.isoformat() for k, at in deadlines.items()}})
    assert twice.status_code == 400 and "一县一中" in str(twice.get_json()), "one school, one summary per period"
    campaign = db.session.get(Campaign, campaign_id)
    rows = {row.org.name: row for row in db.session.scalars(
        sa.select(CampaignSchool).where(CampaignSchool.campaign_id == campaign_id))}
    assert {name: row.status for name, row in rows.items()} == dict.fromkeys(
        ("一县一中", "一县二中", "一县三中"), CampaignSchoolStatus.IN_PROGRESS)
    first, second, third = (rows[name].instance_id for name in ("一县一中", "一县二中", "一县三中"))
    assert len(_open(first, PERSONAL)) == 4 and len(_open(second, PERSONAL)) == 2

    # Three days before the deadline the diagram's timer reminds everyone still writing, once.
    jobs.tick_timers(deadlines["personal"] - timedelta(days=3) + timedelta(minutes=1))
    before = db.session.scalars(sa.select(Notification).where(Notification.kind == "campaign.remind.before")).all()
    assert sorted(n.user.login for n in before) == ["leader1", "t11", "t12", "t13", "t21", "t22", "t31", "t32"]

    # Teachers write through the API; t13 does not.
    for login in ("t11", "t12", "leader1", "t21", "t22", "t31", "t32"):
        (task,) = [t for t in _open(first, PERSONAL) + _open(second, PERSONAL) + _open(third, PERSONAL)
                   if t.assignee.login == login]
        empty = _api(app, login).post(f"/tasks/{task.id}/complete", {"data": {"body": " "}})
        assert empty.status_code == 422 and "body" in empty.get_json()["error"]["fields"]
        _complete(app, login, task, body=f"{login} 本学期研修总结：上公开课一节，完成论文一篇。")

    # The deadline passes (as if launched weeks ago); the diagram's overdue timer reminds the late teacher only.
    campaign.deadlines = {**campaign.deadlines, "personal": (_at(-2)).isoformat()}
    campaigns.apply_deadlines(campaign, c["county"])
    db.session.commit()
    jobs.tick_timers(utcnow())
    overdue = db.session.scalars(sa.select(Notification).where(Notification.kind == "campaign.remind.overdue")).all()
    assert [n.user.login for n in overdue] == ["t13"] and "已于" in overdue[0].title
    late = county_api.get(f"/campaigns/{campaign_id}?state=late").get_json()["board"]
    assert [row["school"]["name"] for row in late["items"]] == ["一县一中"]

    # 一县一中's officer closes the collection at the deadline: t13 is listed as missing, not dropped.
    officer = app.test_client()
    officer.login("officer1")
    closed = officer.post_form(f"/summaries/instances/{first}/close", {})
    assert closed.status_code == 302
    missing = db.session.scalar(sa.select(PersonalSummary).where(PersonalSummary.teacher_id == c["t13"].id))
    assert missing.status is PersonalStatus.MISSING
    (subgroup,) = _open(first, SUBGROUP)
    _complete(app, "leader1", subgroup, body="数学组本学期集体备课八次。")

    # The officer compiles: the ledger's figures as worked out above, the self-check, the newsletters.
    (compile_task,) = _open(first, COMPILE)
    _complete(app, "officer1", compile_task, self_check=SELF_CHECK, newsletters=2, body="本学期校本研修总结。")
    from webapp.processes.semester_summary.models import SchoolSummary

    record = db.session.scalar(sa.select(SchoolSummary).where(SchoolSummary.instance_id == first))
    figures = record.aggregates
    assert {c_["name"]: c_["hours"] for c_ in figures["categories"] if c_["hours"]} == {
        "校本研修": 68, "研修活动": 50, "研修成果": 18}
    assert {r["label"]: (r["below"], r["due"]) for r in figures["requirements"]} == {
        "2026–2027学年第一学期 · 研修活动 ≥ 18": (2, True), "2026–2027学年第一学期 · 研修成果 ≥ 7": (2, True),
        "2026–2027学年 · 网络研修 ≥ 30": (4, False)}
    assert (figures["teachers"], figures["meeting"], figures["attainment_rate"]) == (4, 1, 0.25)
    assert [m["name"] for m in record.missing_teachers] == ["一县一中教师3"]

    # The principal signs; the county returns it with comments; the officer fixes it; signed again; accepted.
    (sign,) = _open(first, SIGN)
    _complete(app, "principal1", sign, decision="sign", comment="同意上报")
    assert db.session.get(CampaignSchool, rows["一县一中"].id).status is CampaignSchoolStatus.SUBMITTED
    (review,) = _open(first, REVIEW)
    refused = _api(app, "county1").post(f"/tasks/{review.id}/complete", {"data": {"decision": "return"}})
    assert refused.status_code == 422, "a return needs its reason"
    _complete(app, "county1", review, decision="return", comment="请补充研修简报和成果交流情况")
    row = db.session.get(CampaignSchool, rows["一县一中"].id)
    db.session.refresh(row)
    assert (row.status, row.returned_count) == (CampaignSchoolStatus.RETURNED, 1)
    instance = row.instance
    assert any("请补充研修简报和成果交流情况" in (entry.comment or "") for entry in timeline.build(instance).entries)
    (compile_task,) = _open(first, COMPILE)
    _complete(app, "officer1", compile_task, self_check=SELF_CHECK, newsletters=3, body="补充：编发简报三期。")
    (sign,) = _open(first, SIGN)
    _complete(app, "principal1", sign, decision="sign")
    (review,) = _open(first, REVIEW)
    _complete(app, "county1", review, decision="accept", comment="予以验收")
    db.session.refresh(row)
    assert row.status is CampaignSchoolStatus.ACCEPTED and row.accepted_at is not None
    assert row.facts["personal_in"] == 3 and row.facts["personal_expected"] == 4

    # 一县二中 is at its compilation; 一县三中 signed and waits for the county. The board counts each.
    assert _open(second, SUBGROUP) == [] and len(_open(second, COMPILE)) == 1, "no subgroup: straight to compiling"
    _complete(app, "officer3", _open(third, COMPILE)[0], self_check=SELF_CHECK, newsletters=2, body="三中总结。")
    _complete(app, "principal3", _open(third, SIGN)[0], decision="sign")
    board = county_api.get(f"/campaigns/{campaign_id}").get_json()["board"]
    assert {row_["school"]["name"]: (row_["stage"], row_["status"]) for row_ in board["items"]} == {
        "一县一中": ("done", "accepted"), "一县二中": ("school", "in_progress"), "一县三中": ("county", "submitted")}
    assert (board["states"]["accepted"], board["states"]["submitted"], board["states"]["late"]) == (1, 1, 0)
    assert {stage["key"]: stage["count"] for stage in board["stages"]} == {
        "personal": 0, "subgroup": 0, "school": 1, "county": 1, "done": 1}
