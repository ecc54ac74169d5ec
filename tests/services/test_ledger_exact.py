"""Worked examples, derived by hand from the seed documents (../shared/seeds/000…004), for the corrections of
the credit records: re-counting capped entries after a reversal, the new-teacher year anchored on the hire
date, history from before a rule set, rule-set versions with their own dates, shared outcomes, per-category
time windows, and the extensions of the rule format (weeks, months, flagged maxima, teacher attributes).

Each test quotes the seed sentence it checks."""

from datetime import date, timedelta
from pathlib import Path
from textwrap import dedent

import pytest
import sqlalchemy as sa

from webapp.models import CreditEntry, EntrySource, Role
from webapp.models.base import utcnow
from webapp.services import ledger, rules
from webapp.services.errors import Conflict, ServiceError

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(autouse=True)
def english(db):
    from flask_babel import force_locale

    with force_locale("en"):
        yield


@pytest.fixture
def regions(db, make_org):
    rules.load_rule_files([RULES_DIR])
    yueyang = make_org("city", code="430600", name="岳阳市")
    sichuan = make_org("county", code="SC-DISTRICT", name="四川某区")
    dali = make_org("county", code="610523", name="大荔县")
    binyang = make_org("county", code="450126", name="宾阳县")
    return {
        "yueyang": make_org("school", yueyang, code="YY-S1", name="岳阳市第一中学"),
        "sichuan": make_org("school", sichuan, code="SC-S1", name="某区实验小学"),
        "sichuan_centre": make_org("institute", sichuan, code="SC-YPZX", name="区教师培训中心"),
        "dali": make_org("school", dali, code="DL-S1", name="大荔县城关中学"),
        "binyang": make_org("school", binyang, code="BY-S1", name="宾阳中学"),
    }


@pytest.fixture
def teacher_at(make_user):
    def _teacher_at(school, **profile):
        profile.setdefault("hire_date", date(2005, 9, 1))
        return make_user(org=school, roles=((Role.TEACHER, school),), **profile)
    return _teacher_at


def line(standing, kind, category=None):
    period = standing.period(kind)
    assert period is not None, f"no {kind} in {[p.period.kind for p in standing.periods]}"
    if category is None:
        return period.total
    return next(line for line in period.categories if line.category == category)


def live(teacher) -> list[CreditEntry]:
    entries = ledger.entries_of(teacher)
    gone = ledger.reversed_ids(entries)
    return [e for e in entries if not e.is_reversal and e.id not in gone]


# -- a correction never loses real credits (Yueyang [000] 第25条) -------------------------------------------


def test_yueyang_a_reversal_re_counts_the_entry_the_cap_had_cut(regions, teacher_at):
    """[000] 第25条: "校本培训学分五年不超过120分". 1 学时 = 1 学分 (rules/hunan-yueyang-2013.yaml notes).

    In the cycle 2021–2025: 100 credits posted by mistake, then a real 50, of which 120 − 100 = 20 count.
    The 100 are reversed: nothing else is posted in the cycle, so all 50 real credits count (50 ≤ 120).
    Before the fix the reversal freed the room but the 50 stayed cut to 20."""
    teacher = teacher_at(regions["yueyang"])
    mistake = ledger.post_entry(teacher, category="school_based", hours=100, earned_on=date(2022, 3, 1))
    real = ledger.post_entry(teacher, item="lesson_study", hours=50, earned_on=date(2022, 5, 10))
    assert (real.counted_credits, real.not_counted_reason is not None) == (20, True)
    before_reversal = utcnow()

    ledger.reverse_entry(mistake, None, "录入错误：并无此项培训")

    cycle = line(ledger.progress(teacher, date(2022, 6, 30)), "cycle", "school_based")
    assert (cycle.counted, cycle.maximum) == (50, 120)
    [replacement] = live(teacher)
    assert (replacement.replaces_id, replacement.hours, replacement.counted_credits) == (real.id, 50, 50)
    assert replacement.not_counted_reason is None and replacement.item_code == "lesson_study"
    assert (replacement.source, replacement.earned_on) == (real.source, real.earned_on)
    # append-only: the capped entry is still there, reversed, and what the ledger said before is reproducible
    assert ledger.reversed_ids([real]) == {real.id}
    then = line(ledger.progress(teacher, date(2022, 6, 30), known_at=before_reversal), "cycle", "school_based")
    assert then.counted == 120, "100 (mistake) + 20 (cut): what the ledger said before the correction"


def test_yueyang_freed_room_goes_to_the_cut_entries_oldest_first(regions, teacher_at):
    """[000] 第25条 "五年不超过120分": 100, then 50 (20 count), then 30 (0 count); reversing the 100 leaves
    50 + 30 = 80 ≤ 120, so both count in full; reversing the 50 afterwards frees nothing anyone is owed."""
    teacher = teacher_at(regions["yueyang"])
    mistake = ledger.post_entry(teacher, category="school_based", hours=100, earned_on=date(2023, 3, 1))
    first = ledger.post_entry(teacher, category="school_based", hours=50, earned_on=date(2023, 4, 1))
    second = ledger.post_entry(teacher, category="school_based", hours=30, earned_on=date(2023, 5, 1))
    assert (first.counted_credits, second.counted_credits) == (20, 0)
    ledger.reverse_entry(mistake, None, "重复录入")
    assert sorted((e.replaces_id, e.counted_credits) for e in live(teacher)) == [(first.id, 50), (second.id, 30)]
    assert line(ledger.progress(teacher, date(2023, 6, 30)), "cycle", "school_based").counted == 80


def test_yueyang_a_partial_freeing_fills_the_oldest_cut_entry_first(regions, teacher_at):
    """[000] 第25条 "五年不超过120分": 100 + 15 (mistake) fill 115; then 40 (5 count) and 20 (0 count).
    Reversing the 15 frees 15: the 40 now counts 20 (120 − 100), the 20 still nothing; the cycle stays at 120."""
    teacher = teacher_at(regions["yueyang"])
    ledger.post_entry(teacher, category="school_based", hours=100, earned_on=date(2024, 3, 1))
    mistake = ledger.post_entry(teacher, category="school_based", hours=15, earned_on=date(2024, 3, 2))
    forty = ledger.post_entry(teacher, category="school_based", hours=40, earned_on=date(2024, 4, 1))
    twenty = ledger.post_entry(teacher, category="school_based", hours=20, earned_on=date(2024, 5, 1))
    assert (forty.counted_credits, twenty.counted_credits) == (5, 0)
    ledger.reverse_entry(mistake, None, "重复录入")
    counted = {e.replaces_id or e.id: e.counted_credits for e in live(teacher)}
    assert counted[forty.id] == 20 and counted[twenty.id] == 0
    assert line(ledger.progress(teacher, date(2024, 6, 30)), "cycle", "school_based").counted == 120


# -- the new-teacher year runs from the hire date (Sichuan [001] 三(一)) ------------------------------------


def test_sichuan_new_teacher_hired_in_february_is_judged_on_a_year_from_the_hire_date(regions, teacher_at):
    """[001] 三(一): "新录用教师上岗前和上岗一年内必须进行适应性培训,培训时间不少于100学时,其中校本研训50学时".

    Hired 2019-02-15: the window runs from before the post (pre-service, 12 months by the rule set's notes)
    to 2020-02-14. Pre-service 30 h school-based on 2018-08-20, 40 h centralised on 2019-10-10, 30 h
    school-based on 2020-01-10: 100 h of which 60 school-based, so both minimums are met on 2020-02-10.
    The old school-year window (2018–2019) lost the August pre-service hours and dropped the teacher from
    the requirement on 2019-09-01."""
    teacher = teacher_at(regions["sichuan"], hire_date=date(2019, 2, 15))
    ledger.post_entry(teacher, item="school_training", hours=30, earned_on=date(2018, 8, 20))
    ledger.post_entry(teacher, item="institution_training", hours=40, earned_on=date(2019, 10, 10))

    autumn = ledger.progress(teacher, date(2019, 11, 1))
    assert ("new_teacher", "新任教师") in autumn.audiences, "still within a year of taking up the post"
    first = autumn.period("first_year")
    assert (first.period.start, first.period.end) == (date(2018, 2, 15), date(2020, 2, 14))
    assert (first.total.counted, first.total.minimum, first.total.remaining) == (70, 100, 30)
    assert line(autumn, "first_year", "school_based").remaining == 20

    ledger.post_entry(teacher, item="school_training", hours=30, earned_on=date(2020, 1, 10))
    done = ledger.progress(teacher, date(2020, 2, 10))
    assert line(done, "first_year").met and line(done, "first_year", "school_based").counted == 60
    assert done.period("cycle").total.minimum == 240, "[001] 三(一) 还须参加本周期四年的教师岗位培训"
    after = ledger.progress(teacher, date(2020, 2, 15))
    assert after.audiences == [] and after.period("first_year") is None, "a year after the hire date"


# -- history from before a rule set; time windows per category ------------------------------------------


def test_sichuan_class_teacher_cycle_began_before_the_rule_set(regions, teacher_at):
    """[001] 三(十): "所有班主任教师五年一周期内须接受不少于30学时的专题培训". The cycle is 2016–2020 and the
    rule set takes effect on 2017-01-01: 12 h in May 2016 and 18 h in April 2019 make the 30."""
    teacher = teacher_at(regions["sichuan"], is_class_teacher=True)
    early = ledger.post_entry(teacher, item="class_teacher_topic", hours=12, earned_on=date(2016, 5, 10),
                              source=EntrySource.IMPORT, source_ref="2016年班主任培训结业证")
    assert early.rule_set.code == "sichuan-district-13fyp"
    ledger.post_entry(teacher, item="class_teacher_topic", hours=18, earned_on=date(2019, 4, 1))
    topic = line(ledger.progress(teacher, date(2020, 12, 1)), "class_teacher_cycle", "class_teacher")
    assert (topic.counted, topic.minimum, topic.status) == (30, 30, "met")
    with pytest.raises(ServiceError, match="No credit rule set"):
        ledger.post_entry(teacher, item="class_teacher_topic", hours=1, earned_on=date(2015, 12, 31))


def test_dali_hours_from_1_october_and_per_category_windows(regions, teacher_at):
    """[003] 三、研修时间: "网络研修:年度上学期开展 具体时间:2020年10月——2021年1月";
    "校本研修:年度上、下学期持续开展 具体时间:2020年10月——2021年7月". The notice is dated 2020-10-16;
    activities of 1–15 October count, September ones do not; online hours count only until January."""
    teacher = teacher_at(regions["dali"])
    early = ledger.post_entry(teacher, item="thematic_study", hours=6, earned_on=date(2020, 10, 8))
    assert early.counted_hours == 6
    with pytest.raises(ServiceError, match="No credit rule set is in force for 大荔县城关中学 on 2020-09-20"):
        ledger.post_entry(teacher, item="thematic_study", hours=6, earned_on=date(2020, 9, 20))
    with pytest.raises(ServiceError, match="网络研修 is recognised only for hours earned from 2020-10-01 to 2021-01"):
        ledger.post_entry(teacher, item="online_course", hours=30, earned_on=date(2021, 3, 1))
    assert ledger.post_entry(teacher, item="online_course", hours=30, earned_on=date(2021, 1, 20)).credits == 9
    assert ledger.post_entry(teacher, item="paper", hours=3, earned_on=date(2021, 7, 20)).counted_hours == 3
    with pytest.raises(ServiceError, match="校本研修 is recognised only"):
        ledger.post_entry(teacher, item="paper", hours=3, earned_on=date(2021, 8, 10))
    semester = line(ledger.progress(teacher, date(2021, 1, 31)), "semester", "school_activity")
    assert semester.counted == 6


# -- versions have their own effective dates ----------------------------------------------------------


def test_a_new_version_does_not_change_what_an_earlier_day_was_judged_by(regions, teacher_at, tmp_path):
    """[003] 九、2: "确保教师每学期修满18学时的“研修活动”…获取7学时的“研修成果”". Suppose the county
    raises the outcome minimum to 8 h from 2021-02-01 (the second semester). Judged on 2021-01-31 the first
    semester still needed 7 (5 + 2 = 7 met); on 2021-06-30 the second needs 8."""
    teacher = teacher_at(regions["dali"])
    ledger.post_entry(teacher, item="lesson_design", hours=5, earned_on=date(2020, 12, 28))
    ledger.post_entry(teacher, item="competition_award", hours=2, earned_on=date(2021, 1, 15))
    ledger.post_entry(teacher, item="paper", hours=7, earned_on=date(2021, 5, 15))
    original = (RULES_DIR / "shaanxi-dali-2020.yaml").read_text(encoding="utf-8")
    changed = original.replace("version_effective_from: 2020-10-16", "version_effective_from: 2021-02-01").replace(
        "school_outcome: {min: 7,", "school_outcome: {min: 8,")
    assert changed != original
    (tmp_path / "dali.yaml").write_text(changed, encoding="utf-8")
    [v3] = rules.load_rule_files([tmp_path / "dali.yaml"])
    assert (v3.code, v3.version_from) == ("dali-2020", date(2021, 2, 1))

    first = line(ledger.progress(teacher, date(2021, 1, 31)), "semester", "school_outcome")
    assert (first.minimum, first.status) == (7, "met")
    assert ledger.progress(teacher, date(2021, 1, 31)).rule_set.version < v3.version
    second = line(ledger.progress(teacher, date(2021, 6, 30)), "semester", "school_outcome")
    assert (second.minimum, second.counted, second.remaining) == (8, 7, 1)
    assert ledger.progress(teacher, date(2021, 6, 30)).rule_set.id == v3.id


def test_a_changed_rule_file_must_say_from_when(regions, tmp_path):
    """Versions carry their own effective dates: a change without one is refused, naming the key."""
    original = (RULES_DIR / "guangxi-binyang-2021.yaml").read_text(encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        original.replace("version_effective_from: 2021-01-01   # version 2: 送教下乡 is school-based training, "
                         "from the start\n", "").replace("{min: 360,", "{min: 400,"), encoding="utf-8")
    with pytest.raises(rules.RuleFileError, match=r"b\.yaml: version_effective_from: 'binyang-2021' is already stored"):
        rules.load_rule_files([tmp_path / "b.yaml"])


# -- shared outcomes (Dali [003] 六 / 七.3.(3)) ---------------------------------------------------------------


def test_dali_an_outcome_counts_for_online_and_school_based_but_an_activity_does_not(regions, teacher_at):
    """[003] 六: "网络研修、校本研修的研修成果在学时认定时,可以共用". The sharing covers outcomes (研修成果),
    not activities: a lesson design may back an online entry and a school-based outcome entry; a lesson
    polishing activity may not back an online entry as well."""
    teacher = teacher_at(regions["dali"])
    design = ledger.post_entry(teacher, item="lesson_design", hours=4, earned_on=date(2020, 12, 28),
                               evidence_hash="ab" * 32)
    online = ledger.post_entry(teacher, category="online", hours=4, earned_on=date(2021, 1, 6),
                               evidence_hash="ab" * 32)
    assert design.counted_hours == online.counted_hours == 4
    ledger.post_entry(teacher, item="lesson_polishing", hours=6, earned_on=date(2020, 12, 2), evidence_hash="cd" * 32)
    with pytest.raises(Conflict, match="already backs the entry of 2020-12-02"):
        ledger.post_entry(teacher, category="online", hours=6, earned_on=date(2021, 1, 6), evidence_hash="cd" * 32)


# -- Binyang [004]: 送教下乡 is 校本研修 -------------------------------------------------------------------------


def test_binyang_sending_lessons_to_the_countryside_is_school_based(regions, teacher_at):
    """[004]: "以党员教师为主体开展“党员名师送教下乡”校本研修活动"."""
    teacher = teacher_at(regions["binyang"])
    entry = ledger.post_entry(teacher, item="sending_lessons", hours=6, earned_on=date(2022, 4, 1))
    assert entry.category == "school_based"
    assert line(ledger.progress(teacher, date(2022, 6, 1)), "cycle", "school_based").counted == 6


# -- trainers: researchers and county training-centre staff (Sichuan [001] 四(三)4) --------------------------


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.COUNTY_OFFICER])
def test_sichuan_trainers_include_training_centre_staff(regions, make_user, role):
    """[001] 四(三)4: "专职培训者每年研修时间不少于72学时". County training-centre staff (区教师培训中心,
    role county_officer) are full-time trainers as much as researchers: 70 h leave 2 to do."""
    centre = regions["sichuan_centre"]
    trainer = make_user(org=centre, roles=((role, centre),), hire_date=date(2010, 9, 1))
    ledger.post_entry(trainer, category="centralized", hours=70, earned_on=date(2019, 11, 1))
    standing = ledger.progress(trainer, date(2020, 6, 1))
    assert ("trainer", "专职培训者") in standing.audiences
    assert (line(standing, "school_year").minimum, line(standing, "school_year").remaining) == (72, 2)


# -- 公办在编 (Sichuan [001] 三) --------------------------------------------------------------------------------


def test_sichuan_240_hours_bind_established_teachers(regions, teacher_at):
    """[001] 三、主要任务: "四年内所有公办在编教师都要参加不少于240学时的培训,其中校本研训不少于120学时"."""
    established = teacher_at(regions["sichuan"], employment_type="established")
    unregistered = teacher_at(regions["sichuan"])
    substitute = teacher_at(regions["sichuan"], employment_type="substitute")
    day = date(2019, 6, 1)
    assert line(ledger.progress(established, day), "cycle").minimum == 240
    assert line(ledger.progress(unregistered, day), "cycle").minimum == 240, "unregistered counts as established"
    sub = ledger.progress(substitute, day)
    assert line(sub, "cycle").minimum is None and line(sub, "cycle", "school_based").minimum is None


# -- extensions of the rule format -----------------------------------------------------------------------


FORMAT = """\
id: t-format
title: 格式扩展测试
source: 测试
jurisdiction: TF
effective_from: 2026-01-01
categories:
  school_based: {name: 校本研修}
  lesson_prep: {name: 集体备课, parent: school_based}
  seminar: {name: 教研活动, parent: school_based}
items:
  weekly_prep: {category: lesson_prep, name: 每周一集体备课, caps: {week: {max: 2}}}
requirements:
  month:
    categories:
      seminar: {min: 2, note: 每月一研讨}
  school_year:
    categories:
      school_based: {max: 40, over_max: flag, note: 超过40学时须复核}
audiences:
  tier_one:
    name: 一层级教师
    when: {tiers: [1]}
    requirements:
      semester:
        categories:
          seminar: {min: 4}
"""


@pytest.fixture
def format_school(db, make_org, tmp_path):
    (tmp_path / "f.yaml").write_text(dedent(FORMAT), encoding="utf-8")
    rules.load_rule_files([tmp_path / "f.yaml"])
    county = make_org("county", code="TF", name="测试县")
    return make_org("school", county, code="TF-S1", name="测试学校")


def test_week_and_month_periods(format_school, teacher_at):
    """[004]: "校本培训每期一主题、每月一研讨、每周一集体备课" — weeks and months as periods: two hours of lesson
    preparation count per ISO week (Monday–Sunday), and two seminar hours are needed each month."""
    teacher = teacher_at(format_school)
    monday, sunday = date(2026, 3, 2), date(2026, 3, 8)
    assert ledger.post_entry(teacher, item="weekly_prep", hours=2, earned_on=monday).counted_hours == 2
    capped = ledger.post_entry(teacher, item="weekly_prep", hours=2, earned_on=sunday)
    assert capped.counted_hours == 0 and "2026年第10周" in capped.not_counted_reason
    next_monday = sunday + timedelta(days=1)
    assert ledger.post_entry(teacher, item="weekly_prep", hours=2, earned_on=next_monday).counted_hours == 2
    ledger.post_entry(teacher, category="seminar", hours=1, earned_on=date(2026, 3, 20))
    march = ledger.progress(teacher, date(2026, 3, 31))
    month = line(march, "month", "seminar")
    assert (march.period("month").period.key, month.counted, month.remaining) == ("2026-03", 1, 1)
    assert line(ledger.progress(teacher, date(2026, 4, 1)), "month", "seminar").counted == 0


def test_a_flagged_maximum_counts_and_is_flagged(format_school, teacher_at):
    """A ``max`` with ``over_max: flag`` does not cut: the 45 h count and the line says it is out of range."""
    teacher = teacher_at(format_school)
    entry = ledger.post_entry(teacher, category="seminar", hours=45, earned_on=date(2026, 3, 20))
    assert (entry.counted_hours, entry.not_counted_reason) == (45, None)
    year = line(ledger.progress(teacher, date(2026, 3, 31)), "school_year", "school_based")
    assert (year.counted, year.maximum, year.over_maximum) == (45, 40, True)


def test_tiers_in_audiences(format_school, teacher_at):
    """[003]: "不同层级的教师进入不同的网络研修通道" — an audience for 一层级 teachers only."""
    tier_one = teacher_at(format_school, training_tier=1)
    tier_two = teacher_at(format_school, training_tier=2)
    assert ("tier_one", "一层级教师") in ledger.progress(tier_one, date(2026, 3, 31)).audiences
    assert line(ledger.progress(tier_one, date(2026, 3, 31)), "semester", "seminar").minimum == 4
    assert ledger.progress(tier_two, date(2026, 3, 31)).audiences == []


@pytest.mark.parametrize(("change", "message"), [
    (("tiers: [1]", "tiers: [4]"), "audiences.tier_one.when.tiers[0]: expected a training tier (1, 2, 3), got 4"),
    (("{max: 40, over_max: flag,", "{over_max: flag,"),
     "requirements.school_year.categories.school_based.over_max: over_max needs a max"),
    (("  lesson_prep: {name: 集体备课, parent: school_based}",
      "  lesson_prep: {name: 集体备课, parent: school_based, window: {from: 2026-03-01, to: 2026-02-01}}"),
     "categories.lesson_prep.window.to: 2026-02-01 is before 2026-03-01"),
    (("  lesson_prep: {name: 集体备课, parent: school_based}",
      "  lesson_prep: {name: 集体备课, parent: school_based, window: {from: 2026-03-01, to: '07-31'}}"),
     "categories.lesson_prep.window: give both ends as dates, or both as month and day"),
    (("requirements:\n  month:", "requirements:\n  fortnight:"), "requirements.fortnight: unknown period"),
])
def test_the_format_names_the_key_at_fault(tmp_path, db, change, message):
    text = dedent(FORMAT)
    assert change[0] in text
    (tmp_path / "bad.yaml").write_text(text.replace(*change), encoding="utf-8")
    _, problems = rules.check_files([tmp_path / "bad.yaml"])
    assert any(message in str(p) for p in problems), [str(p) for p in problems]


def test_progress_of_many_issues_a_bounded_number_of_statements(regions, teacher_at, db):
    """New teachers' own windows do not cost a query each."""
    teachers = [teacher_at(regions["sichuan"], hire_date=date(2019, 2, 1) + timedelta(days=7 * i)) for i in range(12)]
    for teacher in teachers:
        ledger.post_entry(teacher, item="school_training", hours=10, earned_on=date(2019, 5, 1))
    db.session.expire_all()
    count = 0

    def counter(*_args, **_kwargs):
        nonlocal count
        count += 1

    teachers = list(db.session.scalars(sa.select(teachers[0].__class__).where(
        teachers[0].__class__.id.in_([t.id for t in teachers]))))
    for teacher in teachers:
        teacher.org  # noqa: B018 - loaded before counting
    sa.event.listen(db.engine, "before_cursor_execute", counter)
    try:
        standings = ledger.progress_of_many(teachers, date(2019, 6, 1))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", counter)
    assert all(s.period("first_year").total.counted == 10 for s in standings.values())
    assert count <= 6
