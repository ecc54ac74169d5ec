"""Rubric pages: administrators and county and bureau officers read rubrics and versions; only administrators make
a new version, from a YAML file or the text area, and see validation messages naming the indicator."""

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, Role, RubricVersion
from webapp.services import rubrics

DEFAULT = Path(__file__).resolve().parents[2] / "rubrics" / "school-based-training.yaml"


@pytest.fixture
def loaded(db, region, make_user):
    version, _ = rubrics.load_text(DEFAULT.read_text(encoding="utf-8"), None)
    make_user("zheng", display_name="郑主任", locale="en", roles=((Role.COUNTY_OFFICER, region["county"]),))
    make_user("jia", display_name="甲老师", locale="en", roles=((Role.TEACHER, region["school"]),))
    make_user("boss", display_name="管理员", locale="en", roles=((Role.ADMIN, region["city"]),))
    db.session.commit()
    return version


def test_a_county_officer_reads_the_tree_but_may_not_create(client, loaded):
    client.login("zheng")
    listing = client.get("/admin/rubrics").get_data(as_text=True)
    assert "学校校本研修工作评估量表" in listing and "Version 1" in listing and "New rubric" not in listing
    assert 'href="/admin/rubrics"' in client.get("/").get_data(as_text=True)
    page = client.get("/admin/rubrics/school-based-training/1").get_data(as_text=True)
    assert "1.1 校本研修规划制定与方案审定" in page and "6 points" in page
    assert "2.1 负责部门与责任人" in page and "pass mark 3 points" in page and "Veto" in page
    assert "校本研修规划、学年实施方案及审定会议记录" in page and "required" in page
    assert "第23条：“做好校本培训规划的制定和校本培训方案的审定工作”" in page
    assert "优秀 ≥ 90 · 良好 ≥ 75 · 合格 ≥ 60 · 不合格 below" in page
    assert "from 5 experts on, each indicator's highest and lowest score are dropped" in page
    assert "differ by more than 3 points" in page and "没有给出任何分值" in page
    assert "New version" not in page and "Administration sections" not in page
    assert client.get("/admin/rubrics/new").status_code == 403
    assert client.post_form("/admin/rubrics/new", {"text": "code: x"}).status_code == 403
    assert client.get("/admin/rubrics/school-based-training/9").status_code == 404


def test_a_teacher_sees_no_rubric(client, loaded):
    client.login("jia")
    assert client.get("/admin/rubrics").status_code == 403
    assert client.get("/admin/rubrics/school-based-training/1").status_code == 403


def test_an_admin_edits_in_the_text_area_sees_problems_then_saves_a_new_version(client, loaded, db):
    client.login("boss")
    form = client.get(f"/admin/rubrics/new?from={loaded.id}").get_data(as_text=True)
    assert "code: school-based-training" in form
    text = loaded.source_yaml
    broken = text.replace("pass_mark: 3", "pass_mark: 9")
    page = client.post_form("/admin/rubrics/new", {"text": broken}).get_data(as_text=True)
    assert "Nothing was saved" in page
    assert "indicator 2.1 负责部门与责任人 (responsible): pass_mark must be above 0 and at most max_points (6)." in page
    same = client.post_form("/admin/rubrics/new", {"text": text}, follow_redirects=True).get_data(as_text=True)
    assert "Nothing changed: this is the content of version 1." in same
    changed = text.replace("disagreement_threshold: 3 ", "disagreement_threshold: 4 ")
    saved = client.post_form("/admin/rubrics/new", {"text": changed}, follow_redirects=True)
    assert "Version 2 of 学校校本研修工作评估量表 is saved." in saved.get_data(as_text=True)
    assert "differ by more than 4 points" in saved.get_data(as_text=True)
    versions = db.session.scalars(sa.select(RubricVersion).order_by(RubricVersion.version)).all()
    assert [(v.version, v.disagreement_threshold, v.created_by.login if v.created_by else None)
            for v in versions] == [(1, 3, None), (2, 4, "boss")]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "rubric.version_created"))
    assert event.after["version"] == 2
    old = client.get("/admin/rubrics/school-based-training/1").get_data(as_text=True)
    assert "A newer version exists" in old and "differ by more than 3 points" in old


def test_an_admin_uploads_a_yaml_file_for_a_new_rubric(client, loaded, db):
    client.login("boss")
    text = DEFAULT.read_text(encoding="utf-8").replace("code: school-based-training", "code: demo-school")
    response = client.post_form("/admin/rubrics/new", {
        "file": (io.BytesIO(text.encode()), "demo.yaml")}, content_type="multipart/form-data",
        follow_redirects=True)
    assert response.status_code == 200
    assert "Version 1 of 学校校本研修工作评估量表 is saved." in response.get_data(as_text=True)
    assert rubrics.latest("demo-school").version == 1
    empty = client.post_form("/admin/rubrics/new", {"text": ""}).get_data(as_text=True)
    assert "Upload a YAML file or enter the rubric&#39;s YAML." in empty
