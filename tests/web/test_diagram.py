"""The process diagram on the instance page (and the partial the task page includes): where the XML comes
from, which steps are current and done, the fallback without JavaScript, and the bpmn-js files."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import render_template

from tests.workflow_support import hours_review_files
from webapp.models import HumanTask, Role, TaskStatus

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "webapp" / "static" / "vendor" / "bpmn-js"
VENDOR_FILES = ("bpmn-navigated-viewer.production.min.js", "diagram-js.css", "bpmn-js.css")


@pytest.fixture
def flow(db, region, make_user):
    from webapp.services import definitions, instances

    teacher = make_user("teacher1", display_name="王老师", locale="en", org=region["school"],
                        roles=((Role.TEACHER, region["school"]),))
    teacher.locale = "en"
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=teacher, title="王老师的学时申请")
    db.session.commit()
    return instance


def open_task(db, instance):
    return db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                        HumanTask.status == TaskStatus.OPEN))


def diagram_attributes(page: str) -> dict[str, str]:
    match = re.search(r'<div class="yx-diagram"([^>]*)>', page)
    assert match, "no diagram container"
    found = re.findall(r"""(data-[a-z-]+)=(?:"([^"]*)"|'([^']*)')""", match.group(1))
    return {name: html.unescape(double or single) for name, double, single in found}


def test_instance_page_shows_the_diagram_with_the_current_step(client, db, flow):
    client.login("teacher1")
    page = client.get(f"/inbox/instances/{flow.id}").get_data(as_text=True)
    data = diagram_attributes(page)
    assert data["data-diagram-xml"] == "/api/v1/definitions/hours_review/xml?version=1"
    assert json.loads(data["data-diagram-open"]) == ["submit"]
    assert json.loads(data["data-diagram-done"]) == []
    assert "Process diagram" in page and "Current step: 提交申请." in page
    assert '/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" defer' in page
    assert '/static/js/diagram.js" defer' in page
    assert "/static/vendor/bpmn-js/diagram-js.css" in page and "/static/vendor/bpmn-js/bpmn-js.css" in page
    noscript = re.search(r"<noscript>(.*?)</noscript>", page, re.S).group(1)
    assert "The diagram needs JavaScript." in noscript
    assert 'href="/api/v1/definitions/hours_review/xml?version=1" download="hours_review-v1.bpmn"' in noscript
    assert "<script>" not in page.split('id="process-diagram"')[1].split("</section>")[0], "no inline script"
    xml = client.get(data["data-diagram-xml"])
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert b'<bpmn:userTask id="submit"' in xml.data


def test_completed_steps_are_marked_done(client, db, flow):
    from webapp.services import instances, tasks

    instances.complete_task(open_task(db, flow), flow.initiator, {"title": "信息技术培训", "hours": 12},
                            tasks.authorise_complete)
    db.session.commit()
    client.login("teacher1")
    data = diagram_attributes(client.get(f"/inbox/instances/{flow.id}").get_data(as_text=True))
    assert json.loads(data["data-diagram-open"]) == ["review"]
    assert json.loads(data["data-diagram-done"]) == ["submit"]


def test_the_partial_colours_what_the_timeline_says(app, db, flow):
    """The partial reads the open and done steps from the record's timeline (the task page includes it too)."""
    from webapp.services import timeline

    with app.test_request_context("/"):
        page = render_template("inbox/_diagram.html", instance=flow, timeline=timeline.build(flow))
    data = diagram_attributes(page)
    assert json.loads(data["data-diagram-open"]) == ["submit"]
    assert json.loads(data["data-diagram-done"]) == []


def test_ids_are_escaped_in_the_data_attributes(app, db, flow):
    from webapp.services import timeline

    shown = timeline.build(flow)
    shown.open_steps = ["x'><script>alert(1)</script>"]
    with app.test_request_context("/"):
        page = render_template("inbox/_diagram.html", instance=flow, timeline=shown)
    assert "<script>alert" not in page
    assert json.loads(diagram_attributes(page)["data-diagram-open"]) == ["x'><script>alert(1)</script>"]


def test_bpmn_js_is_pinned_and_copied_by_make_assets():
    package = json.loads((ROOT / "package.json").read_text())
    version = package["dependencies"]["bpmn-js"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "pin an exact version"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/bpmn-js"]["version"] == version
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("webapp/static/vendor/.copied:")[1].split("\nassets:")[0]
    assert "package-lock.json" in target.splitlines()[0], "the copy re-runs when the lock file changes"
    for name in VENDOR_FILES:
        assert name in target
    make = shutil.which("make")
    assert make, "make is needed to build the assets"
    subprocess.run([make, "-s", "assets"], cwd=ROOT, check=True, capture_output=True, timeout=300)
    for name in VENDOR_FILES:
        assert (VENDOR / name).stat().st_size > 1000, name
    assert "BpmnJS" in (VENDOR / VENDOR_FILES[0]).read_text(errors="replace")[:200_000]
