"""Organisation selects at city scale: beyond a limit they list the chosen one and a search box fills them."""

import re

import pytest
import sqlalchemy as sa

from webapp.admin import common
from webapp.models import RoleAssignment


@pytest.fixture
def city_scale(monkeypatch):
    monkeypatch.setattr(common, "ORG_SELECT_LIMIT", 3)  # the test region has 7 organisations


def options(page: str, select_id: str) -> list[str]:
    select = re.search(rf'<select[^>]*id="{select_id}".*?</select>', page, re.S).group(0)
    return re.findall(r'<option[^>]*value="([^"]*)"', select)


def test_a_long_list_is_searched_not_listed(admin_client, region, city_scale):
    page = admin_client.get("/admin/assignments/new").get_data(as_text=True)
    assert options(page, "org") == [""], "nothing listed but the blank"
    url = re.search(r'name="org_q"[^>]*hx-get="([^"]+)"', page, re.S).group(1).replace("&amp;", "&")
    assert 'form="choice-search-detached"' in page, "the search text is never submitted with the form"

    found = admin_client.get(url + "&org_q=一县").get_data(as_text=True)
    values = re.findall(r'<option[^>]*value="([^"]*)"', found)
    assert values[0] == "" and {int(v) for v in values[1:]} == {region["county"].id, region["school"].id}
    assert "一县一中 · School · 一县<" in found, "a match is named with its type and parent, without its code"
    assert re.findall(r'<option[^>]*value="([^"]*)"', admin_client.get(url + "&org_q=").get_data(as_text=True)) == [
        ""], "an empty search gives the blank only"


def test_a_chosen_organisation_is_accepted_and_kept(admin_client, db, region, make_user, city_scale):
    make_user("tea2", display_name="李老师", org=region["school"], roles=(("teacher", region["school"]),))
    response = admin_client.post_form("/admin/assignments/new", {
        "user": "tea2", "role": "subgroup_leader", "org": region["chinese"].id})
    assert response.status_code == 302
    assignment = db.session.scalar(sa.select(RoleAssignment).where(RoleAssignment.role == "subgroup_leader",
                                                                   RoleAssignment.org_id == region["chinese"].id))
    edit = admin_client.get(f"/admin/assignments/{assignment.id}/edit").get_data(as_text=True)
    assert options(edit, "org") == ["", str(region["chinese"].id)], "the current one is listed"


def test_what_may_not_be_chosen_is_refused_and_not_offered(admin_client, db, region, make_org, city_scale):
    closed = make_org("school", region["county"], code="C1-K1-X", name="已撤并学校")
    closed.active = False
    db.session.flush()
    page = admin_client.post_form("/admin/assignments/new", {
        "user": "admin1", "role": "teacher", "org": closed.id}).get_data(as_text=True)
    assert "Choose one of the listed options." in page

    page = admin_client.get("/admin/users/new").get_data(as_text=True)
    url = re.search(r'name="org_q"[^>]*hx-get="([^"]+)"', page, re.S).group(1).replace("&amp;", "&")
    found = admin_client.get(url + "&org_q=C1-K1").get_data(as_text=True)
    assert "备课组" not in found, "users belong to schools, not subgroups"
    assert "已撤并学校" not in found, "deactivated organisations are not offered"


def test_the_filters_search_too_and_keep_the_filter(admin_client, region, city_scale):
    page = admin_client.get(f"/admin/users?org={region['school'].id}").get_data(as_text=True)
    assert options(page, "f-org") == ["", str(region["school"].id)]
    assert 'name="org_q"' in page


def test_a_large_tree_loads_its_branches_when_opened(admin_client, app, region, make_user, monkeypatch):
    from webapp.admin import orgs as org_views

    monkeypatch.setattr(org_views, "ORG_TREE_LIMIT", 3)
    page = admin_client.get("/admin/orgs").get_data(as_text=True)
    assert "测试市" in page and "一县" in page and "二县" in page, "the top two levels"
    assert "一县一中" not in page, "schools wait until their county is opened"
    branch_url = f"/admin/orgs/{region['county'].id}/branch"
    assert f'hx-get="{branch_url}"' in page and "Open its page" in page
    assert "Expand all" not in page

    branch = admin_client.get(branch_url).get_data(as_text=True)
    assert "一县一中" in branch and "<html" not in branch
    assert f'hx-get="/admin/orgs/{region["school"].id}/branch"' in branch and "2 below" in branch
    subgroups = admin_client.get(f"/admin/orgs/{region['school'].id}/branch").get_data(as_text=True)
    assert "数学备课组" in subgroups and "语文备课组" in subgroups and "hx-get" not in subgroups
    assert admin_client.get("/admin/orgs/99999/branch").status_code == 404
    make_user("plain2", roles=(("teacher", region["school"]),))
    other = app.test_client()
    other.login("plain2")
    assert other.get(branch_url).status_code == 403
