"""The administration area: access, organisations, users, role assignments, delegations, audit trail."""

import html
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, Delegation, Org, RoleAssignment, User
from webapp.services.users import delegate

TODAY = date.today()


@pytest.fixture
def admin(make_user, region):
    return make_user("admin1", display_name="管理员", roles=(("admin", region["city"]),))


@pytest.fixture
def admin_client(client, admin):
    """Logged in as an administrator, pages in English so messages can be matched."""
    client.login("admin1")
    client.post_form("/auth/language", {"locale": "en"})
    return client


@pytest.fixture
def teachers(make_user, region):
    """Two teachers of the first school; the first also leads the maths subgroup."""
    t1 = make_user("tea1", display_name="张老师", org=region["school"], phone="13800000001",
                   roles=(("teacher", region["school"]), ("subgroup_leader", region["maths"])))
    t2 = make_user("tea2", display_name="李老师", org=region["school"], roles=(("teacher", region["school"]),))
    return t1, t2


def events(db, action):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).all()


def fresh(db, model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


# Access --------------------------------------------------------------------------------------------


def admin_urls(region, user_id, assignment_id, delegation_id):
    org, event = region["school"].id, 1
    gets = ["/admin/", "/admin/audit", "/admin/orgs", "/admin/orgs?q=x", "/admin/orgs/new", f"/admin/orgs/{org}",
            f"/admin/orgs/{org}/edit", f"/admin/orgs/{org}/deactivate", "/admin/users", "/admin/users/new",
            f"/admin/users/{user_id}", f"/admin/users/{user_id}/edit", f"/admin/users/{user_id}/password",
            f"/admin/users/{user_id}/deactivate", f"/admin/users/subgroup-options?org={org}", "/admin/assignments",
            "/admin/assignments/new", f"/admin/assignments/{assignment_id}/edit",
            f"/admin/assignments/{assignment_id}/end", "/admin/delegations", "/admin/delegations/new",
            f"/admin/delegations/{delegation_id}/edit", f"/admin/delegations/{delegation_id}/revoke",
            "/admin/import", "/admin/import/orgs", "/admin/import/users/template.csv",
            f"/admin/import/results/{event}", f"/admin/import/results/{event}/rejected.csv"]
    posts = ["/admin/orgs/new", f"/admin/orgs/{org}/edit", f"/admin/orgs/{org}/deactivate",
             f"/admin/orgs/{org}/activate", "/admin/users/new", f"/admin/users/{user_id}/edit",
             f"/admin/users/{user_id}/password", f"/admin/users/{user_id}/deactivate",
             f"/admin/users/{user_id}/activate", "/admin/assignments/new", f"/admin/assignments/{assignment_id}/edit",
             f"/admin/assignments/{assignment_id}/end", "/admin/delegations/new",
             f"/admin/delegations/{delegation_id}/edit", f"/admin/delegations/{delegation_id}/revoke",
             "/admin/import/users"]
    return gets, posts


def test_everybody_but_admins_gets_403(client, db, region, teachers, make_user):
    t1, t2 = teachers
    make_user("officer", roles=(("school_officer", region["school"]), ("designer", region["city"])))
    assignment = db.session.scalar(sa.select(RoleAssignment).where(RoleAssignment.user_id == t1.id))
    delegation = delegate(t1, t2, role="subgroup_leader", valid_from=TODAY, valid_to=TODAY)
    gets, posts = admin_urls(region, t1.id, assignment.id, delegation.id)
    client.login("officer")
    token = client.csrf_token()
    for url in gets:
        assert client.get(url).status_code == 403, url
    for url in posts:
        assert client.post(url, data={"csrf_token": token}).status_code == 403, url


def heading(page: str) -> str:
    """The text of the page's ``<h1>``, tags and runs of white space removed."""
    match = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.DOTALL)
    assert match, "no <h1>"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_every_page_renders_in_the_default_language(client, db, region, admin, teachers):
    """Each page in Chinese, about what its address names (an import result only exists after an import)."""
    t1, t2 = teachers
    assignment = db.session.scalar(sa.select(RoleAssignment).where(RoleAssignment.user_id == t1.id,
                                                                   RoleAssignment.role == "teacher"))
    delegation = delegate(t1, t2, role="subgroup_leader", valid_from=TODAY, valid_to=TODAY)
    gets, _ = admin_urls(region, t1.id, assignment.id, delegation.id)
    org, user = region["school"].id, t1.id
    headings = {
        "/admin/": "系统管理", "/admin/audit": "操作日志", "/admin/orgs": "机构", "/admin/orgs?q=x": "机构",
        "/admin/orgs/new": "新建机构", f"/admin/orgs/{org}": "一县一中 在用",
        f"/admin/orgs/{org}/edit": "编辑 一县一中", f"/admin/orgs/{org}/deactivate": "确定停用 一县一中 吗？",
        "/admin/users": "用户", "/admin/users/new": "新建用户",
        f"/admin/users/{user}": "张老师 在用", f"/admin/users/{user}/edit": "编辑 张老师",
        f"/admin/users/{user}/password": "重置 张老师 的密码",
        f"/admin/users/{user}/deactivate": "确定停用 张老师 吗？",
        "/admin/assignments": "角色分配", "/admin/assignments/new": "分配角色",
        f"/admin/assignments/{assignment.id}/edit": "编辑角色分配",
        f"/admin/assignments/{assignment.id}/end": "确定终止 张老师 在 一县一中 担任的“教师”角色吗？",
        "/admin/delegations": "代理", "/admin/delegations/new": "新建代理",
        f"/admin/delegations/{delegation.id}/edit": "编辑代理",
        f"/admin/delegations/{delegation.id}/revoke": "确定撤销 张老师 对 李老师 的委托吗？",
        "/admin/import": "批量导入", "/admin/import/orgs": "导入机构",
    }
    client.login("admin1")
    for url in gets:
        if "/results/" in url:
            continue
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        if url in headings:
            assert '<html lang="zh' in page, url
            assert heading(page) == headings[url], url
    assert "数学备课组" in client.get(f"/admin/users/subgroup-options?org={org}").get_data(as_text=True)
    template = client.get("/admin/import/users/template.csv").get_data(as_text=True)
    assert template.lstrip("\ufeff").startswith("login,display_name,")
    assert set(headings) == {url for url in gets if "subgroup-options" not in url and not url.endswith(".csv")
                             and "/results/" not in url}


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_delegated_admin_role_counts(client, db, region, admin, make_user):
    make_user("deputy")
    deputy = db.session.scalar(sa.select(User).where(User.login == "deputy"))
    delegate(admin, deputy, role="admin", valid_from=TODAY, valid_to=TODAY)
    client.login("deputy")
    response = client.get("/admin/")
    assert response.status_code == 200 and heading(response.get_data(as_text=True)) == "系统管理"
    assert client.get("/admin/users").status_code == 200


# Dashboard and audit trail -------------------------------------------------------------------------


def test_dashboard_links_every_area_and_shows_recent_activity(admin_client):
    page = admin_client.get("/admin/").get_data(as_text=True)
    for path in ("/admin/orgs", "/admin/users", "/admin/assignments", "/admin/delegations", "/admin/import",
                 "/admin/audit"):
        assert f'href="{path}"' in page
    assert "Logged in" in page  # the administrator's own log-in is the latest event


def test_audit_trail_filters_by_action_prefix_and_object(admin_client, region):
    admin_client.post_form("/admin/orgs/new", {"name": "新学校", "code": "NEW-S", "type": "school",
                                               "parent": region["county"].id})
    page = admin_client.get("/admin/audit?action=org").get_data(as_text=True)
    assert ">Created organisation</td>" in page and ">新学校</a>" in page and ">Logged in</td>" not in page
    assert "新学校 (NEW-S)" not in page, "the organisation is named, not coded"
    assert '<td translate="no">NEW-S</td>' in page, "its code is shown as what it is, a code field's value"
    page = admin_client.get("/admin/audit?action=auth.login").get_data(as_text=True)
    assert ">Logged in</td>" in page and ">Created organisation</td>" not in page
    page = admin_client.get(f"/admin/audit?object_type=org&object_id={region['city'].id}").get_data(as_text=True)
    assert "No audit events match" in page


# Organisations -------------------------------------------------------------------------------------


def test_tree_shows_every_level_and_greys_inactive(admin_client, db, region, make_org):
    old = make_org("school", region["county2"], code="OLD", name="撤并学校")
    old.active = False
    db.session.flush()
    page = admin_client.get("/admin/orgs").get_data(as_text=True)
    for org in region.values():
        assert org.name in page
    assert 'class="link-secondary">撤并学校' in page and "Inactive" in page
    assert "<details" in page


def test_search_lists_matches_with_their_ancestors(admin_client, region):
    page = admin_client.get("/admin/orgs?q=备课组").get_data(as_text=True)
    assert "数学备课组" in page and "语文备课组" in page and "测试市 › 一县 › 一县一中" in page
    assert "二县实验小学" not in page
    assert "No organisation matches" in admin_client.get("/admin/orgs?q=nothing-like-this").get_data(as_text=True)


def test_create_org_under_parent(admin_client, db, region):
    response = admin_client.post_form("/admin/orgs/new", {
        "name": "一县二中", "code": "C1-K1-S2", "type": "school", "parent": region["county"].id, "stage": "junior",
        "valid_from": "2025-09-01"})
    assert response.status_code == 302
    org = db.session.scalar(sa.select(Org).where(Org.code == "C1-K1-S2"))
    assert org.parent_id == region["county"].id and org.path == f"{region['county'].path}{org.id}/"
    assert org.depth == 2 and org.valid_from == date(2025, 9, 1) and org.stage.value == "junior"
    [event] = events(db, "org.create")
    assert event.after["code"] == "C1-K1-S2" and event.actor.login == "admin1"


def test_create_org_reports_wrong_parent_and_taken_code_on_the_fields(admin_client, db, region):
    page = admin_client.post_form("/admin/orgs/new", {"name": "组", "code": "G1", "type": "subgroup",
                                                      "parent": region["county"].id}).get_data(as_text=True)
    assert "An organisation of this type cannot sit under that parent." in page and "is-invalid" in page
    page = admin_client.post_form("/admin/orgs/new", {"name": "x", "code": "C1", "type": "county",
                                                      "parent": region["city"].id}).get_data(as_text=True)
    assert "The code C1 is already in use." in page
    page = admin_client.post_form("/admin/orgs/new", {"name": "", "code": "has space", "type": ""}).get_data(
        as_text=True)
    assert "Enter the name." in page and "The code cannot contain spaces." in page and "Choose the type." in page
    assert events(db, "org.create") == []


def test_moving_an_org_moves_its_descendants(admin_client, db, region):
    school, county2 = region["school"], region["county2"]
    response = admin_client.post_form(f"/admin/orgs/{school.id}/edit", {
        "name": school.name, "code": school.code, "type": "school", "parent": county2.id, "stage": "senior"})
    assert response.status_code == 302
    school = fresh(db, Org, school.id)
    maths = db.session.get(Org, region["maths"].id)
    assert school.parent_id == county2.id and school.path == f"{county2.path}{school.id}/"
    assert maths.path == f"{county2.path}{school.id}/{maths.id}/" and maths.depth == 3
    [event] = events(db, "org.update")
    assert event.before["parent_id"] == region["county"].id and event.after["parent_id"] == county2.id


def test_an_org_cannot_move_under_its_own_descendant(admin_client, db, region):
    county = region["county"]
    page = admin_client.get(f"/admin/orgs/{county.id}/edit").get_data(as_text=True)
    assert f'value="{region["school"].id}"' not in page, "descendants are not offered as parents"
    page = admin_client.post_form(f"/admin/orgs/{county.id}/edit", {
        "name": county.name, "code": county.code, "type": "county", "parent": region["school"].id}).get_data(
        as_text=True)
    assert "Choose one of the listed options." in page
    assert fresh(db, Org, county.id).parent_id == region["city"].id


def test_deactivate_and_reactivate_org(admin_client, db, region):
    school, maths = region["school"], region["maths"]
    assert "Deactivate" in admin_client.get(f"/admin/orgs/{maths.id}/deactivate").get_data(as_text=True)
    response = admin_client.post_form(f"/admin/orgs/{school.id}/deactivate", follow_redirects=True)
    assert "Deactivate its 2 active sub-organisations first." in response.get_data(as_text=True)
    assert fresh(db, Org, school.id).active

    admin_client.post_form(f"/admin/orgs/{maths.id}/deactivate")
    assert not fresh(db, Org, maths.id).active
    admin_client.post_form(f"/admin/orgs/{region['chinese'].id}/deactivate")
    admin_client.post_form(f"/admin/orgs/{school.id}/deactivate")
    response = admin_client.post_form(f"/admin/orgs/{maths.id}/activate", follow_redirects=True)
    assert "Reactivate the parent organisation 一县一中 first." in response.get_data(as_text=True)
    admin_client.post_form(f"/admin/orgs/{school.id}/activate")
    admin_client.post_form(f"/admin/orgs/{maths.id}/activate")
    assert fresh(db, Org, maths.id).active and fresh(db, Org, school.id).active
    assert [e.action for e in events(db, "org.deactivate")] == ["org.deactivate"] * 3
    assert len(events(db, "org.activate")) == 2


def test_org_detail_lists_role_holders_and_sub_organisations(admin_client, region, teachers):
    page = admin_client.get(f"/admin/orgs/{region['school'].id}").get_data(as_text=True)
    assert "张老师" in page and "李老师" in page and "Teacher" in page
    assert "数学备课组" in page and "语文备课组" in page and "2 people (including below)" in page


# Users ---------------------------------------------------------------------------------------------


def user_form(region, **changes):
    values = {"login": "wang.wu", "display_name": "王五", "password": "Chushi2025!", "phone": "139 0000 0000",
              "email": "wangwu@example.com", "org": region["school"].id, "subgroup": region["maths"].id,
              "subject": "数学", "stage": "senior", "title": "一级教师", "hire_date": "2019-09-01",
              "is_class_teacher": "y", "backbone_level": "county"}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_create_user_with_teacher_attributes_and_primary_subgroup(admin_client, db, region):
    response = admin_client.post_form("/admin/users/new", user_form(region))
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.login == "wang.wu"))
    assert user.org_id == region["school"].id and user.hire_date == date(2019, 9, 1) and user.is_class_teacher
    assert user.backbone_level.value == "county" and user.stage.value == "senior"
    assert [(m.org_id, m.is_primary) for m in user.memberships] == [(region["maths"].id, True)]
    [event] = events(db, "user.create")
    assert event.after["primary_subgroup_id"] == region["maths"].id and "password" not in str(event.after)
    admin_client.post_form("/auth/logout")
    admin_client.login("wang.wu", "Chushi2025!")


def test_create_user_errors_show_on_the_fields(admin_client, db, region, teachers):
    page = admin_client.post_form("/admin/users/new", user_form(region, login="tea1", password="short")).get_data(
        as_text=True)
    assert "The password must have at least 8 characters." in page
    page = admin_client.post_form("/admin/users/new", user_form(region, login="TEA1")).get_data(as_text=True)
    assert "The login name TEA1 is already taken." in page
    page = admin_client.post_form("/admin/users/new", user_form(
        region, login="x y", subgroup=region["maths"].id, org=region["school2"].id, email="nope",
        hire_date="2019-13-01")).get_data(as_text=True)
    assert "Enter a valid email address." in page and "Enter a date like 2025-09-01." in page
    assert "Choose one of the listed options." in page, "maths is not a subgroup of school2"
    assert events(db, "user.create") == []


def test_edit_user_changes_profile_and_subgroup(admin_client, db, region, teachers):
    t1, _ = teachers
    response = admin_client.post_form(f"/admin/users/{t1.id}/edit", user_form(
        region, login="tea1", display_name="张三老师", password=None, subgroup=region["chinese"].id, stage="",
        backbone_level="", is_class_teacher=None))
    assert response.status_code == 302
    user = fresh(db, User, t1.id)
    assert user.display_name == "张三老师" and user.stage is None and not user.is_class_teacher
    assert [(m.org_id, m.is_primary) for m in user.memberships] == [(region["chinese"].id, True)]
    admin_client.post_form(f"/admin/users/{t1.id}/edit", user_form(region, login="tea1", password=None, subgroup=""))
    assert not any(m.is_primary for m in fresh(db, User, t1.id).memberships)
    assert len(events(db, "user.update")) == 2


def test_edit_user_sets_training_tier_and_employment_type(admin_client, db, region, teachers):
    t1, _ = teachers
    form = admin_client.get(f"/admin/users/{t1.id}/edit").get_data(as_text=True)
    assert 'name="training_tier"' in form and 'name="employment_type"' in form
    assert ">Tier 2</option>" in form and ">Contract teacher</option>" in form and "— not recorded —" in form
    response = admin_client.post_form(f"/admin/users/{t1.id}/edit", user_form(
        region, login="tea1", display_name="张老师", password=None, training_tier="1", employment_type="contract"))
    assert response.status_code == 302
    user = fresh(db, User, t1.id)
    assert user.training_tier == 1 and user.employment_type == "contract"
    [event] = events(db, "user.update")
    assert (event.before["training_tier"], event.after["training_tier"]) == (None, 1)
    assert (event.before["employment_type"], event.after["employment_type"]) == (None, "contract")
    page = admin_client.get(f"/admin/users/{t1.id}").get_data(as_text=True)
    assert "Tier 1" in page and "Contract teacher" in page and ">contract<" not in page
    form = admin_client.get(f"/admin/users/{t1.id}/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="1">|<option value="1" selected>', form), "the saved tier is chosen"

    admin_client.post_form(f"/admin/users/{t1.id}/edit", user_form(
        region, login="tea1", display_name="张老师", password=None, training_tier="", employment_type=""))
    user = fresh(db, User, t1.id)
    assert user.training_tier is None and user.employment_type is None
    assert "Not recorded" in admin_client.get(f"/admin/users/{t1.id}").get_data(as_text=True)


def test_create_user_with_training_tier_and_employment_type(admin_client, db, region):
    response = admin_client.post_form("/admin/users/new", user_form(region, training_tier="3",
                                                                    employment_type="established"))
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.login == "wang.wu"))
    assert (user.training_tier, user.employment_type) == (3, "established")
    [event] = events(db, "user.create")
    assert (event.after["training_tier"], event.after["employment_type"]) == (3, "established")


def test_a_bad_training_tier_or_employment_type_changes_nothing(admin_client, db, region, teachers):
    t1, _ = teachers
    t1.training_tier, t1.employment_type = 2, "established"
    db.session.commit()
    response = admin_client.post_form(f"/admin/users/{t1.id}/edit", user_form(
        region, login="tea1", display_name="改了名", password=None, training_tier="4", employment_type="permanent"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "The training tier is 1, 2 or 3." in page and "Choose one of the listed options." in page
    user = fresh(db, User, t1.id)
    assert (user.display_name, user.training_tier, user.employment_type) == ("张老师", 2, "established")
    assert events(db, "user.update") == []
    response = admin_client.post_form("/admin/users/new", user_form(region, training_tier="0"))
    assert "The training tier is 1, 2 or 3." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User).where(User.login == "wang.wu")) is None


def test_tier_and_employment_type_are_shown_in_chinese_words(client, db, region, admin, teachers):
    """The form, the user's page and the audit trail in the default language: words, never the codes."""
    t1, _ = teachers
    client.login("admin1")
    form = client.get(f"/admin/users/{t1.id}/edit").get_data(as_text=True)
    assert "研修层级" in form and "用工类型" in form and "— 未登记 —" in form
    assert ">二层级</option>" in form and ">公办在编</option>" in form and ">合同制（聘用）</option>" in form
    assert "未登记" in client.get(f"/admin/users/{t1.id}").get_data(as_text=True)
    client.post_form(f"/admin/users/{t1.id}/edit", user_form(
        region, login="tea1", display_name="张老师", password=None, training_tier="1", employment_type="established"))
    page = client.get(f"/admin/users/{t1.id}").get_data(as_text=True)
    assert "一层级" in page and "公办在编" in page
    trail = client.get("/admin/audit").get_data(as_text=True)
    assert "研修层级" in trail and "一层级" in trail and "用工类型" in trail and "公办在编" in trail
    assert "established" not in trail and "training_tier" not in trail and "employment_type" not in trail


def test_user_list_search_filters_and_pagination(admin_client, app, db, region, teachers, make_user, monkeypatch):
    make_user("k2teacher", display_name="赵老师", org=region["school2"], roles=(("teacher", region["school2"]),))
    make_user("gone", display_name="钱老师", org=region["school2"]).active = False
    db.session.flush()

    def names(url):
        return {n for n in ("张老师", "李老师", "赵老师", "钱老师")
                if n in admin_client.get(url).get_data(as_text=True)}

    assert names(f"/admin/users?org={region['county'].id}") == {"张老师", "李老师"}
    assert names(f"/admin/users?org={region['city'].id}&role=teacher") == {"张老师", "李老师", "赵老师"}
    assert names("/admin/users?role=subgroup_leader") == {"张老师"}
    assert names("/admin/users?active=0") == {"钱老师"}
    assert names("/admin/users?q=13800000001") == {"张老师"}
    assert names("/admin/users?q=K2TEACH") == {"赵老师"}
    assert "No user matches" in admin_client.get("/admin/users?q=nobody").get_data(as_text=True)

    monkeypatch.setitem(app.config["YANXUN"], "PAGE_SIZE", 2)
    first = admin_client.get("/admin/users").get_data(as_text=True)
    assert "5 in all" in first and "page=3" in first
    assert len(names("/admin/users?page=3")) == 1


def test_password_reset(admin_client, db, teachers):
    t1, _ = teachers
    page = admin_client.post_form(f"/admin/users/{t1.id}/password", {"password": "abcdefghij",
                                                                       "confirm": "abcdefghij"}).get_data(as_text=True)
    assert "The password must mix letters with digits or symbols." in page
    page = admin_client.post_form(f"/admin/users/{t1.id}/password", {"password": "Neu-2025-pass",
                                                                       "confirm": "other"}).get_data(as_text=True)
    assert "The two passwords differ." in page
    response = admin_client.post_form(f"/admin/users/{t1.id}/password", {"password": "Neu-2025-pass",
                                                                           "confirm": "Neu-2025-pass"})
    assert response.status_code == 302 and len(events(db, "user.password_reset")) == 1
    admin_client.post_form("/auth/logout")
    admin_client.login("tea1", "Neu-2025-pass")


def test_deactivate_and_reactivate_user_but_never_yourself(admin_client, db, admin, teachers):
    t1, _ = teachers
    response = admin_client.post_form(f"/admin/users/{admin.id}/deactivate", follow_redirects=True)
    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    assert fresh(db, User, admin.id).active
    admin_client.post_form(f"/admin/users/{t1.id}/deactivate")
    assert not fresh(db, User, t1.id).active
    admin_client.post_form(f"/admin/users/{t1.id}/activate")
    assert fresh(db, User, t1.id).active
    assert len(events(db, "user.deactivate")) == 1 and len(events(db, "user.activate")) == 1


def test_user_detail_lists_assignments_and_delegations(admin_client, teachers):
    t1, t2 = teachers
    delegate(t1, t2, role="subgroup_leader", valid_from=TODAY, valid_to=TODAY + timedelta(days=5), reason="培训")
    page = admin_client.get(f"/admin/users/{t1.id}").get_data(as_text=True)
    assert "Subgroup leader" in page and "数学备课组" in page and "李老师" in page and "Current" in page


# Role assignments ----------------------------------------------------------------------------------


def test_assign_edit_and_end_a_role(admin_client, db, region, teachers):
    _, t2 = teachers
    response = admin_client.post_form("/admin/assignments/new", {
        "user": "TEA2", "role": "subgroup_leader", "org": region["chinese"].id, "valid_from": TODAY.isoformat()})
    assert response.status_code == 302
    assignment = db.session.scalar(sa.select(RoleAssignment).where(RoleAssignment.user_id == t2.id,
                                                                   RoleAssignment.role == "subgroup_leader"))
    assert assignment.org_id == region["chinese"].id

    page = admin_client.post_form("/admin/assignments/new", {
        "user": "tea2", "role": "subgroup_leader", "org": region["chinese"].id}).get_data(as_text=True)
    assert "李老师 already holds this role at 语文备课组 for an overlapping period." in page

    admin_client.post_form(f"/admin/assignments/{assignment.id}/edit", {
        "role": "subgroup_leader", "org": region["maths"].id, "valid_from": TODAY.isoformat(),
        "valid_to": (TODAY + timedelta(days=30)).isoformat()})
    assignment = fresh(db, RoleAssignment, assignment.id)
    assert assignment.org_id == region["maths"].id and assignment.valid_to == TODAY + timedelta(days=30)

    admin_client.post_form(f"/admin/assignments/{assignment.id}/end", follow_redirects=True)
    assignment = fresh(db, RoleAssignment, assignment.id)
    assert not assignment.active and assignment.valid_to == TODAY
    assert [len(events(db, a)) for a in ("role.assign", "role.update", "role.end")] == [1, 1, 1]
    listed = admin_client.get("/admin/assignments?role=subgroup_leader").get_data(as_text=True)
    assert "李老师" not in listed
    assert "李老师" in admin_client.get("/admin/assignments?role=subgroup_leader&ended=1").get_data(as_text=True)


def test_assignment_needs_a_known_active_user_and_an_active_org(admin_client, db, region, teachers, make_org):
    closed = make_org("school", region["county"], code="CLOSED", name="停办学校")
    closed.active = False
    db.session.flush()
    page = admin_client.post_form("/admin/assignments/new", {
        "user": "nobody", "role": "teacher", "org": region["school"].id}).get_data(as_text=True)
    assert "Nobody has the login name nobody." in page
    page = admin_client.post_form("/admin/assignments/new", {
        "user": "tea1", "role": "teacher", "org": closed.id}).get_data(as_text=True)
    assert "Choose one of the listed options." in page, "deactivated organisations are not offered"
    page = admin_client.post_form("/admin/assignments/new", {
        "user": "tea1", "role": "teacher", "org": region["school"].id, "valid_from": "2026-02-01",
        "valid_to": "2026-01-01"}).get_data(as_text=True)
    assert "The end date must not be before the start date." in page
    assert events(db, "role.assign") == []


def test_assignment_list_filters_by_org_subtree_and_person(admin_client, region, teachers):
    page = admin_client.get(f"/admin/assignments?org={region['maths'].id}").get_data(as_text=True)
    assert "张老师" in page and "李老师" not in page
    page = admin_client.get(f"/admin/assignments?org={region['county'].id}&q=李").get_data(as_text=True)
    assert "李老师" in page and "张老师" not in page


# Delegations ---------------------------------------------------------------------------------------


def delegation_form(**changes):
    values = {"from_user": "tea1", "to_user": "tea2", "role": "subgroup_leader", "valid_from": TODAY.isoformat(),
              "valid_to": (TODAY + timedelta(days=7)).isoformat(), "reason": "外出培训"}
    values.update(changes)
    return values


def test_create_edit_and_revoke_a_delegation(admin_client, db, teachers):
    t1, t2 = teachers
    response = admin_client.post_form("/admin/delegations/new", delegation_form())
    assert response.status_code == 302 and "when=current" in response.headers["Location"]
    delegation = db.session.scalar(sa.select(Delegation).where(Delegation.from_user_id == t1.id))
    assert delegation.to_user_id == t2.id and delegation.role.value == "subgroup_leader"
    assert "外出培训" in admin_client.get("/admin/delegations").get_data(as_text=True)

    admin_client.post_form(f"/admin/delegations/{delegation.id}/edit", delegation_form(
        role="", valid_from=(TODAY + timedelta(days=1)).isoformat()))
    delegation = fresh(db, Delegation, delegation.id)
    assert delegation.role is None and delegation.valid_from == TODAY + timedelta(days=1)
    assert "外出培训" in admin_client.get("/admin/delegations?when=future").get_data(as_text=True)

    admin_client.post_form(f"/admin/delegations/{delegation.id}/revoke")
    delegation = fresh(db, Delegation, delegation.id)
    assert not delegation.active and delegation.revoked_at is not None
    assert "外出培训" in admin_client.get("/admin/delegations?when=past").get_data(as_text=True)
    assert [len(events(db, a)) for a in ("delegation.create", "delegation.update", "delegation.revoke")] == [1, 1, 1]


@pytest.mark.parametrize(("changes", "message"), [
    ({"to_user": "tea1"}, "A person cannot delegate to themselves."),
    ({"to_user": "ghost"}, "Nobody has the login name ghost."),
    ({"from_user": "tea2"}, "李老师 does not hold this role during the delegation period."),
    ({"valid_to": (TODAY - timedelta(days=1)).isoformat()}, "The end date must not be before the start date."),
    ({"valid_from": (TODAY - timedelta(days=9)).isoformat(), "valid_to": (TODAY - timedelta(days=2)).isoformat()},
     "The last day is in the past"),
    ({"valid_to": ""}, "Enter the last day."),
])
def test_delegation_is_validated(admin_client, db, teachers, changes, message):
    page = admin_client.post_form("/admin/delegations/new", delegation_form(**changes)).get_data(as_text=True)
    assert message in page
    assert events(db, "delegation.create") == []


def test_delegation_to_a_deactivated_user_or_from_someone_without_roles(admin_client, db, teachers, make_user):
    _, t2 = teachers
    t2.active = False
    make_user("noroles")
    db.session.flush()
    page = html.unescape(admin_client.post_form("/admin/delegations/new", delegation_form()).get_data(as_text=True))
    assert "The substitute's account is deactivated." in page
    page = admin_client.post_form("/admin/delegations/new", delegation_form(from_user="noroles", to_user="tea1",
                                                                            role="")).get_data(as_text=True)
    assert "holds no role during the delegation period" in page


def test_subgroup_options_follow_the_chosen_org(admin_client, region):
    page = admin_client.get(f"/admin/users/subgroup-options?org={region['school'].id}").get_data(as_text=True)
    assert "数学备课组" in page and "语文备课组" in page
    page = admin_client.get(f"/admin/users/subgroup-options?org={region['school2'].id}").get_data(as_text=True)
    assert "备课组" not in page


def test_the_last_administrator_cannot_be_removed(app, db, make_user, region):
    import sqlalchemy as sa

    from webapp.models import Role, RoleAssignment

    only = make_user("onlyadmin", locale="en", roles=((Role.ADMIN, region["city"]),))
    client = app.test_client()
    client.login("onlyadmin")
    assignment = db.session.scalar(sa.select(RoleAssignment).where(RoleAssignment.user_id == only.id))
    response = client.post_form(f"/admin/assignments/{assignment.id}/end",
                                {"csrf_token": client.csrf_token("/admin/")}, follow_redirects=True)
    assert "last administrator" in response.get_data(as_text=True)
    db.session.refresh(assignment)
    assert assignment.active
    second = make_user("secondadmin", roles=((Role.ADMIN, region["city"]),))
    db.session.commit()
    client.post_form(f"/admin/assignments/{assignment.id}/end", {"csrf_token": client.csrf_token("/")})
    db.session.refresh(assignment)
    assert not assignment.active, "with another administrator it may end"
    assert client.get("/admin/").status_code == 403
    # The second is now the last one: an ended assignment is no other administrator.
    from flask_babel import force_locale

    from webapp.services.errors import ServiceError
    from webapp.services.users import end_assignment, set_user_active

    last = db.session.scalar(sa.select(RoleAssignment).where(RoleAssignment.user_id == second.id))
    with force_locale("en"):
        for remove in (lambda: end_assignment(last), lambda: set_user_active(second, False)):
            with pytest.raises(ServiceError, match="last administrator"):
                remove()
    assert last.active and second.active
