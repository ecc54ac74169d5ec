"""The standing table: each teacher's lines recomputed when the ledger changes and by the daily pass; at risk
defined by the period's pace."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import CreditStanding, Role
from webapp.services import ledger, rules, standings

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def xiangbei(db, make_org, make_user):
    rules.load_rule_files([RULES_DIR])
    city = make_org("city", code="XB", name="湘北市")
    county = make_org("county", city, code="XB-K1", name="北湖区")
    school = make_org("school", county, code="XB-S1", name="湘北一中")
    subgroup = make_org("subgroup", school, code="XB-S1-M", name="数学组")
    wang = make_user("wang", display_name="王老师", org=school, hire_date=date(2005, 9, 1), is_class_teacher=True,
                     roles=((Role.TEACHER, school),))
    li = make_user("lili", display_name="李老师", org=school, hire_date=date(2010, 9, 1),
                   roles=((Role.TEACHER, subgroup),))
    db.session.commit()
    return {"school": school, "subgroup": subgroup, "wang": wang, "li": li, "lili": li, "county": county}


def rows_of(db, user) -> dict[tuple[str, str], CreditStanding]:
    found = db.session.scalars(sa.select(CreditStanding).where(CreditStanding.user_id == user.id))
    return {(r.period_kind, r.category): r for r in found}


def test_a_posted_entry_recomputes_the_teachers_standing_at_commit(db, xiangbei):
    wang = xiangbei["wang"]
    ledger.post_entry(wang, category="centralized", hours=30, earned_on=date.today())
    assert rows_of(db, wang) == {}, "recomputed when the transaction commits, not before"
    db.session.commit()
    rows = rows_of(db, wang)
    year = rows[("school_year", "")]
    assert (year.counted, year.minimum, year.measure, year.school_id) == (30, 72, "hours", xiangbei["school"].id)
    assert rows[("school_year", "centralized")].counted_hours == 30
    assert rows[("", "")].status in {"at_risk", "not_met"}, "the summary row holds the worst status"
    assert rows_of(db, xiangbei["li"]) == {}, "only the marked teacher"


def test_a_reversal_recomputes_too(db, xiangbei):
    wang = xiangbei["wang"]
    entry = ledger.post_entry(wang, category="centralized", hours=30, earned_on=date.today())
    db.session.commit()
    ledger.reverse_entry(entry, None, "重复登记")
    db.session.commit()
    assert rows_of(db, wang)[("school_year", "")].counted == 0


def test_at_risk_is_behind_the_periods_pace():
    start, end = date(2026, 9, 1), date(2027, 8, 31)
    assert standings.elapsed_share(start, end, start) == pytest.approx(1 / 365)
    assert standings.elapsed_share(start, end, end) == 1
    half = standings.elapsed_share(start, end, date(2027, 3, 1))
    behind = ledger.Line(None, "合计", "hours", 30, 30, minimum=72)
    ahead = ledger.Line(None, "合计", "hours", 40, 40, minimum=72)
    done = ledger.Line(None, "合计", "hours", 72, 72, minimum=72)
    assert standings.line_status(behind, half) == "at_risk"
    assert standings.line_status(ahead, half) == "not_met", "below the minimum but on pace"
    assert standings.line_status(done, half) == "met"
    assert standings.line_status(ahead, 1.0) == "at_risk", "on the period's last day, anything short is at risk"
    assert standings.line_status(ledger.Line("online", "远程", "hours", 3, 3), half) == "no_minimum"


def test_the_daily_pass_covers_every_teacher_and_drops_former_ones(db, xiangbei, make_user):
    from webapp.jobs import refresh_standings

    officer = make_user("officer", roles=((Role.SCHOOL_OFFICER, xiangbei["school"]),))
    db.session.commit()
    day = date(2027, 3, 1)
    report = refresh_standings(day)
    assert report.teachers == 2 and report.pruned == 0
    li = rows_of(db, xiangbei["li"])
    assert li[("", "")].school_id == xiangbei["school"].id, "a role held at a subgroup counts for its school"
    assert li[("school_year", "")].as_of == day and li[("school_year", "")].period_key == "2026-2027"
    assert li[("school_year", "")].status == "at_risk"
    assert rows_of(db, officer) == {}
    xiangbei["li"].active = False
    db.session.commit()
    report = refresh_standings(day)
    assert report.teachers == 1 and rows_of(db, xiangbei["li"]) == {}
    assert standings.outdated(date(2027, 3, 2)) and not standings.outdated(day)


def test_the_schools_sums_follow_their_teachers(db, xiangbei):
    from webapp.models import SchoolStanding

    ledger.post_entry(xiangbei["wang"], category="centralized", hours=80, earned_on=date.today())
    ledger.post_entry(xiangbei["lili"], category="online", hours=10, earned_on=date.today())
    db.session.commit()
    sums = {(r.period_kind, r.category): r for r in db.session.scalars(
        sa.select(SchoolStanding).where(SchoolStanding.school_id == xiangbei["school"].id))}
    year = sums[("school_year", "")]
    assert (year.teachers, year.met, year.counted, year.minimum_low, year.minimum_high) == (2, 1, 90, 72, 72)
    assert sums[("school_year", "online")].counted_hours == 10
    assert sums[("", "")].teachers == 2
    entry = db.session.scalars(sa.select(ledger.CreditEntry).where(
        ledger.CreditEntry.user_id == xiangbei["wang"].id)).one()
    ledger.reverse_entry(entry, None, "录错了")
    db.session.commit()
    db.session.expire_all()
    year = db.session.scalars(sa.select(SchoolStanding).where(
        SchoolStanding.school_id == xiangbei["school"].id, SchoolStanding.period_kind == "school_year",
        SchoolStanding.category == "")).one()
    assert (year.met, year.counted) == (0, 10)


def test_the_command_recomputes_every_teacher(app, db, xiangbei):
    result = app.test_cli_runner().invoke(args=["credits", "refresh-standings", "--on", "2027-03-01"])
    assert result.exit_code == 0, result.output
    assert "Standings of 2 teachers computed" in result.output
    assert rows_of(db, xiangbei["wang"])[("school_year", "")].as_of == date(2027, 3, 1)


def test_the_embedded_round_recomputes_outdated_standings_once(db, xiangbei):
    from webapp.jobs import refresh_outdated_standings, refresh_standings

    refresh_standings(date.today() - timedelta(days=1))
    report = refresh_outdated_standings()
    assert report is not None and report.teachers == 2
    assert refresh_outdated_standings() is None, "up to date: nothing to do"
