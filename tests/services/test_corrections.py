"""Officers correct a teacher's ledger: a reversal, the corrected entry, and the re-count of what a cap cut.
Yueyang [000] 第25条: "校本培训学分五年不超过120分" (1 学时 = 1 学分)."""

from datetime import date
from pathlib import Path

import pytest

from webapp.models import EntrySource, Role
from webapp.services import corrections, ledger, rules
from webapp.services.errors import Conflict, NotAllowed, ServiceError

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(autouse=True)
def english(db):
    from flask_babel import force_locale

    with force_locale("en"):
        yield


@pytest.fixture
def yueyang(db, make_org, make_user):
    rules.load_rule_files([RULES_DIR])
    city = make_org("city", code="430600", name="岳阳市")
    county = make_org("county", city, code="430602", name="岳阳楼区")
    school = make_org("school", county, code="YY-S1", name="岳阳市第一中学")
    other = make_org("school", county, code="YY-S2", name="岳阳市第二中学")
    teacher = make_user(display_name="李老师", org=school, hire_date=date(2005, 9, 1), roles=((Role.TEACHER, school),))
    return {
        "teacher": teacher,
        "officer": make_user(display_name="学校专干", org=school, roles=((Role.SCHOOL_OFFICER, school),)),
        "county": make_user(display_name="县研培中心", org=county, roles=((Role.COUNTY_OFFICER, county),)),
        "elsewhere": make_user(display_name="二中专干", org=other, roles=((Role.SCHOOL_OFFICER, other),)),
    }


def test_correcting_the_hours_of_an_entry_re_counts_what_the_cap_cut(yueyang):
    """Really 80 credits, entered as 100; then 50 of which 20 counted (120 − 100). Corrected to 80: the 80
    count, and the 50 now count 120 − 80 = 40 — 120 in all, as 80 + 50 = 130 capped at 120."""
    teacher, officer = yueyang["teacher"], yueyang["officer"]
    wrong = ledger.post_entry(teacher, category="school_based", hours=100, earned_on=date(2022, 3, 1))
    later = ledger.post_entry(teacher, category="school_based", hours=50, earned_on=date(2022, 5, 1))
    assert later.counted_credits == 20
    done = corrections.correct(wrong, officer, "证书为80学时，录入有误", hours=80)
    assert (done.reversal.reverses_id, done.replacement.hours, done.replacement.counted_credits) == (wrong.id, 80, 80)
    assert done.replacement.source is EntrySource.MANUAL and done.replacement.source_ref == f"correction:{wrong.id}"
    [recounted] = done.recounted
    assert (recounted.replaces_id, recounted.counted_credits) == (later.id, 40)
    cycle = ledger.progress(teacher, date(2022, 6, 30)).period("cycle")
    assert next(line for line in cycle.categories if line.category == "school_based").counted == 120


def test_only_officers_over_the_teacher_correct_and_never_their_own(yueyang, make_user):
    teacher = yueyang["teacher"]
    entry = ledger.post_entry(teacher, category="school_based", hours=10, earned_on=date(2022, 3, 1))
    for who in (yueyang["elsewhere"], teacher):
        with pytest.raises(NotAllowed):
            corrections.correct(entry, who, "无权更正")
    with pytest.raises(ServiceError, match="already recorded"):
        corrections.correct(entry, yueyang["county"], "同样的学时", hours=10)
    reversal = corrections.correct(entry, yueyang["county"], "重复录入").reversal
    assert reversal.counted_credits == -10
    with pytest.raises(Conflict):
        corrections.correct(reversal, yueyang["county"], "再冲销")
    with pytest.raises(Conflict, match="already been reversed"):
        corrections.correct(entry, yueyang["officer"], "再冲销")
    assert not corrections.may_correct(yueyang["officer"], yueyang["officer"])
