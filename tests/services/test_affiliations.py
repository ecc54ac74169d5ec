"""Ties of a person to a school, for panels: "an expert who works at, or in the last 3 years worked at, the school
cannot score it" (the school-evaluation issue). Dates worked by hand against the day 2026-12-02."""

from __future__ import annotations

from datetime import date

from webapp.models import Role
from webapp.services import affiliations
from webapp.services.users import assign_role

DAY = date(2026, 12, 2)


def test_belonging_to_the_school_or_a_subgroup_of_it_is_a_tie(db, region, make_user):
    member = make_user("ex1", org=region["maths"])
    outsider = make_user("ex2", org=region["school2"])
    assert [(t.org.name, t.role) for t in affiliations.ties(member, region["school"], on=DAY)] == [("数学备课组", None)]
    assert affiliations.ties(outsider, region["school"], on=DAY) == []


def test_role_history_counts_for_three_years_back(db, region, make_user):
    """The window is 2023-12-02 – 2026-12-02: a term that ended on 2023-12-02 still counts, one that ended the
    day before does not; a term starting after the day does not either."""
    expert = make_user("ex3", org=region["school2"])
    assign_role(expert, Role.TEACHER, region["school"], valid_from=date(2015, 9, 1), valid_to=date(2023, 12, 1))
    assert affiliations.ties(expert, region["school"], on=DAY) == []
    assign_role(expert, Role.SUBGROUP_LEADER, region["chinese"], valid_from=date(2019, 9, 1),
                valid_to=date(2023, 12, 2))
    assign_role(expert, Role.PRINCIPAL, region["school"], valid_from=date(2027, 1, 1))
    found = affiliations.ties(expert, region["school"], on=DAY)
    assert [(t.org.name, t.role, t.valid_to) for t in found] == [
        ("语文备课组", Role.SUBGROUP_LEADER, date(2023, 12, 2))]
    assert affiliations.ties(expert, region["school"], on=DAY, years=0) == []


def test_a_tie_elsewhere_in_the_county_is_no_tie_to_the_school(db, region, make_org, make_user):
    other = make_org("school", region["county"], code="C1-K1-S9", name="一县九中")
    expert = make_user("ex4", org=other)
    assign_role(expert, Role.TEACHER, other, valid_from=date(2020, 9, 1))
    assert affiliations.ties(expert, region["school"], on=DAY) == []
    assert [t.org.name for t in affiliations.ties(expert, region["county"], on=DAY)] == ["一县九中", "一县九中"]
