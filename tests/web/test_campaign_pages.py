"""The campaign pages: launching through the form, the board (filters, late rows, Excel), extending and closing, who
may see and do what, and a board that costs the same statements for few and many schools."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import sqlalchemy as sa
from openpyxl import load_workbook

from tests.web.campaign_support import KEY, campaign_process, county_people, launch, withdrawn_calls  # noqa: F401
from webapp import jobs
from webapp.models import Campaign, CampaignStatus, Role
from webapp.models.base import utcnow
from webapp.services import campaigns


def _english(db, *people):
    for person in people:
        person.locale = "en"
    db.session.commit()


def _client(app, login):
    client = app.test_client()
    client.login(login)
    return client


def _when(days):
    return campaigns.local(utcnow() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def _launch_form(people, **changes):
    data = {"process_key": KEY, "title": "学期总结", "period": "2026-2027-1", "period_start": "2026-09-01",
            "period_end": "2027-01-31", "scope": "all", "group": "", "remind_days": "3", "note": "",
            "deadline_summary": _when(10), "deadline_review": _when(20)}
    data.update(changes)
    return data


def test_launch_through_the_form_then_the_board(app, db, region, campaign_process, county_people):  # noqa: F811
    people = county_people
    _english(db, people["county"])
    officer = _client(app, "county1")
    page = officer.get("/campaigns/new").get_data(as_text=True)
    assert "个人总结" in page and "学校汇总" in page and 'type="datetime-local"' in page, page[page.find("<h1"):][:1500]
    refused = officer.post_form("/campaigns/new", _launch_form(people, deadline_summary=_when(-1)))
    assert refused.status_code == 200 and "already passed" in refused.get_data(as_text=True)
    picked = officer.post_form("/campaigns/new", _launch_form(people, scope="pick",
                                                              schools=[str(people["schools"][1].id)]))
    assert picked.status_code == 302
    campaign = db.session.scalar(sa.select(Campaign).order_by(Campaign.id.desc()).limit(1))
    assert campaign.total == 1
    db.session.refresh(campaign)
    assert campaign.status is CampaignStatus.OPEN, "the embedded default starts the schools at once"
    board = officer.get(picked.headers["Location"]).get_data(as_text=True)
    assert "一县二中" in board and "一县一中" not in board
    assert re.search(r'href="/inbox/instances/\d+"', board)
    assert 'data-state="late"' in board and 'data-stage="summary"' in board
    assert "Extend a deadline" in board and "End the campaign" in board
    progress = officer.get(f"/campaigns/{campaign.id}/progress.json").get_json()
    assert progress == {"status": "open", "total": 1, "started": 1, "failed": 0, "done": 1}
    listing = officer.get("/campaigns/").get_data(as_text=True)
    assert "学期总结" in listing
    assert 'href="/campaigns/"' in officer.get("/").get_data(as_text=True), "the navigation links to campaigns"


def test_the_board_filters_and_downloads(app, db, region, campaign_process, county_people):  # noqa: F811
    people = county_people
    _english(db, people["county"])
    campaign = launch(people, region)
    db.session.commit()
    jobs.start_pending(campaign.id)
    officer = _client(app, "county1")
    failed = officer.get(f"/campaigns/{campaign.id}?state=failed").get_data(as_text=True)
    assert "一县三中" in failed and "一县一中" not in failed
    searched = officer.get(f"/campaigns/{campaign.id}?q=二中").get_data(as_text=True)
    assert "一县二中" in searched and "一县三中" not in searched
    download = officer.get(f"/campaigns/{campaign.id}.xlsx")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(download.data)).active
    assert sheet.max_row == 2 + 3


def test_only_officers_in_scope_see_and_act(app, db, region, campaign_process, county_people):  # noqa: F811
    people = county_people
    campaign = launch(people, region)
    db.session.commit()
    jobs.start_pending(campaign.id)
    stranger = _client(app, "county2")
    assert stranger.get(f"/campaigns/{campaign.id}").status_code == 404
    assert stranger.get(f"/campaigns/{campaign.id}.xlsx").status_code == 404
    assert stranger.get(f"/campaigns/{campaign.id}/progress.json").status_code == 404
    assert stranger.post_form(f"/campaigns/{campaign.id}/close", {"reason": "x"}).status_code == 404
    assert "学期总结" not in stranger.get("/campaigns/").get_data(as_text=True)
    school_officer = _client(app, "officer9")
    assert school_officer.get(f"/campaigns/{campaign.id}").status_code == 404
    assert school_officer.get("/campaigns/new").status_code == 403
    teacher = _client(app, "teacher1")
    assert teacher.get("/campaigns/new").status_code == 403
    assert teacher.post_form(f"/campaigns/{campaign.id}/extend", {"stage": "summary",
                                                                   "deadline": _when(15)}).status_code == 404


def test_extend_and_close_through_the_page(app, db, region, campaign_process, county_people,  # noqa: F811
                                           monkeypatch):
    people = county_people
    _english(db, people["county"])
    campaign = launch(people, region)
    db.session.commit()
    jobs.start_pending(campaign.id)
    moved = []
    monkeypatch.setattr(campaigns.instances, "set_variables",
                        lambda instance, values, actor: moved.append((instance.id, dict(values))))
    officer = _client(app, "county1")
    response = officer.post_form(f"/campaigns/{campaign.id}/extend", {"stage": "summary", "deadline": _when(15)})
    assert response.status_code == 302
    db.session.refresh(campaign)
    assert campaign.deadlines["summary"].startswith(_when(15)[:10])
    assert len(moved) == 2 and all(values["summary_deadline"] == campaign.deadlines["summary"]
                                   for _id, values in moved)
    refused = officer.post_form(f"/campaigns/{campaign.id}/close", {"reason": ""}, follow_redirects=True)
    assert "Give the reason." in refused.get_data(as_text=True) or "required" in refused.get_data(as_text=True)
    assert officer.post_form(f"/campaigns/{campaign.id}/close", {"reason": "取消"}).status_code == 302
    db.session.refresh(campaign)
    assert campaign.status is CampaignStatus.CLOSED
    page = officer.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Extend a deadline" not in page and "取消" in page


def _statements(db, client, path):
    seen = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    db.session.commit()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(seen), response.get_data(as_text=True)


def test_the_board_costs_the_same_statements_for_few_and_many_schools(app, db, region, make_org, make_user,
                                                                      campaign_process, county_people):  # noqa: F811
    people = county_people
    officer = _client(app, "county1")
    few = launch(people, region, schools=people["schools"][:2])
    db.session.commit()
    jobs.start_pending(few.id)
    small, page = _statements(db, officer, f"/campaigns/{few.id}")
    assert page.count('data-school="') == 2
    more = []
    for number in range(8):
        school = make_org("school", region["county"], name=f"一县{number}小")
        make_user(f"extra{number}", org=school, roles=((Role.TEACHER, school),))
        make_user(f"extra{number}b", org=school, roles=((Role.TEACHER, school),))
        more.append(school)
    many = launch(people, region, schools=more, period="2026-2027-2")
    db.session.commit()
    jobs.start_pending(many.id)
    large, page = _statements(db, officer, f"/campaigns/{many.id}")
    assert page.count('data-school="') == 8
    assert large == small, "no statement per school (the open tasks are aggregated in one statement)"
    assert large < 25
