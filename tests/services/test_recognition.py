"""The yearly recognition batch, with Dali's numbers (seed 003): "对教师的线上线下研修学时学分每年一认定"
(八、1.(2)①); each semester "修满18学时的“研修活动”… 获取7学时的“研修成果”" (九、2); a year "网络研修任务30学时
(9学分)… 校本研修任务50学时(10学分)" (二、1)."""

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import RecognitionBatch, RecognitionBatchIsFinal, Role
from webapp.services import ledger, recognition, roles, rules
from webapp.services.errors import Conflict, NotAllowed, ServiceError

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
AFTER = date(2021, 9, 15)


@pytest.fixture(autouse=True)
def english(db):
    from flask_babel import force_locale

    with force_locale("en"):
        yield


@pytest.fixture
def dali(db, make_org, make_user):
    """Two schools of 大荔县. 甲 (school A) meets everything of 2020–2021: 30 h online; 18 h activities and 7 h
    outcomes in each semester (school-based 50 h in the year). 乙 (school A) has 30 h online and 18 h activities in
    the second semester only. 丙 (school B) has nothing."""
    rules.load_rule_files([RULES_DIR])
    county = make_org("county", code="610523", name="大荔县")
    school_a = make_org("school", county, code="DL-A", name="城关中学")
    school_b = make_org("school", county, code="DL-B", name="埝桥中学")
    other = make_org("county", code="450126", name="宾阳县")

    def teacher(name, school):
        return make_user(display_name=name, org=school, hire_date=date(2005, 9, 1), roles=((Role.TEACHER, school),))

    jia, yi, bing = teacher("甲", school_a), teacher("乙", school_a), teacher("丙", school_b)
    for person in (jia, yi):
        ledger.post_entry(person, item="online_course", hours=30, earned_on=date(2020, 12, 20))
    ledger.post_entry(jia, item="thematic_study", hours=18, earned_on=date(2020, 11, 10))
    ledger.post_entry(jia, item="lesson_design", hours=7, earned_on=date(2020, 12, 28))
    ledger.post_entry(jia, item="lesson_polishing", hours=18, earned_on=date(2021, 4, 10))
    ledger.post_entry(jia, item="paper", hours=7, earned_on=date(2021, 6, 10))
    late_activity = ledger.post_entry(yi, item="lesson_polishing", hours=18, earned_on=date(2021, 4, 10))
    officer = make_user(display_name="郑主任", roles=((Role.COUNTY_OFFICER, county),))
    stranger = make_user(display_name="外县", roles=((Role.COUNTY_OFFICER, other),))
    return {"county": county, "a": school_a, "b": school_b, "jia": jia, "yi": yi, "bing": bing,
            "officer": officer, "stranger": stranger, "yi_activity": late_activity}


def held(user):
    return roles.roles_of(user)


def test_closing_2020_2021_keeps_a_summary_per_school(dali):
    batch = recognition.close_year(dali["county"], "2020-2021", dali["officer"], held(dali["officer"]), today=AFTER)
    assert (batch.year_start, batch.year_end, batch.teachers, batch.schools) == (
        date(2020, 9, 1), date(2021, 8, 31), 3, 2)
    report = batch.report
    keys = {r["key"]: r for r in report["requirements"]}
    assert set(keys) == {"semester|school_activity", "semester|school_outcome", "school_year|online",
                         "school_year|school_based"}
    assert keys["school_year|school_based"]["minimum"] == 50
    a, b = report["schools"]
    assert (a["name"], a["teachers"], a["met_all"]) == ("城关中学", 2, 1)
    assert a["requirements"] == {"semester|school_activity": [2, 0], "semester|school_outcome": [1, 1],
                                 "school_year|online": [2, 0], "school_year|school_based": [1, 1]}
    assert a["hours"] == {"online": [60, 18], "school_based": [68, 13.6]}, "18 h = 3.6 credits (50 h = 10)"
    assert (b["name"], b["teachers"], b["met_all"]) == ("埝桥中学", 1, 0)
    assert b["requirements"]["school_year|online"] == [0, 1]
    assert report["totals"]["met_all"] == 1 and report["totals"]["requirements"]["school_year|online"] == [2, 1]


def test_corrections_after_closing_are_listed_and_the_report_stays(dali, db):
    batch = recognition.close_year(dali["county"], "2020-2021", dali["officer"], held(dali["officer"]), today=AFTER)
    db.session.commit()
    reversal = ledger.reverse_entry(dali["yi_activity"], dali["officer"], "活动未实际开展")
    late = ledger.post_entry(dali["bing"], item="online_course", hours=30, earned_on=date(2021, 1, 10))
    db.session.commit()
    assert [e.id for e in recognition.late_entries(batch)] == [reversal.id, late.id]
    closed = recognition.closed_years_over(dali["b"])
    assert recognition.is_late(late, closed) and not recognition.is_late(dali["yi_activity"], closed)
    db.session.expire_all()
    assert db.session.get(RecognitionBatch, batch.id).report["schools"][1]["requirements"]["school_year|online"] \
        == [0, 1], "the report keeps what was closed"
    rebuilt, _ = recognition.build_report(dali["county"], rules.school_year_of(date(2021, 1, 1)), batch.closed_at)
    assert rebuilt == batch.report, "rebuilding from the ledger as recorded then gives the same report"
    batch.teachers = 99
    with pytest.raises(RecognitionBatchIsFinal), db.session.begin_nested():
        db.session.flush()


def test_what_cannot_be_closed(dali, db):
    assert [y.key for y in recognition.closable_years(dali["county"], AFTER)] == ["2020-2021"]
    with pytest.raises(ServiceError, match="Only a school year that has ended"):
        recognition.close_year(dali["county"], "2021-2022", dali["officer"], held(dali["officer"]),
                               today=date(2022, 3, 1))
    with pytest.raises(NotAllowed):
        recognition.close_year(dali["county"], "2020-2021", dali["stranger"], held(dali["stranger"]), today=AFTER)
    with pytest.raises(NotAllowed):
        recognition.close_year(dali["county"], "2020-2021", dali["jia"], held(dali["jia"]), today=AFTER)
    recognition.close_year(dali["county"], "2020-2021", dali["officer"], held(dali["officer"]), today=AFTER)
    with pytest.raises(Conflict, match="already closed"):
        recognition.close_year(dali["county"], "2020-2021", dali["officer"], held(dali["officer"]), today=AFTER)
    assert [y.key for y in recognition.closable_years(dali["county"], AFTER)] == [], \
        "the closed year is no longer offered, and Dali's rules govern no other"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecognitionBatch)) == 1


def test_a_cycle_still_running_is_not_judged_by_the_yearly_report(db, make_org, make_user):
    """Binyang [004] "确保每名教师5年内每人不少于360学时": closing 2021–2022 does not count a teacher with 40 h
    as failing the 2021–2025 cycle, which runs to 2025."""
    rules.load_rule_files([RULES_DIR])
    county = make_org("county", code="450126", name="宾阳县")
    school = make_org("school", county, code="BY-S1", name="宾阳中学")
    teacher = make_user(display_name="韦老师", org=school, hire_date=date(2005, 9, 1), roles=((Role.TEACHER, school),))
    ledger.post_entry(teacher, item="weekly_lesson_prep", hours=40, earned_on=date(2022, 5, 1))
    officer = make_user(display_name="县研培中心", roles=((Role.COUNTY_OFFICER, county),))
    batch = recognition.close_year(county, "2021-2022", officer, today=date(2022, 9, 15))
    assert batch.report["requirements"] == []
    assert batch.report["schools"][0]["met_all"] == 1
    assert batch.report["schools"][0]["hours"]["school_based"] == [40, 40]
