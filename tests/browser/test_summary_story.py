"""The semester summary (学期总结与自查) in Chromium on a 390 px phone, as the issue tells it.

北湖区 (曹静) launches the semester's summary over a small school of three teachers, one of them the leader of its
only subgroup. A teacher writes hers from 待办: an empty body is refused in Chinese, then she submits it with a
paper attached, and /summaries/mine has it 已提交. The personal deadline passes; the training officer closes the
collection (one teacher 未交), the subgroup leader writes the subgroup's summary, and the officer compiles the
school's summary and self-check from her inbox; the principal then has 校长审签 waiting.

The data are set up through the services, in the live server's own database (by :func:`serve_steps`, an app
with the server's settings in a helper process), as ``seed-demo`` sets up the demo's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.pages import PHONE, log_in

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
WIDTH = PHONE["width"]
#: The school of the story (a school of 北湖区 that no demo campaign covers).
SCHOOL = ("XB-BH-ZJXX", "北湖区紫荆小学")
SUBGROUP = ("XB-BH-ZJXX-01", "紫荆小学语文教研组")
#: login: (name, roles); the teachers are members of the subgroup.
PEOPLE = {"zj_hanxue": ("韩雪梅", ("teacher",)),
          "zj_denggang": ("邓志刚", ("teacher",)),
          "zj_luolan": ("罗兰芳", ("teacher", "subgroup_leader")),
          "zj_zhouting": ("周婷婷", ("school_officer",)),
          "zj_xufeng": ("许剑峰", ("principal",))}
PAPER = (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% YanXun summary story: a paper\n"
         b"trailer << /Root 1 0 R >>\n%%EOF\n")


# -- the data, through the services, in the live server's database ---------------------------------------------

def _setup() -> dict:
    """The school, its people (the demo password), some hours in the semester, the campaign launched by 曹静 and
    started; the leader has already written her personal summary."""
    from datetime import date, datetime, time, timedelta

    from webapp.models import OrgType, Role, SchoolStage
    from webapp.processes.semester_summary import records, summaries
    from webapp.processes.semester_summary.stages import PERSONAL, PROCESS_KEY, STAGE_TASKS
    from webapp.services import campaigns, ledger, orgs, users
    from webapp.services.demo import DEMO_PASSWORD
    from webapp.services.rules import semester_of

    county = orgs.find_by_code("XB-BH")
    school = orgs.create_org(code=SCHOOL[0], name=SCHOOL[1], type=OrgType.SCHOOL, parent=county,
                             stage=SchoolStage.PRIMARY)
    subgroup = orgs.create_org(code=SUBGROUP[0], name=SUBGROUP[1], type=OrgType.SUBGROUP, parent=school,
                               stage=SchoolStage.PRIMARY, kind="教研组")
    people = {}
    for login, (name, roles) in PEOPLE.items():
        person = users.create_user(login=login, password=DEMO_PASSWORD, display_name=name, org=school,
                                   subject="语文")
        for role in roles:
            users.assign_role(person, Role(role), subgroup if role == "subgroup_leader" else school)
        if "teacher" in roles:
            users.set_primary_subgroup(person, subgroup)
        people[login] = person
    today = date.today()
    teacher = people["zj_hanxue"]
    ledger.post_entry(teacher, category="school_based", hours=6, earned_on=today, title="校本研修：集体备课")
    ledger.post_entry(teacher, category="online", hours=10, earned_on=today, title="网络研修：作业设计")
    semester = semester_of(today)
    caojing = users.find_by_login("caojing")
    deadlines = {key: campaigns.local(datetime.combine(today + timedelta(days=days), time(17)))
                 for key, days in zip(STAGE_TASKS, (7, 14, 21), strict=True)}
    campaign = campaigns.launch(PROCESS_KEY, title=records.default_title(semester.key), period=semester.key,
                                period_start=semester.start, period_end=semester.end, org=county, schools=[school],
                                deadlines=deadlines, actor=caojing)
    while campaigns.start_batch(campaign):
        pass
    (row,) = campaigns.running_rows(campaign)
    leader = people["zj_luolan"]
    (task,) = [t for t in summaries.collection(row.instance) if t.teacher.id == leader.id]
    assert task.task.bpmn_id == PERSONAL
    summaries.save_personal(task.task, leader, "本学期组织语文组集体备课八次，上研讨课一节。")
    return {"campaign": campaign.id, "instance": row.instance_id}


def _deadline_passes(campaign: int) -> dict:
    """As ``demo._backdate`` does: the personal summaries were due yesterday at 17:00, and the instance knows it."""
    from datetime import date, datetime, time, timedelta

    from webapp.extensions import db
    from webapp.models import Campaign
    from webapp.services import campaigns, users

    found = db.session.get(Campaign, campaign)
    yesterday = date.today() - timedelta(days=1)
    found.deadlines = {**found.deadlines,
                       "personal": campaigns.local(datetime.combine(yesterday, time(17))).isoformat()}
    db.session.flush()
    campaigns.apply_deadlines(found, users.find_by_login("caojing"))
    return {}


def _subgroup_writes(instance: int) -> dict:
    """The subgroup leader submits the subgroup's summary."""
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import HumanTask, TaskStatus
    from webapp.processes.semester_summary import summaries
    from webapp.processes.semester_summary.stages import SUBGROUP as SUBGROUP_TASK

    (task,) = db.session.scalars(sa.select(HumanTask).where(
        HumanTask.instance_id == instance, HumanTask.bpmn_id == SUBGROUP_TASK, HumanTask.status == TaskStatus.OPEN))
    summaries.submit_subgroup(task, task.assignee, "本组本学期开展集体备课八次、主题研修两次。")
    return {}


STEPS = {"setup": _setup, "deadline_passes": _deadline_passes, "subgroup_writes": _subgroup_writes}


def serve_steps() -> None:
    """In the helper process: one app on the live server's database; each step asked for on stdin (a JSON line:
    [step, arguments]) runs in its own app context and is committed; its result goes back as a JSON line."""
    from webapp import create_app
    from webapp.extensions import db

    app = create_app()
    for line in sys.stdin:
        step, arguments = json.loads(line)
        with app.app_context():
            result = STEPS[step](**arguments)
            db.session.commit()
        print(json.dumps(result), flush=True)  # read by the test


@pytest.fixture
def server_data(live_server, tmp_path_factory, tmp_path):
    """Run steps of the data setup against the live server's database (in the instance directory it made), in one
    helper process with the server's settings (an app starts in seconds: once is enough)."""
    (database,) = {path.resolve() for path in tmp_path_factory.getbasetemp().glob("instance*/yanxun.db")}
    env = {**os.environ, "YANXUN_DATABASE_URL": f"sqlite:///{database}",
           "YANXUN_SECRET_KEY": "browser-test-secret-" + "x" * 20,
           "YANXUN_EVIDENCE_DIR": str(database.parent / "evidence")}
    env.pop("YANXUN_REDIS_URL", None)
    log = tmp_path / "data-steps.log"
    with log.open("w") as errors:
        helper = subprocess.Popen(
            [sys.executable, "-c", "from tests.browser.test_summary_story import serve_steps; serve_steps()"],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)

    def run(step: str, **arguments) -> dict:
        helper.stdin.write(json.dumps([step, arguments]) + "\n")
        helper.stdin.flush()
        answer = helper.stdout.readline()
        if not answer:
            helper.wait(timeout=10)
            pytest.fail(f"the data step {step} failed:\n{log.read_text(errors='replace')}")
        return json.loads(answer)

    yield run
    helper.stdin.close()
    helper.wait(timeout=10)
    helper.stdout.close()


# -- the pages ---------------------------------------------------------------------------------------------------

def fits(page, shots: Path, name: str) -> None:
    """Nothing wider than the phone; a screenshot of the whole page."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= WIDTH, f"{page.url} is {width} px wide"
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def open_inbox(page) -> None:
    """待办, from the menu as a phone shows it."""
    page.locator(".navbar-toggler").click()
    page.locator("#nav-main").get_by_role("link", name=re.compile("^待办")).click()
    expect(page.locator("h1")).to_have_text("待办")


def test_personal_summary_then_collection_and_compilation_on_a_phone(browser, live_server, server_data, tmp_path):
    started = server_data("setup")
    paper = tmp_path / "统编教材单元作业设计.pdf"
    paper.write_bytes(PAPER)

    # The teacher finds her summary in 待办, sees her semester's hours, is told in Chinese to write something.
    teacher = log_in(browser, live_server, "zj_hanxue")
    open_inbox(teacher)
    teacher.locator("#inbox-rows").get_by_role("link", name=re.compile("撰写个人总结")).click()
    expect(teacher.locator("h1")).to_contain_text("撰写个人总结")
    hours = teacher.locator("#summary-hours")
    expect(hours.locator("tr", has_text="校本研修")).to_contain_text("6")  # the hours posted today
    expect(hours.locator("tr", has_text="远程研修")).to_contain_text("10")
    # The deployed diagram renders in bpmn-js with no import warnings, the teacher's step marked current.
    diagram = teacher.locator("#process-diagram")
    expect(diagram).to_have_attribute("data-diagram-ready", "1", timeout=15_000)
    expect(diagram).to_have_attribute("data-diagram-warnings", "0")
    expect(diagram.locator("svg .djs-element.yx-current[data-element-id='PersonalSummary']")).to_be_attached()
    fits(teacher, tmp_path, "1-personal")
    teacher.get_by_role("button", name="提交", exact=True).click()
    expect(teacher.locator("#summary-form")).to_contain_text("请填写个人总结")
    fits(teacher, tmp_path, "2-personal-empty")

    teacher.fill("#body", "本学期参加语文组集体备课和主题研修，完成单元作业设计一篇，研修日志按周记录。")
    teacher.set_input_files("#paper", str(paper))
    teacher.get_by_role("button", name="提交", exact=True).click()
    expect(teacher.get_by_role("alert").first).to_be_visible()
    teacher.goto("/inbox/")
    expect(teacher.locator("#main")).not_to_contain_text("撰写个人总结")
    teacher.goto("/summaries/mine")
    mine = teacher.locator("#my-summaries .list-group-item").first
    expect(mine).to_contain_text("已提交")
    expect(mine).to_contain_text(f"{paper.name} · 论文")
    fits(teacher, tmp_path, "3-mine")

    # The deadline passes; the officer closes the collection: the teacher who wrote nothing is 未交.
    server_data("deadline_passes", campaign=started["campaign"])
    officer = log_in(browser, live_server, "zj_zhouting")
    officer.locator(".navbar-toggler").click()
    officer.locator("#nav-main").get_by_role("link", name="学校学期总结").click()
    officer.locator("#school-summaries").get_by_role("link", name=re.compile(SCHOOL[1])).click()
    collection = officer.locator("#summary-collection")
    expect(collection.locator("li", has_text="韩雪梅")).to_contain_text("已提交")
    expect(collection.locator("li", has_text="邓志刚")).to_contain_text("撰写中")
    fits(officer, tmp_path, "4-collection")
    officer.get_by_role("button", name="截止收集").click()
    expect(officer.get_by_role("alert").first).to_contain_text("1 名教师记为未交")
    expect(collection.locator("li", has_text="邓志刚")).to_contain_text("未交")
    expect(officer.get_by_role("button", name="截止收集")).to_have_count(0)
    fits(officer, tmp_path, "5-closed")

    # The subgroup leader writes the subgroup's summary; the officer compiles the school's from her inbox.
    server_data("subgroup_writes", instance=started["instance"])
    open_inbox(officer)
    officer.get_by_role("link", name=re.compile("^待认领")).click()
    officer.locator("#inbox-rows").get_by_role("link", name=re.compile("汇编学校总结与自查")).click()
    expect(officer.locator("h1")).to_contain_text("汇编学校总结与自查")
    aggregates = officer.locator("#summary-aggregates")
    expect(aggregates.locator("dd").first).to_have_text("3")  # three teachers asked
    expect(officer.locator("#main table").first.locator("tr", has_text="远程研修")).to_contain_text("10")
    expect(officer.locator("#summary-collection li", has_text="邓志刚")).to_contain_text("未交")
    expect(officer.locator("#main")).to_contain_text("本组本学期开展集体备课八次")
    for duty in ("planning", "credit_review", "archiving"):
        officer.select_option(f"#{duty}", "done")
    officer.select_option("#evaluation", label="部分落实")
    officer.fill("#evaluation_note", "成果交流面还不够广，下学期增加校际交流")
    officer.fill("#newsletters", "2")
    officer.fill("#body", "本学期围绕单元作业设计开展校本研修，教师个人总结应交3份、实交2份。")
    fits(officer, tmp_path, "6-compile")
    officer.get_by_role("button", name="提交校长审签").click()
    expect(officer.get_by_role("alert").first).to_be_visible()
    officer.goto("/inbox/?tab=claimable")
    expect(officer.locator("#main")).not_to_contain_text("汇编学校总结与自查")

    principal = log_in(browser, live_server, "zj_xufeng")
    principal.goto("/inbox/?tab=claimable")
    expect(principal.locator("#inbox-rows")).to_contain_text("校长审签")
    fits(principal, tmp_path, "7-principal")
