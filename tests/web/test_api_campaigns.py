"""The campaigns API: launch, list, the board, extend and close, with the same checks as the pages."""

from __future__ import annotations

from datetime import timedelta

from tests.web.campaign_support import KEY, campaign_process, county_people, withdrawn_calls  # noqa: F401
from tests.web.test_api import Api
from webapp.models.base import utcnow
from webapp.services import campaigns


def _at(days):
    return campaigns.local(utcnow() + timedelta(days=days)).isoformat()


def _body(people, **changes):
    body = {"process_key": KEY, "title": "学期总结", "period": "2026-2027-1", "period_start": "2026-09-01",
            "period_end": "2027-01-31", "org_id": people["schools"][0].parent_id,
            "school_ids": [school.id for school in people["schools"]],
            "deadlines": {"summary": _at(10), "review": _at(20)}}
    body.update(changes)
    return body


def test_launch_read_extend_close(app, db, region, campaign_process, county_people):  # noqa: F811
    people = county_people
    api = Api(app.test_client()).login("county1")
    refused = api.post("/campaigns", _body(people, deadlines={"summary": _at(10)}))
    assert refused.status_code == 400 and "deadline_review" in refused.get_json()["error"]["fields"]
    launched = api.post("/campaigns", _body(people))
    assert launched.status_code == 201, launched.get_json()
    campaign = launched.get_json()
    assert campaign["progress"]["total"] == 3
    assert launched.headers["Location"].endswith(f"/api/v1/campaigns/{campaign['id']}")
    detail = api.get(f"/campaigns/{campaign['id']}").get_json()
    assert detail["status"] == "open" and detail["progress"]["started"] == 2
    assert {row["school"]["name"]: row["stage"] for row in detail["board"]["items"]} == {
        "一县一中": "summary", "一县二中": "summary", "一县三中": "failed"}
    assert detail["board"]["states"]["failed"] == 1
    failed = api.get(f"/campaigns/{campaign['id']}?state=failed").get_json()["board"]["items"]
    assert [row["school"]["name"] for row in failed] == ["一县三中"] and failed[0]["error"]
    assert [c["id"] for c in api.get("/campaigns").get_json()["items"]] == [campaign["id"]]
    extended = api.post(f"/campaigns/{campaign['id']}/extend", {"stage": "summary", "deadline": _at(12)})
    assert extended.status_code == 200 and extended.get_json()["deadlines"]["summary"][:16] == _at(12)[:16]
    stranger = Api(app.test_client()).login("county2")
    assert stranger.get(f"/campaigns/{campaign['id']}").status_code == 404
    assert stranger.post(f"/campaigns/{campaign['id']}/close", {"reason": "x"}).status_code == 404
    assert stranger.post("/campaigns", _body(people)).status_code == 403
    assert api.post(f"/campaigns/{campaign['id']}/close", {"reason": ""}).status_code == 400
    closed = api.post(f"/campaigns/{campaign['id']}/close", {"reason": "取消"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert api.post(f"/campaigns/{campaign['id']}/close", {"reason": "again"}).status_code == 409
