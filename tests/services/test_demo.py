"""The demo region: every role held, reviewers resolvable for every teacher, idempotent, quick to seed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import ROLE_CODES, AuditEvent, Delegation, Membership, Org, OrgType, Role, RoleAssignment, User
from webapp.services.demo import DEMO_CITY_CODE, DEMO_LOGINS, DEMO_PASSWORD, seed_demo
from webapp.services.passwords import verify_password
from webapp.services.roles import resolve, roles_of

DAY = date.today()
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def demo(app) -> Iterator[str]:
    """Seed once for the whole module, inside a transaction rolled back at the end (as the ``db`` fixture does)."""
    from webapp.extensions import db

    with app.app_context():
        engine = db.engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        connection.begin_nested()
        db.engines[None] = connection
        try:
            yield seed_demo(DAY)
        finally:
            db.session.remove()
            db.engines[None] = engine
            transaction.rollback()
            connection.close()


@pytest.fixture
def session(demo):
    from webapp.extensions import db

    return db.session


def _user(session, login: str) -> User:
    return session.scalars(sa.select(User).where(User.login == login)).one()


def _holders_of(session, role: Role) -> list[RoleAssignment]:
    return list(session.scalars(sa.select(RoleAssignment).where(RoleAssignment.role == role)))


def _teachers(session) -> list[User]:
    return list(session.scalars(
        sa.select(User).join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role == Role.TEACHER).order_by(User.id)))


def _county_of(org: Org) -> Org:
    while org.type is not OrgType.COUNTY:
        org = org.parent
    return org


def test_summary_names_what_was_created(demo):
    assert "80 teachers" in demo
    assert "湘北市" in demo


def test_every_role_code_is_held_today(session):
    held = {a.role.value for a in session.scalars(sa.select(RoleAssignment)) if a.is_valid_on(DAY)}
    assert held == ROLE_CODES


def test_about_eighty_teachers_with_realistic_attributes(session):
    teachers = _teachers(session)
    assert len(teachers) == 80
    assert len({t.display_name for t in teachers}) == len(teachers)
    assert all(t.subject and t.stage and t.hire_date and t.org.type is OrgType.SCHOOL for t in teachers)
    assert {t.title for t in teachers} == {None, "二级教师", "一级教师", "高级教师"}
    new = [t for t in teachers if t.hire_date.year == DAY.year - (DAY.month < 9)]
    assert 5 <= len(new) <= 15
    assert all(t.title is None for t in new)
    assert 20 <= sum(t.is_class_teacher for t in teachers) <= 50
    assert 5 <= sum(t.backbone_level is not None for t in teachers) <= 30
    kinds = [t.employment_type for t in teachers]
    assert kinds.count("contract") == 1 and kinds.count("established") == len(teachers) - 1
    tiers = [t.training_tier for t in teachers]
    assert all(tiers.count(tier) >= 10 for tier in (1, 2, 3)) and None not in tiers
    assert all(t.training_tier == 1 for t in new), "new teachers start in the first tier"
    stages = {t.org.stage.value for t in teachers}
    assert {"kindergarten", "primary", "junior", "senior", "nine_year"} <= stages


def test_subgroups_are_named_by_stage(session):
    kinds = {(sg.parent.stage.value, sg.kind) for sg in session.scalars(
        sa.select(Org).where(Org.type == OrgType.SUBGROUP))}
    assert {("senior", "备课组"), ("junior", "教研组"), ("primary", "年级组"), ("kindergarten", "活动组")} <= kinds
    assert all(kind in {"备课组", "教研组", "年级组", "活动组"} for _, kind in kinds)


def test_each_teacher_reaches_their_own_leader_school_officer_and_county_officer(session):
    for teacher in _teachers(session):
        primaries = [m for m in teacher.memberships if m.is_primary]
        assert len(primaries) == 1, teacher.login
        subgroup, school = primaries[0].org, teacher.org
        assert subgroup.parent_id == school.id
        county = _county_of(school)

        leaders = resolve(Role.SUBGROUP_LEADER, subgroup, DAY)
        assert leaders.scope_org == subgroup, teacher.login
        assert leaders.users, teacher.login

        officers = resolve(Role.SCHOOL_OFFICER, subgroup, DAY)
        assert officers.scope_org == school, teacher.login
        assert officers.users, teacher.login
        assert all(u.org_id == school.id for u in officers.users)

        county_officers = resolve(Role.COUNTY_OFFICER, subgroup, DAY)
        assert county_officers.scope_org == county, teacher.login
        assert county_officers.users, teacher.login
        for officer in county_officers.users:  # they work in this county's centre, not the other county's
            assert officer.org.type is OrgType.INSTITUTE
            assert officer.org.parent_id == county.id


def test_county_officers_hold_the_role_at_the_county(session):
    for assignment in _holders_of(session, Role.COUNTY_OFFICER):
        assert assignment.org.type is OrgType.COUNTY
        assert assignment.user.org.parent_id == assignment.org_id


def test_the_current_delegation_shows_up_in_resolution(session):
    liufang, wanglei = _user(session, "liufang"), _user(session, "wanglei")
    subgroup = next(m.org for m in _user(session, "zhaoxue").memberships if m.is_primary)
    officers = resolve(Role.SCHOOL_OFFICER, subgroup, DAY)
    assert [(h.user, h.on_behalf_of) for h in officers.holders] == [(liufang, None), (wanglei, liufang)]
    assert any(h.role is Role.SCHOOL_OFFICER and h.delegated_by == liufang for h in roles_of(wanglei, DAY))


def test_the_expired_term_of_office_no_longer_counts(session):
    sunmei = _user(session, "sunmei")
    expired = [a for a in _holders_of(session, Role.SCHOOL_OFFICER) if a.user_id == sunmei.id]
    assert len(expired) == 1
    assert expired[0].valid_to < DAY
    officers = resolve(Role.SCHOOL_OFFICER, sunmei.org, DAY)
    assert [u.login for u in officers.users] == ["tangyun"]
    assert sunmei in resolve(Role.SCHOOL_OFFICER, sunmei.org, expired[0].valid_to).users


def test_a_second_call_returns_nothing_and_adds_nothing(session):
    models = (Org, User, RoleAssignment, Delegation, Membership, AuditEvent)

    def counts():
        return [session.scalar(sa.select(sa.func.count()).select_from(model)) for model in models]

    before = counts()
    assert seed_demo(DAY) == ""
    assert counts() == before
    assert session.scalar(sa.select(sa.func.count()).where(Org.code == DEMO_CITY_CODE)) == 1


def documented_logins() -> dict[str, str]:
    """README's "Demo logins" table: login -> who."""
    section = README.read_text(encoding="utf-8").split("### Demo logins", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([^`]+)` \| (.+?) \|$", section, re.MULTILINE))


def test_the_demo_password_opens_every_documented_login(session):
    assert documented_logins() == {login: f"{role}（{org_name}）" for login, role, org_name in DEMO_LOGINS}
    for login, _, org_name in DEMO_LOGINS:
        user = _user(session, login)
        assert user.active and user.org.name == org_name, login
        assert verify_password(user.password_hash, DEMO_PASSWORD), login
        assert not verify_password(user.password_hash, DEMO_PASSWORD + "x"), login


def test_a_new_teacher_sees_the_substitute_among_reviewers(app, demo):
    client = app.test_client()
    client.login("zhaoxue", DEMO_PASSWORD)
    page = client.get("/").get_data(as_text=True)
    for name in ("陈静", "刘芳", "王磊", "曹静"):
        assert name in page


def test_the_import_page_of_a_demo_install_lists_no_fake_import(app, demo):
    """The seed is recorded as what it is (demo data), not as a CSV import the import page cannot show."""
    client = app.test_client()
    client.login("admin", DEMO_PASSWORD)
    response = client.get("/admin/import")
    assert response.status_code == 200
    assert "湘北市" not in response.get_data(as_text=True)
    trail = client.get("/admin/audit").get_data(as_text=True)
    assert "创建演示数据" in trail
