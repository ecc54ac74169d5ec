"""Bulk approval and the inbox filters, for a school officer with several applications waiting."""

import re

from tests.services.test_applications import PDF, apply, chain, english, evidence_dir, task_of  # noqa: F401
from webapp.models import TaskStatus
from webapp.processes.credit_application import applications
from webapp.processes.credit_application.models import ApplicationStatus


def test_bulk_approve_with_one_comment(app, db, chain):  # noqa: F811
    first = apply(chain["teacher"], files=(("a.pdf", PDF + b"a"),), category="school_based",
                  item_code="open_lesson", hours_requested=4)
    second = apply(chain["teacher"], files=(("b.pdf", PDF + b"b"),), category="school_based",
                   item_code="open_lesson", hours_requested=3)
    for application in (first, second):
        applications.review(task_of(application, "leader_review"), chain["leader"], "approve",
                            applications.review_limit(application), "")
    db.session.commit()
    officer = app.test_client()
    chain["officer"].locale = "en"
    db.session.commit()
    officer.login("officer1")
    page = officer.get("/inbox/?tab=claimable").get_data(as_text=True)
    ids = re.findall(r'name="task_id" value="(\d+)"', page)
    assert len(ids) == 2
    done = officer.post_form("/inbox/bulk-approve", {"task_id": ids, "comment": "同意，材料齐全",
                                                     "csrf_token": officer.csrf_token("/inbox/")},
                             follow_redirects=True)
    assert "2 applications approved" in done.get_data(as_text=True)
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.status is ApplicationStatus.RECOGNISED and second.status is ApplicationStatus.RECOGNISED
    assert (first.hours_approved, second.hours_approved) == (4, 3)


def test_bulk_approve_reports_what_it_refused(app, db, chain, make_user, region):  # noqa: F811
    from webapp.models import Role

    both = make_user("both3", org=region["school"], locale="en",
                     roles=((Role.SUBGROUP_LEADER, region["maths"]), (Role.SCHOOL_OFFICER, region["school"])))
    application = apply(chain["teacher"], files=(("c.pdf", PDF + b"c"),), category="school_based",
                        item_code="open_lesson", hours_requested=2)
    client = app.test_client()
    client.login("both3")
    leader_task = task_of(application, "leader_review")
    approved = client.post_form("/inbox/bulk-approve", {"task_id": [str(leader_task.id)],
                                                        "csrf_token": client.csrf_token("/inbox/")},
                                follow_redirects=True)
    assert re.search(r"\b1 applications? approved", approved.get_data(as_text=True))
    db.session.refresh(leader_task)
    assert leader_task.completed_by_id == both.id
    school_task = task_of(application, "school_review")
    refused = client.post_form("/inbox/bulk-approve", {"task_id": [str(school_task.id)],
                                                       "csrf_token": client.csrf_token("/inbox/")},
                               follow_redirects=True)
    assert "Not approved" in refused.get_data(as_text=True)
    assert "four-eyes" in refused.get_data(as_text=True)
    db.session.refresh(school_task)
    assert school_task.status is TaskStatus.OPEN and school_task.completed_by_id is None
    assert task_of(application).id == school_task.id, "still waiting for another officer"


def test_filters_by_category_school_and_date(app, db, chain):  # noqa: F811
    apply(chain["teacher"], files=(("d.pdf", PDF + b"d"),))
    apply(chain["teacher"], files=(("e.pdf", PDF + b"e"),), category="school_based", item_code="open_lesson",
          hours_requested=4)
    chain["leader"].locale = "en"
    db.session.commit()
    leader = app.test_client()
    leader.login("leader1")
    all_tasks = leader.get("/inbox/?tab=claimable").get_data(as_text=True)
    assert all_tasks.count('name="task_id"') == 2
    online = leader.get("/inbox/?tab=claimable&category=online").get_data(as_text=True)
    assert online.count('name="task_id"') == 1
    future = leader.get("/inbox/?tab=claimable&since=2999-01-01").get_data(as_text=True)
    assert 'name="task_id"' not in future
