"""Role resolution up the organisation tree, with validity dates and delegations (DOMAIN.md §1)."""

from datetime import date, timedelta

from webapp.models import Role
from webapp.services import roles
from webapp.services.orgs import set_org_active
from webapp.services.users import assign_role, delegate, end_assignment, set_user_active

TODAY = date.today()


def logins(resolution):
    return sorted(user.login for user in resolution.users)


def test_nearest_holder_wins_walking_up(region, make_user):
    make_user("leader_maths", roles=((Role.SUBGROUP_LEADER, region["maths"]),))
    make_user("officer_s1", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    make_user("county1", roles=((Role.COUNTY_OFFICER, region["county"]),))
    make_user("county2", roles=((Role.COUNTY_OFFICER, region["county2"]),))

    leader = roles.resolve(Role.SUBGROUP_LEADER, region["maths"])
    assert logins(leader) == ["leader_maths"] and leader.scope_org == region["maths"]
    officer = roles.resolve(Role.SCHOOL_OFFICER, region["maths"])
    assert logins(officer) == ["officer_s1"] and officer.scope_org == region["school"]
    county = roles.resolve(Role.COUNTY_OFFICER, region["maths"])
    assert logins(county) == ["county1"], "never the other county's officer"
    assert logins(roles.resolve(Role.COUNTY_OFFICER, region["school2"])) == ["county2"]


def test_other_subgroup_leader_is_not_reached(region, make_user):
    make_user("leader_chinese", roles=((Role.SUBGROUP_LEADER, region["chinese"]),))
    resolution = roles.resolve(Role.SUBGROUP_LEADER, region["maths"])
    assert resolution.users == [] and resolution.scope_org is None


def test_closer_holder_shadows_higher_one(region, make_user):
    make_user("city_officer", roles=((Role.COUNTY_OFFICER, region["city"]),))
    assert logins(roles.resolve(Role.COUNTY_OFFICER, region["school"])) == ["city_officer"]
    make_user("county_officer", roles=((Role.COUNTY_OFFICER, region["county"]),))
    assert logins(roles.resolve(Role.COUNTY_OFFICER, region["school"])) == ["county_officer"]


def test_several_holders_at_the_same_org(region, make_user):
    make_user("officer1", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    make_user("officer2", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    assert logins(roles.resolve(Role.SCHOOL_OFFICER, region["maths"])) == ["officer1", "officer2"]


def test_expired_and_future_assignments_do_not_count(region, make_user):
    old = make_user("old_officer")
    assign_role(old, Role.SCHOOL_OFFICER, region["school"], valid_from=TODAY - timedelta(days=400),
                valid_to=TODAY - timedelta(days=1))
    future = make_user("next_officer")
    assign_role(future, Role.SCHOOL_OFFICER, region["school"], valid_from=TODAY + timedelta(days=10))
    make_user("county_officer", roles=((Role.SCHOOL_OFFICER, region["county"]),))

    today = roles.resolve(Role.SCHOOL_OFFICER, region["maths"])
    assert logins(today) == ["county_officer"] and today.scope_org == region["county"], "nobody at the school today"
    last_week = roles.resolve(Role.SCHOOL_OFFICER, region["maths"], on=TODAY - timedelta(days=5))
    assert logins(last_week) == ["old_officer"] and last_week.scope_org == region["school"]
    assert logins(roles.resolve(Role.SCHOOL_OFFICER, region["maths"], on=TODAY + timedelta(days=10))) == [
        "next_officer"]
    assert logins(roles.resolve(Role.SCHOOL_OFFICER, region["maths"], on=TODAY + timedelta(days=9))) == [
        "county_officer"], "the day before the next officer begins"


def test_ended_assignment_and_inactive_user_are_skipped(region, make_user):
    ended = make_user("ended")
    assignment = assign_role(ended, Role.SCHOOL_OFFICER, region["school"])
    inactive = make_user("inactive", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    set_user_active(inactive, False)
    end_assignment(assignment)
    assert roles.resolve(Role.SCHOOL_OFFICER, region["maths"]).users == []


def test_deactivated_org_scopes_nobody(region, make_user):
    make_user("leader", roles=((Role.SUBGROUP_LEADER, region["maths"]),))
    set_org_active(region["maths"], False)
    assert roles.resolve(Role.SUBGROUP_LEADER, region["maths"]).users == []


def test_delegation_adds_substitute_for_its_period(region, make_user):
    officer = make_user("officer", roles=((Role.SCHOOL_OFFICER, region["school"]),))
    colleague = make_user("colleague", roles=((Role.TEACHER, region["school"]),))
    delegate(officer, colleague, role=Role.SCHOOL_OFFICER, valid_from=TODAY, valid_to=TODAY + timedelta(days=7))

    resolution = roles.resolve(Role.SCHOOL_OFFICER, region["maths"])
    assert logins(resolution) == ["colleague", "officer"]
    substitute = next(h for h in resolution.holders if h.user == colleague)
    assert substitute.on_behalf_of == officer
    assert logins(roles.resolve(Role.SCHOOL_OFFICER, region["maths"], on=TODAY + timedelta(days=8))) == ["officer"]
    held = roles.roles_of(colleague)
    assert {(h.role, h.org.code, h.delegated_by) for h in held} == {
        (Role.TEACHER, "C1-K1-S1", None), (Role.SCHOOL_OFFICER, "C1-K1-S1", officer)}


def test_delegation_of_another_role_does_not_cover(region, make_user):
    officer = make_user("officer", roles=((Role.SCHOOL_OFFICER, region["school"]),
                                          (Role.PRINCIPAL, region["school"])))
    deputy = make_user("deputy")
    delegate(officer, deputy, role=Role.PRINCIPAL, valid_from=TODAY, valid_to=TODAY)
    assert logins(roles.resolve(Role.SCHOOL_OFFICER, region["school"])) == ["officer"]
    assert logins(roles.resolve(Role.PRINCIPAL, region["school"])) == ["deputy", "officer"]


def test_delegation_of_all_roles(region, make_user):
    officer = make_user("officer", roles=((Role.SCHOOL_OFFICER, region["school"]),
                                          (Role.PRINCIPAL, region["school"])))
    deputy = make_user("deputy")
    delegation = delegate(officer, deputy, role=None, valid_from=TODAY - timedelta(days=1), valid_to=TODAY)
    assert "deputy" in logins(roles.resolve(Role.SCHOOL_OFFICER, region["school"]))
    assert "deputy" in logins(roles.resolve(Role.PRINCIPAL, region["school"]))
    delegation.revoke()
    assert "deputy" not in logins(roles.resolve(Role.PRINCIPAL, region["school"]))


def test_role_strings_are_accepted(region, make_user):
    make_user("leader", roles=(("subgroup_leader", region["maths"]),))
    assert logins(roles.resolve("subgroup_leader", region["maths"])) == ["leader"]


def test_administration_is_held_at_the_top_only(region, make_user):
    import pytest

    from webapp.services.errors import ServiceError

    user = make_user("county_admin")
    with pytest.raises(ServiceError) as refused:
        assign_role(user, Role.ADMIN, region["county"])
    assert refused.value.field == "org"
    assign_role(user, Role.ADMIN, region["city"])
