"""Rubrics: loading the default 校本研修 rubric, validation messages naming the indicator, immutable versions, and
the arithmetic of scores, panels, disagreements and grades, with worked numbers derived by hand.

The default rubric's points are configuration (the seeds give none); the worked examples use its defaults:
100 points in total, 优秀 ≥ 90, 良好 ≥ 75, 合格 ≥ 60, 不合格 below, trimmed mean from 5 experts, reconciliation
when an indicator's spread is above 3 points.
"""

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from flask_babel import force_locale

from tests.workflow_support import hours_review_files
from webapp.models import Role, RubricVersion, RubricVersionIsImmutable
from webapp.services import definitions, instances, rubrics

DEFAULT = Path(__file__).resolve().parents[2] / "rubrics" / "school-based-training.yaml"


@pytest.fixture(autouse=True)
def english(db):
    with force_locale("en"):
        yield


@pytest.fixture
def document():
    return yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))


@pytest.fixture
def version(db, document):
    stored, created = rubrics.new_version("school-based-training", document, None)
    assert created
    return stored


def full_marks(version, **changes):
    """One expert's sheet: every indicator at its maximum, except ``changes``."""
    return {**{i["code"]: i["max_points"] for i in version.indicators()}, **changes}


def indicator(document, code):
    return next(i for d in document["dimensions"] for i in d["indicators"] if i["code"] == code)


# -- loading ---------------------------------------------------------------------------------------------------


def test_the_default_rubric_loads_with_its_seed_sources(version):
    assert version.version == 1
    assert version.rubric.code == "school-based-training"
    assert version.total_points == 100
    assert [b["grade"] for b in version.bands] == ["优秀", "良好", "合格", "不合格"]
    assert [b.get("min") for b in version.bands] == [90, 75, 60, None]
    assert (version.aggregation, version.trim_from_experts, version.disagreement_threshold) == ("trimmed_mean", 5, 3)
    assert version.veto_grade == "不合格"
    assert "没有给出任何分值" in version.note
    codes = [i["code"] for i in version.indicators()]
    assert len(codes) == len(set(codes)) == 22
    assert all(i["source"] and all("《" in s and "“" in s for s in i["source"]) for i in version.indicators())
    vetoes = {i["code"]: i["pass_mark"] for i in version.indicators() if i["veto"]}
    assert vetoes == {"responsible": 3, "funding": 4}
    five_systems = next(d for d in version.tree if d["code"] == "systems")["indicators"]
    assert [i["name"] for i in five_systems] == ["校本教研制度", "校本科研制度", "理论学习制度", "管理制度", "激励制度"]


def test_load_text_keeps_the_yaml(db):
    text = DEFAULT.read_text(encoding="utf-8")
    stored, created = rubrics.load_text(text, None)
    assert created and stored.source_yaml == text


# -- validation ------------------------------------------------------------------------------------------------


def problems_of(document):
    with pytest.raises(rubrics.RubricInvalid) as caught:
        rubrics.new_version("school-based-training", document, None)
    return caught.value.problems


def test_max_points_must_be_above_zero(document):
    indicator(document, "plan")["max_points"] = 0
    assert problems_of(document) == [
        "indicator 1.1 校本研修规划制定与方案审定 (plan): max_points must be a number above 0."]


def test_every_indicator_cites_its_source(document):
    del indicator(document, "ethics")["source"]
    assert problems_of(document) == [
        "indicator 4.3 师德培训为首要内容 (ethics): source is missing; cite the clause it comes from (《…》第…条 “…”)."]


def test_codes_are_unique(document):
    indicator(document, "briefs")["code"] = "plan"
    assert problems_of(document) == [
        "indicator 4.6 研修简报 (plan): the code plan is used twice "
        "(also indicator 1.1 校本研修规划制定与方案审定 (plan))."]


def test_a_veto_pass_mark_is_within_the_maximum(document):
    indicator(document, "responsible")["pass_mark"] = 7
    assert problems_of(document) == [
        "indicator 2.1 负责部门与责任人 (responsible): pass_mark must be above 0 and at most max_points (6)."]
    del indicator(document, "responsible")["pass_mark"]
    assert problems_of(document) == [
        "indicator 2.1 负责部门与责任人 (responsible): a veto indicator needs a pass_mark."]


def test_bands_descend_and_stay_within_the_total(document):
    document["grades"] = [{"grade": "优秀", "min": 120}, {"grade": "良好", "min": 75}, {"grade": "合格", "min": 80},
                          {"grade": "不合格", "min": 10}]
    assert problems_of(document) == [
        "grades: 优秀 starts at 120, above the rubric's total of 100 points.",
        "grades: the bands must descend; 合格 starts at 80, not below the band above it (75).",
        "grades: the last band (不合格) takes everything below the one above it; remove its min.",
    ]


def test_evidence_and_aggregation_are_checked(document):
    indicator(document, "archive")["evidence_required"] = "yes"
    document["aggregation"] = {"method": "median"}
    document["veto_grade"] = "差"
    assert problems_of(document) == [
        "indicator 6.1 校本研修资料立卷建档 (archive): evidence_required must be true or false.",
        "veto_grade: 差 is not one of the grades.",
        "aggregation: method must be mean or trimmed_mean.",
    ]


def test_yaml_errors_name_the_line():
    with pytest.raises(rubrics.RubricInvalid) as caught:
        rubrics.parse("code: x\ntitle: [unclosed\n")
    assert caught.value.problems[0].startswith("Not valid YAML (line ")


# -- versions --------------------------------------------------------------------------------------------------


def test_identical_content_is_a_no_op_and_a_change_a_new_version(db, version, document):
    again, created = rubrics.new_version("school-based-training", document, None)
    assert (again.id, created) == (version.id, False)
    indicator(document, "plan")["max_points"] = 8
    indicator(document, "schedule")["max_points"] = 2
    second, created = rubrics.new_version("school-based-training", document, None)
    assert created and second.version == 2 and second.total_points == 100
    db.session.expire_all()
    first = db.session.get(RubricVersion, version.id)
    assert next(i for i in first.indicators() if i["code"] == "plan")["max_points"] == 6
    assert rubrics.latest("school-based-training").id == second.id


def test_in_force_is_the_newest_version_already_effective(db, version, document):
    document["effective_from"] = "2027-09-01"
    document["disagreement_threshold"] = 2
    later, _ = rubrics.new_version("school-based-training", document, None)
    assert rubrics.in_force("school-based-training", date(2027, 3, 1)).id == version.id
    assert rubrics.in_force("school-based-training", date(2027, 9, 1)).id == later.id
    assert rubrics.in_force("school-based-training", date(2020, 1, 1)) is None


def test_a_version_cannot_be_edited_by_the_orm_or_in_the_database(db, version):
    db.session.commit()
    version.disagreement_threshold = 10
    with pytest.raises(RubricVersionIsImmutable), db.session.begin_nested():
        db.session.flush()
    db.session.rollback()
    with pytest.raises(sa.exc.DatabaseError), db.session.begin_nested():
        db.session.execute(sa.text("UPDATE rubric_version SET disagreement_threshold = 10 WHERE id = :id"),
                           {"id": version.id})
    with pytest.raises(sa.exc.DatabaseError), db.session.begin_nested():
        db.session.execute(sa.text("DELETE FROM rubric_version WHERE id = :id"), {"id": version.id})


def test_processes_record_which_version_they_use(db, version, region, make_user):
    teacher = make_user("teacher1", org=region["school"], roles=((Role.TEACHER, region["school"]),))
    definitions.deploy(hours_review_files(), None)
    instance = instances.start("hours_review", subject_org=region["maths"], initiator=teacher, title="评估")
    assert rubrics.in_use(version) == 0
    rubrics.record_use(version, "school_evaluation", instance.id)
    rubrics.record_use(version, "school_evaluation", instance.id)
    assert rubrics.in_use(version) == 1


# -- scoring one sheet -----------------------------------------------------------------------------------------


def test_scores_outside_zero_to_max_are_refused_with_clear_messages(version):
    """《岳阳市中小学幼儿园校本研修培训工作指导意见》第23条 “做好校本培训规划的制定和校本培训方案的审定工作”:
    the indicator ``plan`` has 6 points by default, so 7 and −1 are refused; ``funding`` (第29条 “为校本培训提供
    足额的经费保障”, 8 points) is not a number; the other 16 of the 22 indicators are missing."""
    result = rubrics.score(version, {"plan": 7, "schedule": -1, "funding": "很好", "cadence": 5, "nonsense": 1,
                                     "ethics": 4, "backbone": 3.5})
    assert result.problems == [
        "校本研修规划制定与方案审定 (plan): 7 points is outside 0 to 6.",
        "校本研修实施计划与参训安排 (schedule): -1 points is outside 0 to 4.",
        "经费保障与专款专用 (funding): 很好 is not a number of points.",
        "nonsense is not an indicator of this rubric.",
    ]
    assert len(result.missing) == 16 and "responsible" in result.missing and "plan" not in result.missing
    assert result.points == {"cadence": 5, "ethics": 4, "backbone": 3.5}
    assert result.total == 12.5
    assert not result.complete


def test_a_complete_sheet_names_failed_vetoes(version):
    """第31条 “学校要落实校本研修培训的具体负责部门和责任人,建立教师培训专人负责制度”: ``responsible`` (6 points,
    pass mark 3) scored 2.5 fails; the total is 100 − 3.5 = 96.5."""
    result = rubrics.score(version, full_marks(version, responsible=2.5))
    assert result.complete and result.total == 96.5 and result.veto_failed == ["responsible"]


# -- panels ----------------------------------------------------------------------------------------------------


def test_three_experts_mean(version):
    """Fewer than 5 experts: the plain mean per indicator.

    ``plan`` (第23条 “做好校本培训规划的制定和校本培训方案的审定工作”, max 6): 6, 5, 4 → 15 / 3 = 5.
    ``funding`` (第29条 “为校本培训提供足额的经费保障”, max 8): 8, 7, 7 → 22 / 3 = 7.333… → 7.33.
    Every other indicator at full marks: total = 100 − (6 − 5) − (8 − 7.33) = 98.33 → 优秀.
    """
    panel = [full_marks(version), full_marks(version, plan=5, funding=7), full_marks(version, plan=4, funding=7)]
    result = rubrics.aggregate(version, panel)
    assert (result.points["plan"], result.points["funding"]) == (5, 7.33)
    assert result.total == 98.33
    assert (result.grade, result.method, result.experts, result.veto_failed) == ("优秀", "mean", 3, [])


def test_five_experts_trimmed_mean_per_indicator(version):
    """5 experts: per indicator, the highest and the lowest score are dropped (not the highest and lowest total).

    ``credit_review`` (第23条 “做好培训学分审核与认定工作”, max 8): 8, 7, 6, 2, 8 → drop 2 and one 8 → (6 + 7 + 8) / 3
    = 7 (the plain mean would be 31 / 5 = 6.2).
    ``cadence`` (第20条 “加强教研组、备课组建设”, max 7): 7, 7, 7, 7, 0 → drop 0 and one 7 → 7.
    Total = 100 − (8 − 7) = 99 → 优秀. Trimming on totals instead would drop the sheets of 100 and 93 points and
    give (99 + 98 + 94) / 3 = 97: trimming is per indicator.
    """
    panel = [full_marks(version), full_marks(version, credit_review=7), full_marks(version, credit_review=6),
             full_marks(version, credit_review=2), full_marks(version, cadence=0)]
    result = rubrics.aggregate(version, panel)
    assert (result.points["credit_review"], result.points["cadence"]) == (7, 7)
    assert result.total == 99
    assert (result.grade, result.method, result.experts) == ("优秀", "trimmed_mean", 5)


def test_a_failed_veto_caps_the_grade(version):
    """第29条 “为校本培训提供足额的经费保障” and the district plan's “任何单位、个人不得侵占和挪用教师培训经费”:
    ``funding`` (max 8, veto, pass mark 4) scored 3, 3, 4 → 10 / 3 = 3.33 < 4: failed. The total, 100 − 4.67 =
    95.33, would be 优秀; the veto caps it at 不合格."""
    panel = [full_marks(version, funding=3), full_marks(version, funding=3), full_marks(version, funding=4)]
    result = rubrics.aggregate(version, panel)
    assert result.points["funding"] == 3.33 and result.total == 95.33
    assert (result.veto_failed, result.grade) == (["funding"], "不合格")


def test_band_edges(version):
    """Exactly 90 is 优秀, 89.9 is 良好 (bands are “at least”).

    Via a panel of one sheet: ``cadence`` (第14条 “…小学的校本研修培训要以年级组活动为依托重点…”, max 7) scored 0
    and ``ethics`` (第18条 “把德育培训作为校本培训的首要内容”, max 4) scored 1 → 100 − 7 − 3 = 90 → 优秀; then
    ``briefs`` (大荔 “工作坊、学校完成不少于2期的研修简报(美篇)”, max 3) scored 2.9 → 89.9 → 良好.
    """
    at_90 = rubrics.aggregate(version, [full_marks(version, cadence=0, ethics=1)])
    assert (at_90.total, at_90.grade) == (90, "优秀")
    below = rubrics.aggregate(version, [full_marks(version, cadence=0, ethics=1, briefs=2.9)])
    assert (below.total, below.grade) == (89.9, "良好")
    assert [rubrics.grade(version, total, False) for total in (100, 90, 89.99, 75, 74.99, 60, 59.99, 0)] == [
        "优秀", "优秀", "良好", "良好", "合格", "合格", "不合格", "不合格"]
    assert rubrics.grade(version, 59, True) == "不合格"


def test_a_veto_caps_at_the_configured_grade(db, document):
    """With ``veto_grade: 合格`` a failed veto lowers 优秀 and 良好 to 合格 but never raises 不合格."""
    document["veto_grade"] = "合格"
    version, _ = rubrics.new_version("school-based-training", document, None)
    assert [rubrics.grade(version, total, True) for total in (95, 80, 65, 40)] == ["合格", "合格", "合格", "不合格"]


def test_a_spread_above_the_threshold_is_found(version):
    """Threshold 3 points. ``funding`` (第29条 “为校本培训提供足额的经费保障”): 8, 4, 7 → spread 4 > 3: found.
    ``plan`` (第23条 “做好校本培训规划的制定和校本培训方案的审定工作”): 6, 3, 5 → spread 3, not above: not found."""
    panel = [full_marks(version), full_marks(version, funding=4, plan=3), full_marks(version, funding=7, plan=5)]
    found = rubrics.disagreements(version, panel)
    assert [(d.indicator, d.name, d.low, d.high, d.spread) for d in found] == [
        ("funding", "经费保障与专款专用", 4, 8, 4)]


def test_a_panel_with_bad_sheets_is_refused_naming_the_expert(version):
    sheet = full_marks(version, plan=9)
    del sheet["archive"]
    with pytest.raises(rubrics.ScoresRejected) as caught:
        rubrics.aggregate(version, [full_marks(version), sheet])
    assert caught.value.problems == [
        "Expert 2: 校本研修规划制定与方案审定 (plan): 9 points is outside 0 to 6.",
        "Expert 2: 校本研修资料立卷建档 (archive) has no score.",
    ]
    with pytest.raises(rubrics.ScoresRejected):
        rubrics.aggregate(version, [])


def test_the_aggregation_may_be_the_plain_mean(db, document):
    """``aggregation: mean``: 5 experts are averaged without trimming. ``credit_review`` 8, 7, 6, 2, 8 → 6.2."""
    document["aggregation"] = {"method": "mean"}
    version, _ = rubrics.new_version("school-based-training", document, None)
    panel = [full_marks(version, credit_review=p) for p in (8, 7, 6, 2, 8)]
    result = rubrics.aggregate(version, panel)
    assert (result.points["credit_review"], result.total, result.method) == (6.2, 98.2, "mean")
