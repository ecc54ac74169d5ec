"""我的学时 and the school's teachers below their minimums, in the browser's terms (English interface)."""

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest

from webapp.models import Role
from webapp.services import ledger, rules

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def person(make_user):
    """make_user(..., locale="en"), making sure the English locale is set on the user."""
    def _person(login, **profile):
        user = make_user(login, locale="en", **profile)
        user.locale = "en"
        return user
    return _person


@pytest.fixture
def xiangbei(db, make_org, person):
    """The demo city's rules (xiangbei-2026: ≥ 72 h a school year, ≥ 360 h a cycle, class teachers ≥ 30 h)
    and a class teacher with two entries in the first semester of 2026–2027."""
    rules.load_rule_files([RULES_DIR])
    city = make_org("city", code="XB", name="湘北市")
    school = make_org("school", city, code="XB-S1", name="湘北一中")
    teacher = person("wang", display_name="王老师", org=school, hire_date=date(2005, 9, 1),
                        is_class_teacher=True, roles=((Role.TEACHER, school),))
    ledger.post_entry(teacher, category="centralized", hours=30, earned_on=date(2026, 10, 1), title="国培项目")
    ledger.post_entry(teacher, category="class_teacher", hours=12, earned_on=date(2026, 12, 1))
    db.session.commit()
    return {"school": school, "teacher": teacher}


@pytest.fixture
def dali(db, make_org, person):
    """Dali (≥ 18 h activities + ≥ 7 h outcomes a semester; ≥ 30 h online and ≥ 50 h school-based a year):
    one teacher who meets everything on 2021-05-01, one a little short, one with nothing; officers."""
    rules.load_rule_files([RULES_DIR])
    county = make_org("county", code="610523", name="大荔县")
    school = make_org("school", county, code="DL-S1", name="大荔县城关中学")
    other_county = make_org("county", code="450126", name="宾阳县")
    other = make_org("school", other_county, code="BY-S1", name="宾阳中学")

    def teacher(login, name):
        return person(login, display_name=name, org=school, hire_date=date(2005, 9, 1),
                         roles=((Role.TEACHER, school),))

    done, short, idle = teacher("done", "甲老师"), teacher("short", "乙老师"), teacher("idle", "丙老师")
    ledger.post_entry(done, category="school_activity", hours=18, earned_on=date(2021, 3, 10))
    ledger.post_entry(done, category="school_outcome", hours=7, earned_on=date(2021, 4, 10))
    ledger.post_entry(done, category="online", hours=30, earned_on=date(2020, 12, 1))
    ledger.post_entry(done, category="school_activity", hours=25, earned_on=date(2020, 11, 1))
    ledger.post_entry(short, category="school_activity", hours=18, earned_on=date(2021, 3, 10))
    person("officer", display_name="周专干", roles=((Role.SCHOOL_OFFICER, school),))
    person("principal", display_name="吴校长", roles=((Role.PRINCIPAL, school),))
    person("county", display_name="郑老师", roles=((Role.COUNTY_OFFICER, county),))
    person("outsider", display_name="外校专干", roles=((Role.SCHOOL_OFFICER, other),))
    person("admin", display_name="管理员", roles=((Role.ADMIN, county),))
    db.session.commit()
    return {"school": school, "other": other, "done": done, "short": short, "idle": idle}


def period_section(page: str, kind: str) -> str:
    match = re.search(rf'<section[^>]*data-period="{kind}"[^>]*>(.*?)</section>', page, re.S)
    assert match, f"no {kind} section"
    return match.group(0)


# -- 我的学时 -------------------------------------------------------------------------------------------


def test_teacher_sees_progress_per_period_and_category(client, xiangbei):
    client.login("wang")
    page = client.get("/ledger/?on=2027-01-10").get_data(as_text=True)
    assert "My training hours" in page
    assert "湘北市中小学教师培训学时学分规则（演示）" in page
    assert '<span data-rule-set="xiangbei-2026">Version 1</span>' in page, "the version in words, the id for machines"
    assert 'data-audience="class_teacher"' in page and "班主任" in page
    year = period_section(page, "school_year")
    assert 'data-period-key="2026-2027"' in year
    assert "Counted: 42 hours" in year and "Minimum: 72 hours" in year and "Remaining: 30 hours" in year
    assert 'aria-valuenow="42" aria-valuemin="0" aria-valuemax="72"' in year
    assert "width: 58.3%" in year and "Not met" in year
    cycle = period_section(page, "cycle")
    assert "Minimum: 360 hours" in cycle
    assert "Counted: 12 hours" in cycle and "Minimum: 30 hours" in cycle and "Remaining: 18 hours" in cycle
    assert "Cap: 120 credits" in cycle, "Yueyang's cap on school-based credits is inherited"
    # the entries, newest first, with their category and what counted
    assert page.index("2026-12-01") < page.index("2026-10-01")
    assert "国培项目" in page and "集中培训" in page


def test_the_as_of_date_picks_the_periods_and_leaves_out_later_entries(client, xiangbei):
    client.login("wang")
    autumn = client.get("/ledger/?on=2026-11-01").get_data(as_text=True)
    assert 'data-period-key="2026-2027-1"' in autumn
    assert 'value="2026-11-01"' in autumn
    assert "Counted: 30 hours" in period_section(autumn, "school_year")
    assert "2026-12-01" not in autumn, "an entry earned after the day asked about is not listed"
    spring = client.get("/ledger/?on=2027-03-01").get_data(as_text=True)
    assert 'data-period-key="2026-2027-2"' in spring
    semester = period_section(spring, "semester")
    assert "Counted: 0 hours" in semester, "nothing earned this semester"
    assert "credits" not in semester, "lines without a bound of their own are shown in the totals' unit (hours)"
    assert "Counted: 42 hours" in period_section(spring, "school_year")
    next_year = client.get("/ledger/?on=2027-10-01").get_data(as_text=True)
    assert 'data-period-key="2027-2028"' in next_year
    assert "Counted: 0 hours" in period_section(next_year, "school_year")
    assert "No training hours have been recorded for you in this time." not in next_year, \
        "the cycle's entries are still listed"


def test_an_invalid_date_shows_today_with_a_message(client, xiangbei):
    client.login("wang")
    page = client.get("/ledger/?on=2027-02-30").get_data(as_text=True)
    assert "“2027-02-30” is not a date (YYYY-MM-DD); showing today instead." in page
    assert f'value="{date.today().isoformat()}"' in page
    far = client.get("/ledger/?on=0001-01-01").get_data(as_text=True)
    assert "Choose a date between 1950-01-01 and 2099-12-31" in far


def test_a_year_that_must_have_some_credits_reads_naturally_in_chinese(client, db, person, xiangbei):
    """Yueyang's "every school year must have some school-based credits" is a minimum of more than 0: never
    "超过 0 学分", and what is missing is said plainly, never "若干"."""
    xiangbei["teacher"].locale = "zh_CN"
    person("officer", display_name="周专干", roles=((Role.SCHOOL_OFFICER, xiangbei["school"]),)).locale = "zh_CN"
    db.session.commit()
    client.login("wang")
    year = period_section(client.get("/ledger/?on=2027-01-10").get_data(as_text=True), "school_year")
    assert "最低要求：须有学分，多少不限" in year and "尚差：本期还没有学分" in year
    officer = client.application.test_client()
    officer.login("officer")
    listing = officer.get("/ledger/school?on=2027-01-10").get_data(as_text=True)
    assert "0 / 须有学分，多少不限" in listing and "本期还没有学分" in listing
    for text in (year, listing):
        assert "超过 0" not in text and "若干" not in text and "&gt; 0" not in text


def test_reversed_entries_are_struck_through(client, db, xiangbei):
    [first] = [e for e in ledger.entries_of(xiangbei["teacher"]) if e.earned_on == date(2026, 10, 1)]
    ledger.reverse_entry(first, None, "重复登记")
    db.session.commit()
    client.login("wang")
    page = client.get("/ledger/?on=2027-01-10").get_data(as_text=True)
    row = re.search(rf'<tr[^>]*data-entry="{first.id}"[^>]*>(.*?)</tr>', page, re.S).group(0)
    assert 'data-reversed="1"' in row and "<del>30</del>" in row and "Reversed" in row
    assert "Reversal" in page and "重复登记" in page and "-30" in page
    assert "Counted: 12 hours" in period_section(page, "school_year")


def test_long_ledgers_are_paginated(client, app, db, xiangbei):
    size = app.config["YANXUN"]["PAGE_SIZE"]
    for day in range(size + 3):
        ledger.post_entry(xiangbei["teacher"], category="online", hours=1, earned_on=date(2026, 9, 2 + day % 25))
    db.session.commit()
    client.login("wang")
    first = client.get("/ledger/?on=2027-01-10").get_data(as_text=True)
    assert first.count("data-entry=") == size and 'aria-label="Pages"' in first
    second = client.get("/ledger/?on=2027-01-10&page=2").get_data(as_text=True)
    assert second.count("data-entry=") == 5


def test_without_a_rule_set_the_page_says_so(client, person, region):
    person("lonely", org=region["school"], roles=((Role.TEACHER, region["school"]),))
    client.login("lonely")
    page = client.get("/ledger/").get_data(as_text=True)
    assert "No credit rule set applies to you on" in page
    assert "No training hours have been recorded for you in this time." in page
    assert 'role="progressbar"' not in page


def test_the_ledger_needs_a_login(client, db):
    response = client.get("/ledger/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


# -- the school's list -----------------------------------------------------------------------------------


def test_officer_sees_who_is_below_a_minimum_largest_shortfall_first(client, dali):
    client.login("officer")
    page = client.get("/ledger/school?on=2021-05-01").get_data(as_text=True)
    assert "Teachers below their minimums" in page and "大荔县城关中学" in page
    assert "2 teachers are below a minimum" in page and 'data-count="2"' in page
    assert "甲老师" not in page
    assert page.index('data-teacher="idle"') < page.index('data-teacher="short"'), "largest shortfall first"
    short = re.search(r'<tbody[^>]*data-teacher="short"[^>]*>(.*?)</tbody>', page, re.S).group(0)
    assert "研修成果" in short and "0 / 7 hours" in short  # 7 h of outcomes missing this semester
    assert "网络研修" in short and "0 / 30 hours" in short  # and 30 h online this school year


def test_the_period_filter_keeps_one_kind(client, dali):
    client.login("principal")
    page = client.get("/ledger/school?on=2021-05-01&period=school_year").get_data(as_text=True)
    short = re.search(r'<tbody[^>]*data-teacher="short"[^>]*>(.*?)</tbody>', page, re.S).group(0)
    assert "研修成果" not in short and "School year" in short and "Semester" not in short
    assert '<option value="school_year" selected>' in page


def test_all_teachers_meet_their_minimums(client, db, dali):
    ledger.post_entry(dali["short"], category="school_outcome", hours=7, earned_on=date(2021, 4, 1))
    ledger.post_entry(dali["idle"], category="school_activity", hours=18, earned_on=date(2021, 4, 1))
    ledger.post_entry(dali["idle"], category="school_outcome", hours=7, earned_on=date(2021, 4, 1))
    db.session.commit()
    client.login("officer")
    page = client.get("/ledger/school?on=2021-05-01&period=semester").get_data(as_text=True)
    assert "All teachers meet their minimums" in page and "Download CSV" not in page


def test_teachers_and_officers_of_other_schools_are_refused(client, app, dali):
    client.login("short")
    assert client.get("/ledger/school").status_code == 403
    assert client.get(f"/ledger/school.csv?school={dali['school'].id}").status_code == 403
    outsider = app.test_client()
    outsider.login("outsider")
    assert outsider.get(f"/ledger/school?school={dali['school'].id}").status_code == 403
    assert outsider.get(f"/ledger/school.csv?school={dali['school'].id}").status_code == 403
    own = outsider.get("/ledger/school?on=2021-05-01").get_data(as_text=True)
    assert "宾阳中学" in own and "大荔县城关中学" not in own
    assert outsider.get("/ledger/school?school=999999").status_code == 404


def test_county_officer_and_admin_choose_a_school(client, app, dali):
    client.login("county")
    page = client.get(f"/ledger/school?school={dali['school'].id}&on=2021-05-01").get_data(as_text=True)
    assert "2 teachers are below a minimum" in page
    assert client.get(f"/ledger/school?school={dali['other'].id}").status_code == 403
    admin = app.test_client()
    admin.login("admin")
    other = admin.get(f"/ledger/school?school={dali['other'].id}&on=2021-05-01")
    assert other.status_code == 200
    assert "No teacher of 宾阳中学 is below a minimum on May 1, 2021." in other.get_data(as_text=True)
    own = admin.get(f"/ledger/school?school={dali['school'].id}&on=2021-05-01").get_data(as_text=True)
    assert "2 teachers are below a minimum" in own and "乙老师" in own and "丙老师" in own and "甲老师" not in own


def test_csv_download_of_the_list(client, dali):
    client.login("officer")
    response = client.get(f"/ledger/school.csv?school={dali['school'].id}&on=2021-05-01")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="yanxun-below-minimum-DL-S1-2021-05-01.csv"' in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Login name", "Full name", "Organisation", "Training period", "Period key", "Category", "Unit",
                       "Counted", "Minimum", "Remaining"]
    by_teacher = {}
    for row in rows[1:]:
        by_teacher.setdefault(row[0], []).append(row)
    assert set(by_teacher) == {"short", "idle"}
    assert [r[0] for r in rows[1:]].index("idle") < [r[0] for r in rows[1:]].index("short")
    outcome = next(r for r in by_teacher["short"] if r[5] == "研修成果")
    assert outcome[4:] == ["2020-2021-2", "研修成果", "hours", "0", "7", "7"]
    semester_only = client.get(f"/ledger/school.csv?school={dali['school'].id}&on=2021-05-01&period=semester")
    kinds = {row[4] for row in csv.reader(io.StringIO(semester_only.get_data().decode("utf-8-sig")))}
    assert kinds == {"Period key", "2020-2021-2"}


def test_csv_cells_never_start_a_formula(client, db, dali):
    dali["idle"].display_name = "=HYPERLINK(\"x\")"
    db.session.commit()
    client.login("officer")
    text = client.get("/ledger/school.csv?on=2021-05-01").get_data().decode("utf-8-sig")
    assert "'=HYPERLINK" in text
