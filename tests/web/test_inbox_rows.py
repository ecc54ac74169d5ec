"""Inbox rows say what the item is (the process's summary), the inbox searches by number or name, the done tab
says what I decided, and a page costs the same number of statements whatever its number of rows."""

import re

import sqlalchemy as sa

from tests.services.test_applications import PDF, apply, chain, english, evidence_dir, task_of  # noqa: F401
from webapp.processes.credit_application import applications


def _in_english(db, *people) -> None:
    for person in people:
        person.locale = "en"
    db.session.commit()


def _apply(teacher, number: int, hours: int = 4):
    return apply(teacher, files=((f"{number}.pdf", PDF + str(number).encode()),), category="school_based",
                 item_code="open_lesson", hours_requested=hours)


def _statements(app, db, client, path: str) -> tuple[int, str]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    db.session.commit()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        page = client.get(path).get_data(as_text=True)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(seen), page


def test_a_page_of_rows_costs_the_same_statements_for_3_and_12_rows(app, db, chain):  # noqa: F811
    leader = app.test_client()
    leader.login("leader1")
    for number in range(3):
        _apply(chain["teacher"], number)
    few, page = _statements(app, db, leader, "/inbox/?tab=claimable&sort=created")
    assert len(re.findall(r'href="/inbox/tasks/\d+"', page)) == 3
    for number in range(3, 12):
        _apply(chain["teacher"], number)
    many, page = _statements(app, db, leader, "/inbox/?tab=claimable&sort=created")
    assert len(re.findall(r'href="/inbox/tasks/\d+"', page)) == 12
    assert many == few, "no statement per row (summaries, teachers, schools, claims are loaded per page)"
    done, _ = _statements(app, db, leader, "/inbox/?tab=done")
    assert done < 40


def test_rows_carry_the_application_summary_and_search_finds_by_number_and_name(app, db, chain):  # noqa: F811
    _in_english(db, chain["leader"])
    first = _apply(chain["teacher"], 1, hours=4)
    second = _apply(chain["teacher"], 2, hours=3)
    db.session.commit()
    leader = app.test_client()
    leader.login("leader1")
    page = leader.get("/inbox/?tab=claimable").get_data(as_text=True)
    assert f"No. {first.id}" in page and f"No. {second.id}" in page
    assert "4 hours · " + chain["teacher"].display_name in page
    found = leader.get(f"/inbox/?tab=claimable&q={second.id}").get_data(as_text=True)
    assert f"No. {second.id}" in found and f"No. {first.id}" not in found
    by_name = leader.get(f"/inbox/?tab=claimable&q={chain['teacher'].display_name}").get_data(as_text=True)
    assert f"No. {first.id}" in by_name and f"No. {second.id}" in by_name
    nothing = leader.get("/inbox/?tab=claimable&q=%25_nobody").get_data(as_text=True)
    assert "Nothing matches your search" in nothing, "LIKE wildcards in the search are taken literally"


def test_the_bulk_confirmation_counts_and_sums_what_is_selected(app, db, chain):  # noqa: F811
    _apply(chain["teacher"], 1, hours=4)
    _apply(chain["teacher"], 2, hours=3)
    db.session.commit()
    leader = app.test_client()
    leader.login("leader1")
    page = leader.get("/inbox/?tab=claimable").get_data(as_text=True)
    assert sorted(re.findall(r'data-amount="([\d.]+)"', page)) == ["3.0", "4.0"]
    assert 'data-select-all="input[name=task_id]"' in page
    confirm = re.search(r'data-confirm="([^"]*)"', page).group(1)
    assert "{n}" in confirm and "{total}" in confirm, "the question states the count and the total hours"


def test_the_done_tab_says_what_i_decided(app, db, chain):  # noqa: F811
    _in_english(db, chain["leader"])
    returned = _apply(chain["teacher"], 1)
    approved = _apply(chain["teacher"], 2)
    applications.review(task_of(returned, "leader_review"), chain["leader"], "return", None, "请补充材料")
    applications.review(task_of(approved, "leader_review"), chain["leader"], "approve", 4, "")
    db.session.commit()
    leader = app.test_client()
    leader.login("leader1")
    page = leader.get("/inbox/?tab=done").get_data(as_text=True)
    assert "Returned for revision" in page and "Approved" in page


def test_own_review_is_never_offered_nor_claimable(app, db, chain):  # noqa: F811
    """A reviewer who applies (the school officer) does not see her own review, and cannot claim it."""
    officer = chain["officer"]
    mine = _apply(officer, 1)
    while (task := applications.open_task(mine, applications.REVIEW_TASKS)) and task.bpmn_id != "school_review":
        applications.review(task, chain["leader"], "approve", 4, "")
    db.session.commit()
    assert task is not None and task.bpmn_id == "school_review"
    client = app.test_client()
    client.login(officer.login)
    assert f'href="/inbox/tasks/{task.id}"' not in client.get("/inbox/?tab=claimable").get_data(as_text=True)
    page = client.get(f"/inbox/tasks/{task.id}")
    if page.status_code == 200:
        assert f'action="/inbox/tasks/{task.id}/claim"' not in page.get_data(as_text=True)
    claimed = client.post_form(f"/inbox/tasks/{task.id}/claim", {"csrf_token": client.csrf_token("/inbox/")})
    assert claimed.status_code in (302, 404)
    db.session.refresh(task)
    assert task.claimed_by_id is None


def test_the_api_lists_tasks_with_their_record_summary(app, db, chain):  # noqa: F811
    application = _apply(chain["teacher"], 1, hours=4)
    db.session.commit()
    leader = app.test_client()
    leader.login("leader1")
    listed = leader.get("/api/v1/tasks?scope=claimable").get_json()
    [item] = [i for i in listed["items"] if i["instance"]["id"] == application.instance_id]
    assert item["summary"]["reference"] == str(application.id)
    assert item["summary"]["amount"] == 4.0 and item["summary"]["link"] == f"/applications/{application.id}"
    assert chain["teacher"].display_name in item["summary"]["facts"]
    schema = leader.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert "summary" in schema["TaskListItem"]["allOf"][1]["properties"]
