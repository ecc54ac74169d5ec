"""年度认定 pages: a county officer closes an ended school year and reads the report per school; others may not."""

import io
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import RecognitionBatch, Role
from webapp.services import ledger, rules

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def dali(db, make_org, make_user):
    rules.load_rule_files([RULES_DIR])
    county = make_org("county", code="610523", name="大荔县")
    school = make_org("school", county, code="DL-A", name="城关中学")
    other = make_org("county", code="450126", name="宾阳县")
    teacher = make_user("jia", display_name="甲老师", locale="en", org=school, hire_date=date(2005, 9, 1),
                        roles=((Role.TEACHER, school),))
    ledger.post_entry(teacher, item="online_course", hours=30, earned_on=date(2020, 12, 20))
    make_user("zheng", display_name="郑主任", locale="en", roles=((Role.COUNTY_OFFICER, county),))
    make_user("wai", display_name="外县", locale="en", roles=((Role.COUNTY_OFFICER, other),))
    make_user("bureau", display_name="局", locale="en", roles=((Role.BUREAU_OFFICER, county),))
    db.session.commit()
    return {"county": county, "school": school, "teacher": teacher}


def test_a_county_officer_closes_a_year_and_reads_the_report(client, dali, db):
    client.login("zheng")
    page = client.get("/recognition/").get_data(as_text=True)
    assert "Close a school year" in page and 'value="2020-2021"' in page
    assert 'data-pending="610523"' in page and "2020–2021学年 not closed yet" in page
    refused = client.post_form("/recognition/close", {"org": dali["county"].id, "school_year": "2020-2021"},
                          follow_redirects=True).get_data(as_text=True)
    assert "Tick the box" in refused
    done = client.post_form("/recognition/close", {"org": dali["county"].id, "school_year": "2020-2021",
                                                   "confirm": "1"}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert "is closed: 1 teachers in 1 schools" in text
    assert 'data-school="DL-A"' in text and "城关中学" in text
    again = client.post_form("/recognition/close", {"org": dali["county"].id, "school_year": "2020-2021",
                                                    "confirm": "1"}, follow_redirects=True).get_data(as_text=True)
    assert "already closed" in again
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecognitionBatch)) == 1
    batch = db.session.scalar(sa.select(RecognitionBatch))
    ledger.reverse_entry(ledger.entries_of(dali["teacher"])[0], None, "证书无效")
    db.session.commit()
    report = client.get(f"/recognition/{batch.id}").get_data(as_text=True)
    assert 'data-late="1"' in report and "证书无效" in report
    workbook = client.get(f"/recognition/{batch.id}.xlsx")
    assert workbook.status_code == 200 and "yanxun-recognition-610523-2020-2021.xlsx" in workbook.headers[
        "Content-Disposition"]
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(workbook.data)).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["School", "Teachers", "Met every requirement"] and sheet.freeze_panes == "A2"
    assert rows[1][:2] == ["城关中学", 1] and rows[-1][:2] == ["Total", 1], "the report as closed, not as corrected"


def test_who_may_see_and_close(client, app, dali, db):
    client.login("zheng")
    client.post_form("/recognition/close", {"org": dali["county"].id, "school_year": "2020-2021", "confirm": "1"})
    batch = db.session.scalar(sa.select(RecognitionBatch))
    bureau = app.test_client()
    bureau.login("bureau")
    assert bureau.get(f"/recognition/{batch.id}").status_code == 200
    assert 'data-pending="610523"' not in bureau.get("/recognition/").get_data(as_text=True)
    assert bureau.post_form("/recognition/close", {"org": dali["county"].id, "school_year": "2019-2020",
                                                   "confirm": "1"}).status_code == 403
    outsider = app.test_client()
    outsider.login("wai")
    assert outsider.get(f"/recognition/{batch.id}").status_code == 403
    follow = outsider.post_form("/recognition/close", {"org": dali["county"].id, "school_year": "2019-2020",
                                                       "confirm": "1"}, follow_redirects=True)
    assert "You may not close a school year for 大荔县" in follow.get_data(as_text=True)
    teacher = app.test_client()
    teacher.login("jia")
    assert teacher.get("/recognition/").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecognitionBatch)) == 1
