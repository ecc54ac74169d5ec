"""The compliance overview above the school (county, city), the teachers of a school or subgroup with their standing,
a teacher's ledger read-only, and the Excel workbook; read from the standings' aggregates in a bounded number of
statements (English interface)."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from webapp.models import Membership, Role
from webapp.services import ledger, rules

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
TODAY = date.today()


@pytest.fixture
def person(make_user):
    def _person(login, **profile):
        user = make_user(login, locale="en", **profile)
        user.locale = "en"
        return user
    return _person


@pytest.fixture
def city(db, make_org, person):
    """湘北市 (xiangbei-2026 rules) with two counties; county 1 has two schools (one named like a formula) in a
    zone, county 2 one school. Teachers with some hours; officers at each level."""
    rules.load_rule_files([RULES_DIR])
    xb = make_org("city", code="XB", name="湘北市")
    k1 = make_org("county", xb, code="XB-K1", name="北湖区")
    zone = make_org("zone", k1, code="XB-K1-Z", name="城关学区")
    s1 = make_org("school", zone, code="XB-S1", name="北湖一中")
    s2 = make_org("school", k1, code="XB-S2", name='=HYPERLINK("http://evil.example","点我")')
    k2 = make_org("county", xb, code="XB-K2", name="临江县")
    s3 = make_org("school", k2, code="XB-S3", name="临江一中")
    group = make_org("subgroup", s1, code="XB-S1-M", name="数学组")

    def teacher(login, name, school, hours):
        user = person(login, display_name=name, org=school, hire_date=date(2005, 9, 1),
                      roles=((Role.TEACHER, school),))
        if hours:
            ledger.post_entry(user, category="centralized", hours=hours, earned_on=TODAY - timedelta(days=1))
        return user

    done = teacher("done", "甲老师", s1, 400)
    idle = teacher("idle", "乙老师", s1, 0)
    teacher("other", "丙老师", s2, 10)
    far = teacher("far", "丁老师", s3, 0)
    done.memberships.append(Membership(org=group, is_primary=True))
    person("county1", display_name="曹静", roles=((Role.COUNTY_OFFICER, k1),))
    person("county2", display_name="廖平", roles=((Role.COUNTY_OFFICER, k2),))
    person("bureau", display_name="谭建华", roles=((Role.BUREAU_OFFICER, xb),))
    person("leader", display_name="陈组长", roles=((Role.SUBGROUP_LEADER, group),))
    person("officer", display_name="刘专干", roles=((Role.SCHOOL_OFFICER, s1),))
    db.session.commit()
    from webapp.jobs import refresh_standings

    refresh_standings()
    return {"city": xb, "k1": k1, "k2": k2, "zone": zone, "s1": s1, "s2": s2, "s3": s3, "group": group,
            "done": done, "idle": idle, "far": far}


def totals(page: str) -> dict[str, int]:
    return {name: int(value) for name, value in re.findall(r'data-total="(\w+)">(\d+)<', page)}


def test_a_bureau_officer_sees_the_city_by_county_and_school(client, city):
    client.login("bureau")
    response = client.get("/ledger/overview")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Compliance overview · 湘北市" in page
    assert totals(page)["teachers"] == 4
    assert f'data-unit="{city["k1"].id}"' in page and f'data-unit="{city["k2"].id}"' in page, "the counties"
    assert f'data-school="{city["s3"].id}"' in page
    assert "Standings as of" in page and "computed" in page
    assert "At risk: the minimum is not reached yet" in page, "the definition is on the page"
    data = json.loads(html.unescape(re.search(r'id="overview-charts" data-charts="([^"]*)"', page).group(1)))
    assert sorted(data["standing"]["names"]) == ["临江县", "北湖区"]
    assert '<script src="/static/vendor/echarts/echarts.common.min.js"></script>' in page
    assert "<script>" not in page, "no inline script (CSP)"
    county = client.get(f"/ledger/overview?org={city['k1'].id}").get_data(as_text=True)
    assert totals(county)["teachers"] == 3
    assert f'data-unit="{city["zone"].id}"' in county, "the zone is an area of the county"


def test_a_requirement_filter_counts_that_line(client, city):
    client.login("county1")
    page = client.get("/ledger/overview").get_data(as_text=True)
    token = re.search(r'data-requirement="(cycle:[^"]*::hours)"', page).group(1)
    line = client.get(f"/ledger/overview?line={token}").get_data(as_text=True)
    counted = totals(line)
    assert counted["met"] == 1, "甲老师 has 400 of the cycle's 360 hours"
    assert counted["met"] + counted["not_met"] + counted["at_risk"] == 3 == counted["teachers"], \
        "the teachers tile counts those the requirement applies to, so the tiles add up"


def test_officers_see_only_their_scope(client, city):
    client.login("county2")
    assert client.get(f"/ledger/overview?org={city['k1'].id}").status_code == 403
    assert client.get(f"/ledger/overview/teachers?org={city['s1'].id}").status_code == 403
    assert client.get(f"/ledger/overview/teachers/{city['done'].id}").status_code == 403
    assert client.get(f"/ledger/overview.xlsx?org={city['k1'].id}").status_code == 403
    assert client.get(f"/ledger/overview/teachers/{city['far'].id}").status_code == 200
    assert client.get("/ledger/overview?org=999999").status_code == 404


def test_the_teacher_list_worst_first_and_the_teachers_ledger(client, city):
    client.login("county1")
    page = client.get(f"/ledger/overview/teachers?org={city['s1'].id}").get_data(as_text=True)
    assert "Teachers' standing · 北湖一中" in page
    assert page.index('data-teacher="idle"') < page.index('data-teacher="done"'), "worst first"
    assert "School year · Total 0 / ≥ 72 hours" in page
    at_risk = client.get(f"/ledger/overview/teachers?org={city['s1'].id}&status=met").get_data(as_text=True)
    assert 'data-teacher="idle"' not in at_risk
    ledger_page = client.get(f"/ledger/overview/teachers/{city['done'].id}").get_data(as_text=True)
    assert "甲老师 · Training hours" in ledger_page and "You may correct entries" in ledger_page
    assert "Counted: 400 hours" in ledger_page


def test_a_county_officer_corrects_an_entry_and_a_subgroup_leader_may_not(client, app, city, db):
    """The 400 hours were really 300: the county centre corrects them; the standing follows at once."""
    from webapp.models import CreditEntry

    [entry] = ledger.entries_of(city["done"])
    leader = app.test_client()
    leader.login("leader")
    page = leader.get(f"/ledger/overview/teachers/{city['done'].id}").get_data(as_text=True)
    assert "Read-only" in page and "data-correct" not in page
    assert leader.post_form(f"/ledger/entries/{entry.id}/correct", {"reason": "x"}).status_code == 403

    client.login("county1")
    page = client.get(f"/ledger/overview/teachers/{city['done'].id}").get_data(as_text=True)
    assert f'data-correct="{entry.id}"' in page
    bad = client.post_form(f"/ledger/entries/{entry.id}/correct", {"reason": "证书为300学时", "hours": "abc"},
                           follow_redirects=True).get_data(as_text=True)
    assert "Give the corrected hours as a number" in bad
    done = client.post_form(f"/ledger/entries/{entry.id}/correct", {"reason": "证书为300学时", "hours": "300"},
                            follow_redirects=True).get_data(as_text=True)
    assert "The entry was reversed and posted again with 300 hours." in done
    assert "Counted: 300 hours" in done and "证书为300学时" in done
    rows = db.session.scalars(sa.select(CreditEntry).where(CreditEntry.user_id == city["done"].id)
                              .order_by(CreditEntry.id)).all()
    assert [e.hours for e in rows] == [400, -400, 300]
    assert [e.source.value for e in rows[1:]] == ["reversal", "manual"]
    again = client.post_form(f"/ledger/entries/{entry.id}/correct", {"reason": "再次"}, follow_redirects=True)
    assert "already been reversed" in again.get_data(as_text=True)


def test_a_subgroup_leader_sees_the_members_of_the_subgroup(client, city):
    client.login("leader")
    response = client.get("/ledger/overview")
    assert response.status_code == 302 and f"org={city['group'].id}" in response.location
    page = client.get(response.location).get_data(as_text=True)
    assert 'data-teacher="done"' in page and 'data-teacher="idle"' not in page
    assert client.get(f"/ledger/overview/teachers/{city['done'].id}").status_code == 200
    assert client.get(f"/ledger/overview/teachers/{city['idle'].id}").status_code == 403
    assert client.get(f"/ledger/overview?org={city['k1'].id}").status_code == 403


def test_a_school_officer_reaches_the_full_list_from_the_school_page(client, city):
    client.login("officer")
    page = client.get("/ledger/overview", follow_redirects=True).get_data(as_text=True)
    assert "Teachers' standing · 北湖一中" in page
    assert 'data-teacher="idle"' in page and 'data-teacher="done"' in page
    assert f'href="/ledger/school?school={city["s1"].id}"' in page
    nav = client.get("/").get_data(as_text=True)
    assert 'href="/ledger/overview"' in nav


def test_no_standings_yet_shows_an_empty_state(client, city, make_org, person, db):
    empty = make_org("county", city["city"], code="XB-K9", name="空县")
    person("county9", roles=((Role.COUNTY_OFFICER, empty),))
    db.session.commit()
    client.login("county9")
    page = client.get("/ledger/overview").get_data(as_text=True)
    assert "No standings to show yet" in page and "Download Excel" not in page


def _statements(db, client, path: str) -> int:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    db.session.commit()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_the_overview_costs_the_same_statements_for_3_and_13_schools(client, city, make_org, person, db):
    from webapp.jobs import refresh_standings

    client.login("bureau")
    few = _statements(db, client, "/ledger/overview")
    few_teachers = _statements(db, client, f"/ledger/overview/teachers?org={city['s1'].id}")
    few_export = _statements(db, client, "/ledger/overview.xlsx")
    for number in range(10):
        school = make_org("school", city["k2"], code=f"XB-N{number}", name=f"新学校{number}")
        for index in range(3):
            teacher = person(f"n{number}t{index}", org=school, roles=((Role.TEACHER, school),))
            if index:
                ledger.post_entry(teacher, category="online", hours=5 * index, earned_on=TODAY)
            teacher.memberships.append(Membership(org=city["group"]))
    db.session.commit()
    refresh_standings()
    assert _statements(db, client, "/ledger/overview") == few, "one aggregate, whatever the number of schools"
    assert _statements(db, client, f"/ledger/overview/teachers?org={city['s1'].id}") == few_teachers
    assert _statements(db, client, "/ledger/overview.xlsx") == few_export
    assert few < 25


def test_the_workbook_is_real_xlsx_and_safe_against_formulas(client, city):
    client.login("bureau")
    response = client.get("/ledger/overview.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["List of schools", "Requirements", "Hours by category", "List of teachers"]
    schools = book["List of schools"]
    assert schools.freeze_panes == "A2"
    assert [c.value for c in schools[1]][:3] == ["School", "No rule set", "Teachers"]
    assert schools.column_dimensions["A"].width == 36
    evil = next(row for row in schools.iter_rows(min_row=2) if str(row[0].value).startswith("=HYPERLINK"))
    assert evil[0].data_type == "s", "a name that looks like a formula stays text"
    assert evil[2].value == 1 and evil[2].number_format == "#,##0"
    assert evil[6].number_format == "0.0%"
    teachers = book["List of teachers"]
    names = [row[1].value for row in teachers.iter_rows(min_row=2)]
    assert sorted(names) == ["丁老师", "丙老师", "乙老师", "甲老师"]
    requirements = book["Requirements"]
    assert requirements.max_row > 1 and requirements.freeze_panes == "A2"
