"""The semester summaries' archive (资料立卷建档, [000] 第23条; 纳入教师本人业务档案, [000] 第31条) through the pages:
records built by the package's own services (start, personal summaries with a file, 截止收集, a withdrawn teacher,
the subgroup summary, compile, sign, county review), then who reads what, the print page, the teacher's own
list, the empty states and a list page that costs the same statements for 1 and 3 schools."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.services.test_applications import PDF, chain, english, evidence_dir  # noqa: F401
from webapp.models import HumanTask, Role, TaskStatus
from webapp.processes.semester_summary import summaries
from webapp.processes.semester_summary.models import PersonalSummary, SchoolSummary
from webapp.processes.semester_summary.stages import COMPILE, PERSONAL, PROCESS_KEY, REVIEW, SIGN, SUBGROUP
from webapp.services import campaigns, definitions, instances
from webapp.services.uploads import Upload
from webapp.services.users import delegate

PERIOD, NEXT = "2026-2027-1", "2026-2027-2"
PAPER = PDF + b"paper of teacher1"


def _variables(period_start: date, period_end: date, period: str, deadlines: dict) -> dict:
    """The variables the campaign core gives an instance (the period, and each stage's deadline moments)."""
    data: dict = {"period": period, "period_start": period_start.isoformat(), "period_end": period_end.isoformat()}
    for key, deadline in deadlines.items():
        data.update(campaigns.stage_variables(key, deadline, 3))
    return data



def _diagram() -> dict[str, bytes]:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "workflows" / "semester_summary" / "semester_summary.bpmn"
    return {path.name: path.read_bytes()}


@pytest.fixture
def people(db, chain, region, make_user):  # noqa: F811
    """``chain``'s people (teacher1 in the maths subgroup led by leader1; leader2 leads Chinese; officer2 and
    county2 are of the other county) plus a principal, two more teachers and a teacher of the other school."""
    definitions.deploy(_diagram(), None)
    school = region["school"]
    extra = {
        "principal": make_user("principal1", org=school, roles=((Role.PRINCIPAL, school),)),
        "missing": make_user("teacher3", org=school, roles=((Role.TEACHER, school),)),
        "leaving": make_user("teacher4", org=school, roles=((Role.TEACHER, school),)),
        "far_teacher": make_user("teacher9", org=region["school2"], roles=((Role.TEACHER, region["school2"]),)),
        "bureau": make_user("bureau1", roles=((Role.BUREAU_OFFICER, region["city"]),)),
        "deputy": make_user("deputy1", org=school),
    }
    # deputy1 stands in for the principal (代理): reads what the principal reads, for the days of the delegation
    delegate(extra["principal"], extra["deputy"], role=Role.PRINCIPAL, valid_from=date.today() - timedelta(days=1),
             valid_to=date.today() + timedelta(days=7))
    found = {**chain, **extra}
    for person in found.values():
        person.locale = "en"
    db.session.commit()
    return found


def _open(instance, bpmn_id: str, assignee=None) -> HumanTask:
    found = [t for t in instances.open_tasks(instance) if t.bpmn_id == bpmn_id
             and (assignee is None or t.assignee_id == assignee.id)]
    assert found, f"no open {bpmn_id}"
    return found[0]


def run(db, school, teachers, *, officer, principal, county, period=PERIOD, subgroup=None, leader=None,
        writer=None, leaving=None, decision="accept"):
    """One school's summary through the package's services, to the county's ``decision`` (None: stop compiled)."""
    start = date(2026, 9, 1) if period.endswith("-1") else date(2027, 2, 1)
    end = date(2027, 1, 31) if period.endswith("-1") else date(2027, 7, 31)
    deadline = datetime.now(UTC) + timedelta(days=10)
    data = {"teachers": [t.login for t in teachers],
            "subgroups": [{"code": subgroup.code, "name": subgroup.name, "leader": leader.login}] if subgroup else []}
    data.update(_variables(start, end, period, {"personal": deadline, "subgroup": deadline + timedelta(days=7),
                                                    "school": deadline + timedelta(days=14)}))
    instance = instances.start(PROCESS_KEY, subject_org=school, initiator=county, data=data, by_feature=True)
    if writer is not None:
        summaries.save_personal(_open(instance, PERSONAL, writer), writer, "本学期完成公开课一节，论文一篇。",
                                {"paper": [Upload("论文.pdf", PAPER)]})
    if leaving is not None:  # as the package's own tests withdraw a teacher who left
        task = _open(instance, PERSONAL, leaving)
        instances.complete_task(task, leaving, {"withdrawn": True}, lambda _t, _u: None)
        summaries.withdrawn(task, "调往二县实验小学")
    summaries.close_collection(instance, officer, now=deadline + timedelta(days=1))
    if subgroup is not None:
        summaries.submit_subgroup(_open(instance, SUBGROUP), leader, "数学组本学期开展研课磨课四次。")
    summaries.compile_summary(_open(instance, COMPILE), officer,
                              {duty: {"status": "done", "note": f"{duty} 已落实"} for duty in
                               ("planning", "credit_review", "evaluation", "archiving")}, 2,
                              "本学期校本研修按计划完成。")
    if decision is not None:
        summaries.sign(_open(instance, SIGN), principal, "sign")
        summaries.county_review(_open(instance, REVIEW), county, decision,
                                "请补充研修简报。" if decision == "return" else "资料齐全。")
    db.session.commit()
    return db.session.scalar(sa.select(SchoolSummary).where(SchoolSummary.instance_id == instance.id))


@pytest.fixture
def archive(db, people, region):
    """The school's accepted summary of the first semester: teacher1 submitted with a paper, teacher3 missing,
    teacher4 withdrawn, the maths subgroup's summary."""
    record = run(db, region["school"], [people["teacher"], people["missing"], people["leaving"]],
                 officer=people["officer"], principal=people["principal"], county=people["county"],
                 subgroup=region["maths"], leader=people["leader"], writer=people["teacher"], leaving=people["leaving"])
    personal = db.session.scalar(sa.select(PersonalSummary).where(
        PersonalSummary.instance_id == record.instance_id, PersonalSummary.teacher_id == people["teacher"].id))
    return {"record": record, "personal": personal}


def _client(app, login: str):
    client = app.test_client()
    client.login(login)
    return client


def _statements(db, client, path: str) -> tuple[int, str]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    db.session.commit()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(seen), page


# -- the school's page and who reads it ---------------------------------------------------------------------

def test_the_school_summary_page_has_everything_the_archive_keeps(app, archive):
    page = _client(app, "officer1").get(f"/summaries/schools/{archive['record'].id}").get_data(as_text=True)
    assert "一县一中" in page and "2026–2027 school year, first semester" in page
    assert "本学期校本研修按计划完成。" in page and "planning 已落实" in page and "Carried out" in page
    assert re.search(r'id="archive-newsletters">2<', page)
    assert "数学组本学期开展研课磨课四次。" in page and "数学备课组" in page
    personal = page[page.index('id="archive-personal"'):]
    assert "测试用户teacher1" in personal and "Submitted" in personal
    assert "测试用户teacher3" in personal and "Missing" in personal
    assert "测试用户teacher4" in personal and "Withdrawn" in personal and "调往二县实验小学" in personal
    assert "1 submitted, 1 missing, 1 withdrawn" in page
    assert "测试用户officer1" in page and "测试用户principal1" in page and "测试用户county1" in page
    assert "资料齐全。" in page and "Accepted" in page
    aggregates = page[page.index('id="summary-aggregates"'):]
    assert "Teachers below it" in aggregates and "≥ 360" in aggregates, "the requirement lines with the below counts"


def test_the_print_layout_is_a4_with_the_heading_and_the_principals_signature(app, archive):
    page = _client(app, "principal1").get(f"/summaries/schools/{archive['record'].id}").get_data(as_text=True)
    assert "@page { size: A4" in page and "@media print" in page
    assert re.search(r'<div class="[^"]*d-print-none[^"]*">\s*<a[^>]*>[^<]*</a>\s*<button[^>]*data-print', page)
    header = page[page.index('id="school-archive"'):page.index('id="archive-people"')]
    assert "<h1" in header and "一县一中" in header and "first semester" in header
    signature = page[page.index('id="archive-signature"'):]
    assert "Principal's signature" in signature and "Date" in signature


@pytest.mark.parametrize(("login", "status"), [
    ("officer1", 200), ("principal1", 200), ("deputy1", 200), ("leader1", 200), ("leader2", 200), ("county1", 200),
    ("bureau1", 200), ("teacher1", 404), ("teacher9", 404), ("officer2", 404), ("county2", 404)])
def test_who_reads_the_school_summary(app, archive, login, status):
    assert _client(app, login).get(f"/summaries/schools/{archive['record'].id}").status_code == status


def test_an_unknown_school_summary_is_404(app, archive):
    assert _client(app, "county1").get(f"/summaries/schools/{archive['record'].id + 999}").status_code == 404


# -- a teacher's personal summary ---------------------------------------------------------------------------

@pytest.mark.parametrize(("login", "status"), [
    ("teacher1", 200), ("officer1", 200), ("principal1", 200), ("deputy1", 200), ("leader1", 200), ("county1", 200),
    ("bureau1", 200), ("leader2", 404), ("teacher3", 404), ("teacher9", 404), ("officer2", 404), ("county2", 404)])
def test_who_reads_a_personal_summary_and_its_files(app, archive, login, status):
    summary = archive["personal"]
    client = _client(app, login)
    assert client.get(f"/summaries/personal/{summary.id}").status_code == status
    attachment = summary.attachments[0]
    with client.get(f"/summaries/personal/{summary.id}/files/{attachment.id}") as response:
        assert response.status_code == status
        if status == 200:
            assert response.mimetype == "application/pdf" and response.data == PAPER
            assert response.headers["Cache-Control"] == "private, no-store"


def test_a_file_of_another_summary_is_not_served_through_this_one(app, db, archive, people):
    other = db.session.scalar(sa.select(PersonalSummary).where(
        PersonalSummary.instance_id == archive["record"].instance_id,
        PersonalSummary.teacher_id == people["missing"].id))
    attachment = archive["personal"].attachments[0]
    assert _client(app, "officer1").get(f"/summaries/personal/{other.id}/files/{attachment.id}").status_code == 404


def test_the_personal_page_prints_with_hours_files_and_signature(app, archive):
    summary = archive["personal"]
    page = _client(app, "leader1").get(f"/summaries/personal/{summary.id}").get_data(as_text=True)
    assert "@page { size: A4" in page and "data-print" in page
    assert "测试用户teacher1" in page and "本学期完成公开课一节，论文一篇。" in page and "Submitted" in page
    assert 'id="summary-hours"' in page and "校本研修" in page
    assert "论文.pdf" in page and f"/summaries/personal/{summary.id}/files/" in page
    assert "Teacher's signature" in page


# -- the lists ----------------------------------------------------------------------------------------------

def test_my_summaries_list_status_date_hours_and_files(app, db, archive, people):
    page = _client(app, "teacher1").get("/summaries/mine").get_data(as_text=True)
    rows = page[page.index('id="my-summaries"'):]
    assert "2026–2027 school year, first semester" in rows and "Submitted" in rows and "一县一中" in rows
    assert "校本研修 0 h" not in rows, "categories without hours are left out"
    assert "论文.pdf" in rows and f"/summaries/personal/{archive['personal'].id}" in rows
    missing = _client(app, "teacher3").get("/summaries/mine").get_data(as_text=True)
    assert "Missing" in missing
    empty = _client(app, "teacher9").get("/summaries/mine").get_data(as_text=True)
    assert 'id="mine-empty"' in empty and "You have no semester summaries yet." in empty


def test_a_teacher_going_to_the_school_list_gets_their_own(app, archive):
    response = _client(app, "teacher1").get("/summaries/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="my-summaries"' in page and 'id="archive-rows"' not in page


def test_the_school_list_newest_semester_first_with_status_and_dates(app, db, archive, people, region):
    run(db, region["school"], [people["teacher"]], officer=people["officer"], principal=people["principal"],
        county=people["county"], period=NEXT, decision="return")
    page = _client(app, "officer1").get("/summaries/").get_data(as_text=True)
    assert 'id="archive-filter"' not in page, "a school's own officer has nothing to filter"
    second, first = page.index("second semester"), page.index("first semester")
    assert second < first
    assert page.count('href="/summaries/schools/') == 2
    rows = page[page.index('id="archive-rows"'):]
    assert "Returned" in rows[:rows.index("first semester")] and "Accepted" in rows[rows.index("first semester"):]
    officer2 = _client(app, "officer2").get("/summaries/").get_data(as_text=True)
    assert 'id="archive-empty"' in officer2 and "No school summaries yet." in officer2


def test_the_county_filters_by_school_and_semester(app, db, archive, people, region):
    county = _client(app, "county1")
    page = county.get("/summaries/").get_data(as_text=True)
    assert 'id="archive-filter"' in page and "一县一中" in page
    assert page.count('href="/summaries/schools/') == 1
    assert f'value="{PERIOD}"' in page
    filtered = county.get(f"/summaries/?school={region['school2'].id}").get_data(as_text=True)
    assert "No school summaries match this filter." in filtered
    by_period = county.get(f"/summaries/?period={NEXT}").get_data(as_text=True)
    assert 'href="/summaries/schools/' not in by_period
    other = _client(app, "county2").get("/summaries/").get_data(as_text=True)
    assert "一县一中" not in other and 'id="archive-empty"' in other


def test_the_county_list_costs_the_same_statements_for_1_and_3_schools(app, db, archive, people, region,
                                                                        make_org, make_user):
    county = _client(app, "county1")
    few, page = _statements(db, county, "/summaries/")
    assert page.count('href="/summaries/schools/') == 1
    for number in (2, 3):
        school = make_org("school", region["county"], code=f"C1-K1-S{number}", name=f"一县{number}中")
        teacher = make_user(f"s{number}teacher", org=school, roles=((Role.TEACHER, school),))
        officer = make_user(f"s{number}officer", org=school, roles=((Role.SCHOOL_OFFICER, school),))
        principal = make_user(f"s{number}principal", org=school, roles=((Role.PRINCIPAL, school),))
        run(db, school, [teacher], officer=officer, principal=principal, county=people["county"],
            decision=None if number == 2 else "accept")
    many, page = _statements(db, county, "/summaries/")
    assert page.count('href="/summaries/schools/') == 3
    assert many == few, "no statement per row"
    assert "In progress" in page, "compiled, not yet signed"
    assert few < 20


def test_open_personal_tasks_link_from_my_list(app, db, people, region):
    deadline = datetime.now(UTC) + timedelta(days=10)
    data = {"teachers": [people["teacher"].login], "subgroups": []}
    data.update(_variables(date(2026, 9, 1), date(2027, 1, 31), PERIOD,
                               {"personal": deadline, "subgroup": deadline, "school": deadline}))
    instance = instances.start(PROCESS_KEY, subject_org=region["school"], initiator=people["county"], data=data,
                               by_feature=True)
    task = _open(instance, PERSONAL, people["teacher"])
    db.session.commit()
    page = _client(app, "teacher1").get("/summaries/mine").get_data(as_text=True)
    assert f'href="/inbox/tasks/{task.id}"' in page and "To write" in page, "not started yet: still listed"
    assert 'id="mine-empty"' not in page
    summaries.save_personal(task, people["teacher"], "草稿", submit=False)
    db.session.commit()
    assert task.status is TaskStatus.OPEN
    page = _client(app, "teacher1").get("/summaries/mine").get_data(as_text=True)
    assert f'href="/inbox/tasks/{task.id}"' in page and "Draft" in page and "To write" not in page


def test_a_cancelled_summary_stays_in_the_archive_marked_cancelled(app, db, people, region, make_user):
    from webapp.services import instance_admin

    admin = make_user("admin9", roles=((Role.ADMIN, region["city"]),))
    record = run(db, region["school"], [people["teacher"]], officer=people["officer"], principal=people["principal"],
                 county=people["county"], decision=None)
    instance_admin.cancel(record.instance_id, admin, "重复发起")
    db.session.commit()
    rows = _client(app, "county1").get("/summaries/").get_data(as_text=True)
    assert "Cancelled" in rows[rows.index('id="archive-rows"'):]
    page = _client(app, "officer1").get(f"/summaries/schools/{record.id}").get_data(as_text=True)
    assert "Cancelled" in page and "本学期校本研修按计划完成。" in page
