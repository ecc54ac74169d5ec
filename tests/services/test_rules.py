"""Credit rule sets: the real files, validation naming the exact key, versions, extends, rule_set_for, periods."""

import re
from datetime import date
from pathlib import Path
from textwrap import dedent

import pytest
import sqlalchemy as sa

from webapp.models import RuleSet
from webapp.services import rules

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

MINIMAL = """\
    id: {id}
    title: 测试规则
    source: test
    jurisdiction: {jurisdiction}
    effective_from: {start}
    categories:
      school_based: {{name: 校本研修, recognised_by: school}}
      online: {{name: 网络研修}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def minimal(folder: Path, name: str = "r.yaml", *, id: str = "t-rules", jurisdiction: str = "T1",
            start: str = "2020-01-01", extra: str = "") -> Path:
    return write(folder, name, dedent(MINIMAL.format(id=id, jurisdiction=jurisdiction, start=start)) + dedent(extra))


def problems_of(*paths) -> list[str]:
    _, problems = rules.check_files(paths)
    return [str(p) for p in problems]


# -- the real rule sets ---------------------------------------------------------------------------------


def test_the_rule_sets_in_rules_are_valid(db):
    resolved, problems = rules.check_files([RULES_DIR])
    assert problems == []
    assert {r.code for r in resolved} == {"yueyang-2013", "sichuan-district-13fyp", "dali-2020", "binyang-2021",
                                         "xiangbei-2026", "xiangbei-linjiang-2026"}
    by_code = {r.code: r for r in resolved}
    assert by_code["dali-2020"].jurisdiction == "610523"
    assert by_code["binyang-2021"].effective_to == date(2025, 12, 31)
    for rule in resolved:
        assert re.search(r"〔\d{4}〕|《.+》|演示", rule.source), f"{rule.code} cites no document"
        # teachers read the source under 依据: no internal references (seed numbers, file paths, rule-set ids)
        assert not re.search(r"seed|research/|\.md|[a-z]+-\d{4}", rule.source), f"{rule.code}: {rule.source}"


def test_the_numbers_from_the_seeds(db):
    stored = {r.code: rules.Rules(r) for r in rules.load_rule_files([RULES_DIR])}
    yueyang = stored["yueyang-2013"].body["requirements"]
    assert yueyang["cycle"]["categories"]["school_based"]["max"] == 120
    assert yueyang["school_year"]["categories"]["school_based"]["min_exclusive"] == 0
    sichuan = stored["sichuan-district-13fyp"]
    assert sichuan.body["requirements"]["cycle"]["total"]["min"] == 240
    assert sichuan.body["requirements"]["cycle"]["categories"]["school_based"]["min"] == 120
    assert sichuan.conversion("centralized") == (1.0, 1.0)
    assert sichuan.body["periods"]["cycles"]["cycle"]["years"] == 4
    dali = stored["dali-2020"]
    assert dali.credits_for(30, "online") == 9 and dali.credits_for(50, "school_activity") == 10
    assert dali.body["requirements"]["semester"]["categories"] == {
        "school_activity": {"min": 18, "note": "每学期修满18学时“研修活动”（九、2）"},
        "school_outcome": {"min": 7, "note": "每学期获取7学时“研修成果”（九、2）"}}
    assert dali.may_share("online", "school_outcome") and not dali.may_share("school_activity", "school_outcome")
    binyang = stored["binyang-2021"].body
    assert binyang["requirements"]["cycle"]["total"]["min"] == 360
    assert binyang["periods"]["cycles"]["cycle"] == {"anchor": "2021-01-01", "years": 5, "name": "“十四五”培训周期"}


def test_extends_merges_parents_and_children_override(db):
    stored = {r.code: r for r in rules.load_rule_files([RULES_DIR])}
    county = rules.Rules(stored["xiangbei-linjiang-2026"])
    requirements = county.body["requirements"]
    assert requirements["cycle"]["categories"]["school_based"]["max"] == 120, "from yueyang-2013"
    assert requirements["cycle"]["total"]["min"] == 360, "from xiangbei-2026"
    assert requirements["semester"]["categories"]["school_based"]["min"] == 10, "its own"
    assert county.body["periods"]["cycles"]["cycle"]["anchor"] == "2026-01-01", "the parent's anchor overridden"
    assert set(county.categories) == {"school_based", "centralized", "online", "class_teacher"}
    assert county.body["extends"] == "xiangbei-2026" and county.body["jurisdiction"] == "XB-LJ"


def test_null_removes_an_inherited_key(db, tmp_path):
    minimal(tmp_path, "parent.yaml", extra="""\
        requirements:
          cycle: {total: {min: 100, max: 200}}
        periods:
          cycles: {cycle: {anchor: 2020-01-01, years: 5}}
    """)
    write(tmp_path, "child.yaml", """\
        id: t-child
        title: child
        source: test
        jurisdiction: T2
        effective_from: 2021-01-01
        extends: t-rules
        requirements:
          cycle: {total: {max: null}}
        categories:
          online: null
    """)
    resolved, problems = rules.check_files([tmp_path])
    assert problems == []
    child = next(r for r in resolved if r.code == "t-child")
    assert child.body["requirements"]["cycle"]["total"] == {"min": 100}
    assert set(child.body["categories"]) == {"school_based"}


def test_a_parent_already_in_the_database_can_be_extended(db, tmp_path):
    parent_folder = tmp_path / "parent"
    parent_folder.mkdir()
    rules.load_rule_files([minimal(parent_folder)])
    child = write(tmp_path, "child.yaml", """\
        id: t-child
        title: child
        source: test
        jurisdiction: T2
        effective_from: 2021-01-01
        extends: t-rules
    """)
    [stored] = rules.load_rule_files([child])
    assert set(stored.body["categories"]) == {"school_based", "online"}


# -- versions -------------------------------------------------------------------------------------------


def test_loading_is_idempotent_and_a_change_is_a_new_version(db, tmp_path):
    path = minimal(tmp_path)
    [first] = rules.load_rule_files([path])
    [again] = rules.load_rule_files([path])
    assert again.id == first.id and first.version == 1
    path.write_text(path.read_text(encoding="utf-8") + "# a comment changes nothing\n", encoding="utf-8")
    assert rules.load_rule_files([path])[0].id == first.id
    minimal(tmp_path, extra="requirements:\n  school_year: {total: {min: 10}}\n")
    with pytest.raises(rules.RuleFileError, match="version_effective_from: 't-rules' is already stored"):
        rules.load_rule_files([path])  # a change must say from when it applies
    minimal(tmp_path, extra="version_effective_from: 2021-09-01\nrequirements:\n  school_year: {total: {min: 10}}\n")
    [second] = rules.load_rule_files([path])
    assert second.version == 2 and second.id != first.id
    assert second.body["requirements"]["school_year"]["total"] == {"min": 10}
    assert first.body["requirements"] == {}, "the old version is kept as it was"
    assert (first.version_from, second.version_from) == (date(2020, 1, 1), date(2021, 9, 1))
    # back to the first content from 2022: a third version, so the latest is what is in force from then
    minimal(tmp_path, extra="version_effective_from: 2022-09-01\n")
    assert rules.load_rule_files([path])[0].version == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RuleSet)) == 3


# -- invalid files name the exact key -------------------------------------------------------------------


INVALID = [
    pytest.param("""\
        requirements:
          semester:
            categories:
              school_based: {min: abc}
     """, "requirements.semester.categories.school_based.min: expected a number, got 'abc'", id="not-a-number"),
    pytest.param("categoriez: {}\n", "categoriez: unknown key (expected one of: id, title,", id="unknown-top-key"),
    pytest.param("""\
        items:
          talk: {category: school_based, name: 讲座, hourz: 2}
     """, "items.talk.hourz: unknown key", id="unknown-item-key"),
    pytest.param("""\
        items:
          talk: {category: nope, name: 讲座}
     """, "items.talk.category: unknown category 'nope'", id="item-unknown-category"),
    pytest.param("""\
        requirements:
          cycle:
            categories: {nope: {min: 3}}
        periods:
          cycles: {cycle: {anchor: 2020-01-01, years: 5}}
     """, "requirements.cycle.categories.nope: unknown category 'nope'", id="requirement-unknown-category"),
    pytest.param("""\
        requirements:
          decade: {total: {min: 3}}
     """, "requirements.decade: unknown period (expected one of: semester, school_year, month, week, first_year)",
        id="unknown-period"),
    pytest.param("""\
        requirements:
          school_year: {total: {min: 30, max: 20}}
     """, "requirements.school_year.total.max: the maximum 20 is below the minimum 30", id="max-below-min"),
    pytest.param("""\
        periods:
          cycles: {cycle: {anchor: 2020-02-30, years: 5}}
     """, "periods.cycles.cycle.anchor: expected a date (YYYY-MM-DD), got '2020-02-30'", id="bad-anchor"),
    pytest.param("""\
        periods:
          cycles: {cycle: {anchor: 2020-01-01, years: 0}}
     """, "periods.cycles.cycle.years: expected a whole number of at least 1, got 0", id="zero-years"),
    pytest.param("""\
        periods:
          school_year_start: "09-01"
          semester_starts: ["09-01", "13-01"]
     """, "periods.semester_starts[1]: expected a month and day (MM-DD, quoted), got '13-01'", id="bad-month-day"),
    pytest.param("""\
        units:
          categories:
            online: {by_level: {galaxy: {hours: 1, credits: 1}}}
     """, "units.categories.online.by_level.galaxy: expected one of national, province, city, county, school",
        id="bad-level"),
    pytest.param("""\
        units:
          categories:
            online: {hours: 30}
     """, "units.categories.online.credits: missing required key", id="conversion-half"),
    # A conversion is "so many hours count as so many credits": hours of 0 would divide every posting by zero.
    pytest.param("""\
        units:
          default: {hours: 0, credits: 1}
     """, "units.default.hours: expected a number above 0, got 0", id="conversion-zero-hours"),
    pytest.param("""\
        units:
          categories:
            online: {hours: 0.0, credits: 1}
     """, "units.categories.online.hours: expected a number above 0, got 0.0", id="category-conversion-zero-hours"),
    pytest.param("""\
        units:
          categories:
            online: {by_level: {province: {hours: 0, credits: 2}}}
     """, "units.categories.online.by_level.province.hours: expected a number above 0, got 0",
        id="level-conversion-zero-hours"),
    pytest.param("""\
        items:
          talk: {category: online, name: 讲座, conversion: {hours: -2, credits: 1}}
     """, "items.talk.conversion.hours: expected a number above 0, got -2", id="item-conversion-negative-hours"),
    pytest.param("""\
        audiences:
          trainer: {name: 培训者, when: {roles: [wizard]}}
     """, "audiences.trainer.when.roles[0]: expected one of admin,", id="unknown-role"),
    pytest.param("""\
        audiences:
          trainer: {name: 培训者}
     """, "audiences.trainer.when: missing required key", id="audience-without-condition"),
    pytest.param("""\
        shared_evidence:
          - categories: [online, nope]
     """, "shared_evidence[0].categories[1]: unknown category 'nope'", id="shared-unknown-category"),
    pytest.param("effective_to: 2019-01-01\n", "effective_to: 2019-01-01 is before effective_from 2020-01-01",
                 id="ends-before-start"),
    pytest.param("extends: nope\n", "extends: unknown rule set 'nope'", id="unknown-parent"),
    pytest.param("title: again\n", "not valid YAML: line", id="duplicate-key"),
]


@pytest.mark.parametrize(("extra", "message"), INVALID)
def test_an_invalid_file_names_the_exact_key(db, tmp_path, extra, message):
    path = minimal(tmp_path, "bad.yaml", extra=extra)
    found = problems_of(path)
    assert any(p.startswith(f"{path}: {message}") for p in found), found


def test_the_message_of_the_issue(db, tmp_path):
    path = write(tmp_path, "dali.yaml", (RULES_DIR / "shaanxi-dali-2020.yaml").read_text(encoding="utf-8")
                 .replace("school_activity: {min: 18,", "school_activity: {min: abc,"))
    assert problems_of(path) == [
        f"{path}: requirements.semester.categories.school_activity.min: expected a number, got 'abc'"]
    with pytest.raises(rules.RuleFileError) as raised:
        rules.load_rule_files([path])
    assert "school_activity.min: expected a number, got 'abc'" in str(raised.value)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RuleSet)) == 0


def test_missing_metadata_and_wrong_types(db, tmp_path):
    path = write(tmp_path, "bad.yaml", """\
        id: Bad Id
        source: [a list]
        jurisdiction: XB
        effective_from: yesterday
        categories: {}
    """)
    found = problems_of(path)
    assert f"{path}: id: expected a rule set id (lower-case letters, digits, '.', '-', '_'), got 'Bad Id'" in found
    assert f"{path}: source: expected text, got a list" in found
    assert f"{path}: title: missing required key" in found
    assert f"{path}: effective_from: expected a date (YYYY-MM-DD), got 'yesterday'" in found


def test_category_parent_cycle(db, tmp_path):
    path = write(tmp_path, "bad.yaml", """\
        id: t-rules
        title: 测试规则
        source: test
        jurisdiction: T1
        effective_from: 2020-01-01
        categories:
          a: {name: A, parent: b}
          b: {name: B, parent: a}
          c: {name: C, parent: d}
    """)
    found = problems_of(path)
    assert f"{path}: categories.a.parent: parent cycle: a → b → a" in found
    assert f"{path}: categories.c.parent: unknown category 'd'" in found


def test_extends_cycle_and_duplicate_ids(db, tmp_path):
    minimal(tmp_path, "a.yaml", id="t-a", extra="extends: t-b\n")
    minimal(tmp_path, "b.yaml", id="t-b", extra="extends: t-a\n")
    minimal(tmp_path, "c.yaml", id="t-a")
    found = problems_of(tmp_path)
    assert f"{tmp_path / 'c.yaml'}: id: 't-a' is also the id of {tmp_path / 'a.yaml'}" in found
    assert f"{tmp_path / 'b.yaml'}: extends: extends cycle: t-a → t-b → t-a" in found
    assert f"{tmp_path / 'a.yaml'}: extends: the parent 't-b' is invalid" in found


def test_child_errors_found_after_the_merge_name_the_child(db, tmp_path):
    minimal(tmp_path, "parent.yaml")
    child = write(tmp_path, "child.yaml", """\
        id: t-child
        title: child
        source: test
        jurisdiction: T2
        effective_from: 2021-01-01
        extends: t-rules
        items:
          talk: {category: lecture, name: 讲座}
    """)
    assert problems_of(tmp_path) == [f"{child}: items.talk.category: unknown category 'lecture'"]


def test_no_such_path(db, tmp_path):
    with pytest.raises(rules.RuleFileError, match="no such file or folder"):
        rules.check_files([tmp_path / "missing.yaml"])


# -- which rule set is in force -------------------------------------------------------------------------


def test_rule_set_for_picks_the_nearest_jurisdiction_and_the_version_in_force(db, make_org):
    city = make_org("city", code="XB", name="湘北市")
    county = make_org("county", city, code="XB-LJ", name="临江县")
    school = make_org("school", county, code="XB-LJ-S1", name="临江一中")
    other_county = make_org("county", city, code="XB-BH", name="北湖区")
    other_school = make_org("school", other_county, code="XB-BH-S1", name="北湖一中")
    rules.load_rule_files([RULES_DIR])

    assert rules.rule_set_for(school, date(2026, 10, 1)).code == "xiangbei-linjiang-2026"
    assert rules.rule_set_for(school, date(2026, 8, 31)).code == "xiangbei-2026", "the county's starts 09-01"
    assert rules.rule_set_for(other_school, date(2026, 10, 1)).code == "xiangbei-2026"
    assert rules.rule_set_for(school, date(2025, 12, 31)) is None, "nothing in force before 2026 here"
    assert rules.rule_set_for(None) is None


def test_the_rule_set_that_took_effect_last_wins_and_only_latest_versions_count(db, make_org, tmp_path):
    city = make_org("city", code="T1", name="T市")
    school = make_org("school", city, code="T1-S1", name="T校")
    minimal(tmp_path, "old.yaml", id="t-old", start="2015-01-01")
    minimal(tmp_path, "new.yaml", id="t-new", start="2021-01-01")
    rules.load_rule_files([tmp_path])
    assert rules.rule_set_for(school, date(2020, 6, 1)).code == "t-old"
    assert rules.rule_set_for(school, date(2022, 6, 1)).code == "t-new"
    # A new version of t-new that ends in 2021: 2022 falls back to t-old.
    minimal(tmp_path, "new.yaml", id="t-new", start="2021-01-01",
            extra="effective_to: 2021-12-31\nversion_effective_from: 2021-01-01\n")
    rules.load_rule_files([tmp_path / "new.yaml"])
    found = rules.rule_set_for(school, date(2022, 6, 1))
    assert found.code == "t-old"
    assert rules.rule_set_for(school, date(2021, 6, 1)).version == 2


# -- periods ----------------------------------------------------------------------------------------------


def test_school_years_and_semesters():
    year = rules.school_year_of(date(2027, 3, 15))
    assert (year.key, year.start, year.end) == ("2026-2027", date(2026, 9, 1), date(2027, 8, 31))
    assert rules.school_year_of(date(2026, 9, 1)).key == "2026-2027"
    assert rules.school_year_of(date(2026, 8, 31)).key == "2025-2026"
    first = rules.semester_of(date(2026, 12, 1))
    assert (first.key, first.start, first.end) == ("2026-2027-1", date(2026, 9, 1), date(2027, 1, 31))
    second = rules.semester_of(date(2027, 2, 1))
    assert (second.key, second.start, second.end) == ("2026-2027-2", date(2027, 2, 1), date(2027, 8, 31))
    assert second.name == "2026–2027学年第二学期"


def test_cycles_run_back_and_forth_from_the_anchor():
    anchor = date(2026, 1, 1)
    cycle = rules.cycle_of(date(2028, 7, 1), anchor, 5)
    assert (cycle.key, cycle.start, cycle.end) == ("2026-2030", date(2026, 1, 1), date(2030, 12, 31))
    assert rules.cycle_of(date(2025, 12, 31), anchor, 5).key == "2021-2025"
    assert rules.cycle_of(date(2031, 1, 1), anchor, 5).key == "2031-2035"
    assert rules.cycle_of(date(2017, 1, 1), date(2017, 1, 1), 4).key == "2017-2020"
    september = rules.cycle_of(date(2027, 8, 31), date(2026, 9, 1), 2)
    assert (september.start, september.end) == (date(2026, 9, 1), date(2028, 8, 31))
