"""The credit ledger against the seed regions' rule sets: worked examples, caps, reversals, shared evidence,
progress as of a date, and the school's list of teachers below their minimums."""

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import CreditEntry, EntrySource, LedgerIsAppendOnly, Role
from webapp.services import ledger, rules
from webapp.services.errors import Conflict, ServiceError

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(autouse=True)
def english(db):
    """Service messages in English whatever the translations hold."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield


@pytest.fixture
def regions(db, make_org):
    """One school under each seed region's jurisdiction code (and the demo city), rule sets loaded."""
    rules.load_rule_files([RULES_DIR])
    yueyang = make_org("city", code="430600", name="岳阳市")
    sichuan = make_org("county", code="SC-DISTRICT", name="四川某区")
    dali = make_org("county", code="610523", name="大荔县")
    binyang = make_org("county", code="450126", name="宾阳县")
    xb = make_org("city", code="XB", name="湘北市")
    return {
        "yueyang": make_org("school", yueyang, code="YY-S1", name="岳阳市第一中学"),
        "sichuan": make_org("school", sichuan, code="SC-S1", name="某区实验小学"),
        "dali": make_org("school", dali, code="DL-S1", name="大荔县城关中学"),
        "binyang": make_org("school", binyang, code="BY-S1", name="宾阳中学"),
        "xb": make_org("school", xb, code="XB-S1", name="湘北一中"),
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


# -- Yueyang [000 §25]: ≤120 school-based credits per 5 years, and some every school year -----------------


def test_yueyang_cap_of_120_per_five_years(regions, teacher_at):
    teacher = teacher_at(regions["yueyang"])
    first = ledger.post_entry(teacher, item="lesson_study", hours=50, earned_on=date(2016, 10, 10))
    second = ledger.post_entry(teacher, category="school_based", hours=50, earned_on=date(2017, 10, 10))
    third = ledger.post_entry(teacher, item="research_project", hours=30, earned_on=date(2018, 10, 10))
    assert (first.counted_credits, second.counted_credits) == (50, 50)
    assert (third.credits, third.counted_credits, third.counted_hours) == (30, 20, 20)
    assert third.not_counted_reason == ("校本研修培训在继续教育周期（2016–2020）最多计 120 学分，已计 100 学分，"
                                        "超出部分不计入")
    fourth = ledger.post_entry(teacher, category="school_based", hours=10, earned_on=date(2019, 10, 10))
    assert fourth.counted_credits == 0 and fourth.not_counted_reason
    online = ledger.post_entry(teacher, category="online", hours=40, earned_on=date(2019, 10, 11))
    assert online.counted_credits == 40, "the cap is on school-based credits only"
    next_cycle = ledger.post_entry(teacher, category="school_based", hours=10, earned_on=date(2021, 3, 1))
    assert next_cycle.counted_credits == 10, "a new five-year cycle starts in 2021"

    cycle = line(ledger.progress(teacher, date(2020, 6, 1)), "cycle", "school_based")
    assert (cycle.counted, cycle.maximum, cycle.measure, cycle.status) == (120, 120, "credits", "no_minimum")


def test_yueyang_needs_some_school_based_credits_every_school_year(regions, teacher_at):
    teacher = teacher_at(regions["yueyang"])
    ledger.post_entry(teacher, category="school_based", hours=6, earned_on=date(2024, 11, 5))
    ledger.post_entry(teacher, category="online", hours=20, earned_on=date(2025, 10, 5))

    met = line(ledger.progress(teacher, date(2025, 6, 30)), "school_year", "school_based")
    assert (met.status, met.counted, met.minimum, met.exclusive) == ("met", 6, 0, True)
    missing = line(ledger.progress(teacher, date(2026, 6, 30)), "school_year", "school_based")
    assert missing.status == "not_met", "online credits do not stand in for school-based ones"
    assert missing.counted == 0
    ledger.post_entry(teacher, category="school_based", hours=2, earned_on=date(2026, 5, 20))
    assert line(ledger.progress(teacher, date(2026, 6, 30)), "school_year", "school_based").met


# -- Dali [003]: 30 h online = 9 credits, 50 h school-based = 10 credits; 18 + 7 h every semester ----------


def test_dali_conversions(regions, teacher_at):
    teacher = teacher_at(regions["dali"])
    online = ledger.post_entry(teacher, item="online_course", hours=30, earned_on=date(2020, 12, 20),
                               source=EntrySource.IMPORT, source_ref="继教网-2021-001")
    activity = ledger.post_entry(teacher, item="lesson_polishing", hours=18, earned_on=date(2020, 12, 2))
    assert (online.credits, online.category) == (9, "online")
    assert activity.credits == 3.6, "50 h = 10 credits, so 18 h = 3.6"
    assert (activity.school_year, activity.semester) == ("2020-2021", "2020-2021-1")


def test_dali_18_activity_and_7_outcome_hours_every_semester(regions, teacher_at):
    teacher = teacher_at(regions["dali"])
    ledger.post_entry(teacher, item="lesson_polishing", hours=10, earned_on=date(2020, 12, 2))
    ledger.post_entry(teacher, item="demonstration", hours=8, earned_on=date(2020, 12, 10))
    ledger.post_entry(teacher, item="lesson_design", hours=5, earned_on=date(2020, 12, 28))

    standing = ledger.progress(teacher, date(2021, 1, 31))
    semester = standing.period("semester")
    assert semester.period.key == "2020-2021-1" and semester.period.name == "2020–2021学年上学期"
    activity, outcome = line(standing, "semester", "school_activity"), line(standing, "semester", "school_outcome")
    assert (activity.counted, activity.minimum, activity.status) == (18, 18, "met")
    assert (outcome.counted, outcome.minimum, outcome.status, outcome.remaining) == (5, 7, "not_met", 2)
    school_based = line(standing, "semester", "school_based")
    assert school_based.counted == 23 and school_based.status == "no_minimum", "parents add up their children"

    ledger.post_entry(teacher, item="competition_award", hours=2, earned_on=date(2021, 1, 15))
    assert ledger.progress(teacher, date(2021, 1, 31)).period("semester").met
    second = ledger.progress(teacher, date(2021, 3, 1)).period("semester")
    assert second.period.key == "2020-2021-2" and not second.met, "the second semester starts from nothing"
    year = line(ledger.progress(teacher, date(2021, 3, 1)), "school_year", "school_based")
    assert (year.counted, year.minimum, year.remaining) == (25, 50, 25)


def test_dali_one_outcome_may_count_for_online_and_school_based(regions, teacher_at):
    teacher = teacher_at(regions["dali"])
    colleague = teacher_at(regions["dali"])
    evidence = "ab" * 32
    outcome = ledger.post_entry(teacher, item="lesson_design", hours=4, earned_on=date(2020, 12, 28),
                                evidence_hash=evidence)
    online = ledger.post_entry(teacher, category="online", hours=4, earned_on=date(2020, 12, 29),
                               evidence_hash=evidence)
    assert online.evidence_hash == outcome.evidence_hash == evidence
    with pytest.raises(Conflict, match="already backs the entry of 2020-12-28"):
        ledger.post_entry(teacher, item="paper", hours=3, earned_on=date(2021, 1, 5), evidence_hash=evidence)
    with pytest.raises(Conflict, match="already backs"):
        ledger.post_entry(teacher, item="lesson_polishing", hours=3, earned_on=date(2021, 1, 5),
                          evidence_hash=evidence)
    with pytest.raises(Conflict, match="another teacher"):
        ledger.post_entry(colleague, item="lesson_design", hours=4, earned_on=date(2021, 1, 5),
                          evidence_hash=evidence)
    ledger.reverse_entry(outcome, None, "证明材料有误")
    again = ledger.post_entry(teacher, item="paper", hours=3, earned_on=date(2021, 1, 5), evidence_hash=evidence)
    assert again.id


def test_shared_evidence_is_refused_where_the_rule_set_does_not_allow_it(regions, teacher_at):
    teacher = teacher_at(regions["yueyang"])
    ledger.post_entry(teacher, category="online", hours=4, earned_on=date(2024, 12, 1), evidence_hash="cd" * 32)
    with pytest.raises(Conflict):
        ledger.post_entry(teacher, category="school_based", hours=4, earned_on=date(2024, 12, 2),
                          evidence_hash="cd" * 32)


# -- the Sichuan district [001]: 240 h in 4 years incl. 120 school-based; new teachers, class teachers --


def test_sichuan_240_of_which_120_school_based(regions, teacher_at):
    teacher = teacher_at(regions["sichuan"])
    ledger.post_entry(teacher, item="institution_training", hours=90, earned_on=date(2017, 7, 10), level="province")
    ledger.post_entry(teacher, item="remote_training", hours=40, earned_on=date(2018, 12, 1))
    ledger.post_entry(teacher, item="school_training", hours=60, earned_on=date(2018, 5, 1))
    entry = ledger.post_entry(teacher, item="school_training", hours=50, earned_on=date(2020, 5, 1))
    assert entry.credits == 50, "1 hour = 1 credit"

    standing = ledger.progress(teacher, date(2020, 12, 31))
    cycle = standing.period("cycle")
    assert cycle.period.key == "2017-2020"
    assert (cycle.total.counted, cycle.total.minimum, cycle.total.status) == (240, 240, "met")
    school_based = line(standing, "cycle", "school_based")
    assert (school_based.counted, school_based.minimum, school_based.remaining) == (110, 120, 10)
    assert not standing.met, "240 hours are not enough without 120 school-based"
    assert standing.audiences == []


def test_sichuan_class_teachers_need_30_hours_per_five_years(regions, teacher_at):
    class_teacher = teacher_at(regions["sichuan"], is_class_teacher=True)
    ledger.post_entry(class_teacher, item="class_teacher_topic", hours=24, earned_on=date(2018, 4, 1))
    standing = ledger.progress(class_teacher, date(2020, 12, 1))
    assert ("class_teacher", "班主任") in standing.audiences
    topic = line(standing, "class_teacher_cycle", "class_teacher")
    assert standing.period("class_teacher_cycle").period.key == "2016-2020"
    assert (topic.counted, topic.minimum, topic.status) == (24, 30, "not_met")
    other = teacher_at(regions["sichuan"])
    assert line(ledger.progress(other, date(2020, 12, 1)), "class_teacher_cycle", "class_teacher").minimum is None


def test_sichuan_trainers_need_72_hours_a_year(regions, make_user, make_org):
    centre = make_org("institute", regions["sichuan"].parent, code="SC-YPZX", name="区研培中心")
    trainer = make_user(org=centre, roles=((Role.RESEARCHER, centre),))
    ledger.post_entry(trainer, category="centralized", hours=70, earned_on=date(2019, 11, 1))
    standing = ledger.progress(trainer, date(2020, 6, 1))
    assert standing.audiences == [("trainer", "专职培训者")]
    assert (standing.period("school_year").total.minimum, standing.period("school_year").total.remaining) == (72, 2)


# -- Binyang [004]: ≥360 hours per 5 years ----------------------------------------------------------------


def test_binyang_360_hours_in_five_years(regions, teacher_at):
    teacher = teacher_at(regions["binyang"])
    for year in range(2021, 2026):
        ledger.post_entry(teacher, item="weekly_lesson_prep", hours=40, earned_on=date(year, 5, 1))
        ledger.post_entry(teacher, category="centralized", hours=32, earned_on=date(year, 7, 10))
    end = ledger.progress(teacher, date(2025, 12, 31)).period("cycle")
    assert end.period.key == "2021-2025"
    assert (end.total.counted, end.total.minimum, end.total.status) == (360, 360, "met")
    midway = ledger.progress(teacher, date(2023, 6, 1)).period("cycle")
    assert (midway.total.counted, midway.total.remaining) == (144 + 40, 176), "as of 2023-06-01"
    assert ledger.progress(teacher, date(2026, 1, 1)).rule_set is None, "the 14th plan's rules end in 2025"


# -- item catalogue, levels and item caps (demo city) ----------------------------------------------------


def test_item_defaults_levels_and_item_caps(regions, teacher_at):
    teacher = teacher_at(regions["xb"])
    national = ledger.post_entry(teacher, item="provincial_training", level="national", earned_on=date(2026, 10, 8))
    assert (national.hours, national.category) == (40, "centralized")
    lessons = [ledger.post_entry(teacher, item="open_lesson", earned_on=date(2026, 11, day)) for day in (2, 9, 16, 23)]
    assert [e.counted_hours for e in lessons] == [4, 4, 4, 0]
    assert "公开课、示范课在2026–2027学年最多计 12 学分" in lessons[-1].not_counted_reason
    with pytest.raises(ServiceError, match="belongs to the category"):
        ledger.post_entry(teacher, item="open_lesson", category="online", earned_on=date(2026, 11, 2))
    with pytest.raises(ServiceError, match="no category"):
        ledger.post_entry(teacher, category="sports", hours=1, earned_on=date(2026, 11, 2))
    with pytest.raises(ServiceError, match="no item"):
        ledger.post_entry(teacher, item="sports", hours=1, earned_on=date(2026, 11, 2))
    with pytest.raises(ServiceError, match="number of hours"):
        ledger.post_entry(teacher, item="city_training", earned_on=date(2026, 11, 2))
    # The rule set takes effect on 2026-01-01 and so governs the school year 2025–2026 it falls in: hours of
    # that school year are accepted, hours from before it are not.
    assert ledger.post_entry(teacher, category="online", hours=1, earned_on=date(2025, 11, 2)).counted_hours == 1
    with pytest.raises(ServiceError, match="No credit rule set"):
        ledger.post_entry(teacher, category="online", hours=1, earned_on=date(2025, 8, 31))


# -- reversals and the append-only guard ------------------------------------------------------------------


def test_a_reversal_negates_and_frees_the_cap(regions, teacher_at, make_user):
    teacher = teacher_at(regions["yueyang"])
    officer = make_user(org=regions["yueyang"], roles=((Role.SCHOOL_OFFICER, regions["yueyang"]),))
    wrong = ledger.post_entry(teacher, category="school_based", hours=100, earned_on=date(2017, 3, 1),
                              recognised_by=officer, recognised_org=regions["yueyang"], source="application",
                              source_ref="instance:17")
    reversal = ledger.reverse_entry(wrong, officer, "学时录入错误（应为10学时）")
    assert (reversal.hours, reversal.credits, reversal.counted_credits) == (-100, -100, -100)
    assert (reversal.source, reversal.reverses_id, reversal.earned_on) == (EntrySource.REVERSAL, wrong.id,
                                                                          wrong.earned_on)
    assert reversal.recognised_org_id == regions["yueyang"].id and reversal.note == "学时录入错误（应为10学时）"
    assert ledger.reversed_ids(ledger.entries_of(teacher)) == {wrong.id}
    corrected = ledger.post_entry(teacher, category="school_based", hours=110, earned_on=date(2017, 3, 2))
    assert corrected.counted_credits == 110, "the reversed 100 no longer fill the cap"
    assert line(ledger.progress(teacher, date(2017, 6, 1)), "cycle", "school_based").counted == 110
    assert len(ledger.entries_of(teacher, start=date(2017, 3, 1), end=date(2017, 3, 1))) == 2


def test_reversing_twice_or_reversing_a_reversal_is_refused(regions, teacher_at):
    teacher = teacher_at(regions["binyang"])
    entry = ledger.post_entry(teacher, category="online", hours=12, earned_on=date(2022, 3, 1))
    reversal = ledger.reverse_entry(entry, None, "重复录入")
    with pytest.raises(Conflict, match="already been reversed"):
        ledger.reverse_entry(entry, None, "again")
    with pytest.raises(Conflict, match="cannot be reversed"):
        ledger.reverse_entry(reversal, None, "undo")
    with pytest.raises(ServiceError, match="reason"):
        ledger.reverse_entry(ledger.post_entry(teacher, category="online", hours=1, earned_on=date(2022, 3, 2)),
                             None, " ")
    with pytest.raises(ServiceError, match="reverse_entry"):
        ledger.post_entry(teacher, category="online", hours=1, earned_on=date(2022, 3, 2), source="reversal")


def test_entries_cannot_be_changed_or_deleted(db, regions, teacher_at):
    teacher = teacher_at(regions["binyang"])
    entry = ledger.post_entry(teacher, category="online", hours=12, earned_on=date(2022, 3, 1))
    db.session.flush()
    entry.hours = 20
    with pytest.raises(LedgerIsAppendOnly), db.session.begin_nested():
        db.session.flush()


def test_the_orm_refuses_deletes(db, regions, teacher_at):
    teacher = teacher_at(regions["binyang"])
    entry = ledger.post_entry(teacher, category="online", hours=12, earned_on=date(2022, 3, 1))
    with pytest.raises(LedgerIsAppendOnly), db.session.begin_nested():
        db.session.delete(entry)


@pytest.mark.parametrize("statement", [
    "UPDATE credit_entry SET hours = 99 WHERE id = :id",
    "DELETE FROM credit_entry WHERE id = :id",
])
def test_the_database_refuses_updates_and_deletes(db, regions, teacher_at, statement):
    teacher = teacher_at(regions["binyang"])
    entry = ledger.post_entry(teacher, category="online", hours=12, earned_on=date(2022, 3, 1))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text(statement), {"id": entry.id})
    assert db.session.scalar(sa.select(CreditEntry.hours).where(CreditEntry.id == entry.id)) == 12


def test_check_constraints_refuse_negative_hours_outside_reversals(db, regions, teacher_at):
    teacher = teacher_at(regions["binyang"])
    entry = ledger.post_entry(teacher, category="online", hours=12, earned_on=date(2022, 3, 1))
    base = {"user_id": teacher.id, "rule_set_id": entry.rule_set_id, "category": "online", "earned_on": entry.earned_on,
            "school_year": "2021-2022", "semester": "2021-2022-2"}
    bad = [
        CreditEntry(**base, hours=-1, credits=-1, counted_hours=-1, counted_credits=-1, source=EntrySource.MANUAL),
        CreditEntry(**base, hours=-1, credits=-1, counted_hours=-1, counted_credits=-1, source=EntrySource.REVERSAL),
        CreditEntry(**base, hours=1, credits=1, counted_hours=2, counted_credits=1, source=EntrySource.MANUAL),
    ]
    for candidate in bad:
        with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
            db.session.add(candidate)


# -- progress of the demo teacher, and the school officer's list -----------------------------------------


def test_progress_as_of_a_date_leaves_out_later_entries(regions, teacher_at):
    teacher = teacher_at(regions["xb"], is_class_teacher=True)
    ledger.post_entry(teacher, category="centralized", hours=30, earned_on=date(2026, 10, 1))
    ledger.post_entry(teacher, category="class_teacher", hours=12, earned_on=date(2026, 12, 1))
    before = ledger.progress(teacher, date(2026, 11, 1))
    after = ledger.progress(teacher, date(2027, 1, 10))
    assert before.rule_set.code == "xiangbei-2026"
    assert [p.period.kind for p in after.periods] == ["semester", "school_year", "cycle"]
    assert before.period("school_year").total.counted == 30 and after.period("school_year").total.counted == 42
    assert line(after, "cycle", "class_teacher").remaining == 18
    total = after.period("school_year").total
    assert (total.minimum, total.remaining, round(total.share, 3)) == (72, 30, 0.583)


def test_below_minimum_lists_the_schools_teachers_in_few_queries(app, db, regions, teacher_at, make_org, make_user):
    school = regions["dali"]
    subgroup = make_org("subgroup", school, code="DL-S1-MATH", name="数学教研组")
    done = teacher_at(school, display_name="甲")
    short = teacher_at(school, display_name="乙")
    make_user(display_name="丙", org=school, roles=((Role.TEACHER, subgroup),))
    elsewhere = teacher_at(regions["binyang"])
    for teacher in (done, short, elsewhere):
        ledger.post_entry(teacher, category="school_activity" if teacher is not elsewhere else "online",
                          hours=18, earned_on=date(2021, 3, 10))
    ledger.post_entry(done, category="school_outcome", hours=7, earned_on=date(2021, 4, 10))
    ledger.post_entry(done, category="online", hours=30, earned_on=date(2020, 12, 1))
    ledger.post_entry(done, category="school_activity", hours=25, earned_on=date(2020, 11, 1))

    def listed():
        statements = []

        def count(*_args):
            statements.append(1)

        db.session.flush()  # pending audit events are not the listing's queries
        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            result = ledger.below_minimum(school, date(2021, 5, 1))
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return result, len(statements)

    result, queries = listed()
    assert sorted(r.user.display_name for r in result) == sorted(["丙", "乙"])
    [short_listed] = [r for r in result if r.user == short]
    missing = {(period.kind, line.category): line.remaining for period, line in short_listed.missing}
    assert missing == {("semester", "school_outcome"): 7, ("school_year", "online"): 30,
                       ("school_year", "school_based"): 32}
    assert queries <= 4
    for number in range(6):
        teacher_at(school, display_name=f"丁{number}")
    result, more_queries = listed()
    assert len(result) == 8 and more_queries == queries, "the query count does not grow with the teachers"
    assert ledger.below_minimum(regions["xb"], date(2021, 5, 1)) == []


def test_below_minimum_lists_only_active_teachers_of_the_school_on_that_day(db, regions, teacher_at, make_user):
    """A deactivated account, or one whose teacher assignment at the school was ended or ran out, is not the
    school's to chase."""
    from webapp.services.users import assign_role, end_assignment, set_user_active

    school = regions["dali"]
    teacher_at(school, display_name="在职")
    set_user_active(teacher_at(school, display_name="已停用"), False)
    end_assignment(assign_role(make_user(display_name="已离职", org=school), Role.TEACHER, school))
    assign_role(make_user(display_name="已调出", org=school), Role.TEACHER, school, valid_from=date(2015, 9, 1),
                valid_to=date(2021, 4, 30))

    def listed(on: date) -> set[str]:
        return {shortfall.user.display_name for shortfall in ledger.below_minimum(school, on)}

    assert listed(date(2021, 5, 1)) == {"在职"}
    assert listed(date(2021, 4, 15)) == {"在职", "已调出"}, "still the school's teacher then"
