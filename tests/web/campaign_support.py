"""A small process run as a campaign, for the campaign tests: two stages (every teacher writes a summary, in a
parallel multi-instance over ``${teachers}``, then the school officer compiles), a reminder timer before the first
deadline (topic ``campaign.remind``), registered as a process package for the test and removed afterwards."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from wtforms import StringField

import forms
from forms.base import BaseForm
from tests.workflow_support import DIAGRAMS
from webapp.models import Role, RoleAssignment, User
from webapp.models.base import utcnow
from webapp.services import campaigns, definitions, processes, roles
from webapp.services.errors import ServiceError
from webapp.services.processes import CampaignSpec, CampaignStage, ProcessPackage

KEY = "campaign_test"
SUMMARY_FORM = "test.campaign_summary"
DIAGRAM = DIAGRAMS / "campaign_test.bpmn"


if SUMMARY_FORM not in forms.form_keys():
    @forms.register(SUMMARY_FORM)
    class SummaryForm(BaseForm):
        summary = StringField("总结")


def teachers_of(school) -> list[str]:
    return sorted(_logins(school, date.today()))


def _logins(school, day):
    from webapp.extensions import db

    return db.session.scalars(sa.select(User.login).join(RoleAssignment, RoleAssignment.user_id == User.id)
                              .where(RoleAssignment.role == Role.TEACHER, RoleAssignment.org_id == school.id,
                                     User.active.is_(True), roles.valid_on(RoleAssignment, day)))


def start_variables(school, campaign) -> dict:
    teachers = teachers_of(school)
    if not teachers:
        raise ServiceError("该校还没有在职教师，无法开展本次总结")
    return {"teachers": teachers}


SPEC = CampaignSpec(
    stages=(CampaignStage("summary", "个人总结", frozenset({"write_summary"}), default_days=10),
            CampaignStage("review", "学校汇总", frozenset({"compile"}), default_days=20)),
    start_variables=start_variables,
    default_title=lambda period: f"{period} 学期总结",
    facts=(("summaries", "已交总结"),))


@pytest.fixture
def withdrawn_calls() -> list:
    return []


@pytest.fixture
def campaign_process(db, withdrawn_calls):
    """The test process deployed and registered as a campaign package (removed after the test)."""
    package = ProcessPackage(key=KEY, name="学期总结（测试）", form_keys=frozenset({SUMMARY_FORM}), campaign=SPEC,
                             withdrawn_when_assignee_leaves=frozenset({SUMMARY_FORM}),
                             on_withdrawn=lambda task, reason: withdrawn_calls.append((task.id, reason)))
    processes.register(package)
    definitions.deploy({DIAGRAM.name: DIAGRAM.read_bytes()}, None)
    db.session.commit()
    yield package
    processes._packages.pop(KEY, None)
    processes._by_form_key.pop(SUMMARY_FORM, None)


@pytest.fixture
def county_people(db, region, make_org, make_user):
    """A county with three schools: two with teachers, one (三中) without any (its start fails)."""
    county = region["county"]
    school1 = region["school"]
    school2 = make_org("school", county, code="C1-K1-S2", name="一县二中")
    school3 = make_org("school", county, code="C1-K1-S3", name="一县三中")
    people = {
        "county": make_user("county1", display_name="曹老师", org=county, roles=((Role.COUNTY_OFFICER, county),)),
        "far_county": make_user("county2", display_name="远老师", org=region["county2"],
                                roles=((Role.COUNTY_OFFICER, region["county2"]),)),
        "t1": make_user("teacher1", display_name="张老师", org=school1, roles=((Role.TEACHER, school1),)),
        "t2": make_user("teacher2", display_name="李老师", org=school1, roles=((Role.TEACHER, school1),)),
        "t3": make_user("teacher3", display_name="王老师", org=school2, roles=((Role.TEACHER, school2),)),
        "officer1": make_user("officer1", display_name="刘专干", org=school1,
                              roles=((Role.SCHOOL_OFFICER, school1),)),
        "officer2": make_user("officer2", display_name="陈专干", org=school2,
                              roles=((Role.SCHOOL_OFFICER, school2),)),
        "far_officer": make_user("officer9", display_name="杨专干", org=region["school2"],
                                 roles=((Role.SCHOOL_OFFICER, region["school2"]),)),
        "schools": [school1, school2, school3],
    }
    db.session.commit()
    return people


def deadlines(summary_days: int = 10, review_days: int = 20) -> dict:
    now = utcnow()
    return {"summary": now + timedelta(days=summary_days), "review": now + timedelta(days=review_days)}


def launch(people, region, *, schools=None, period="2026-2027-1", **changes):
    values = {"title": "2026–2027 学年第一学期总结", "period": period, "period_start": date(2026, 9, 1),
              "period_end": date(2027, 1, 31), "org": region["county"],
              "schools": people["schools"] if schools is None else schools,
              "deadlines": deadlines(), "remind_days": 3, "note": None, "actor": people["county"]}
    values.update(changes)
    return campaigns.launch(KEY, **values)
