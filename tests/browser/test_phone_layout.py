"""Every kind of page (but the task inbox and the applications, tested with their own story) fits a 390 px phone:
nothing wider than the screen, nothing scrolled or cut off sideways, with every <details> opened."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from webapp.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

WIDTH = 390
#: (login or None for a visitor, the pages of that person); the organisation and user pages are the city's and
#: the administrator's own (id 1 in a freshly seeded demo); org 19 is 北湖区实验小学 and user 45 李敏, likewise.
PAGES = [
    (None, ["/auth/login", "/verify", "/verify?code=AAAA-BBBB-CCCC-DDDD"]),
    ("limin", ["/", "/ledger/", "/ledger/?all=1", "/notifications/", "/auth/security", "/auth/password",
               "/auth/substitutes"]),
    ("liufang", ["/", "/ledger/school", "/auth/substitutes", "/ledger/overview"]),
    ("caojing", ["/", "/ledger/school", "/ledger/overview", "/ledger/overview?sort=name&period=cycle",
                 "/ledger/overview/teachers?org=19", "/ledger/overview/teachers/45"]),
    ("chenjing", ["/ledger/overview"]),
    ("tanjianhua", ["/ledger/overview"]),
    ("admin", ["/", "/admin/", "/admin/orgs", "/admin/orgs?expand=1", "/admin/orgs?q=小学", "/admin/orgs/1",
               "/admin/orgs/new", "/admin/users", "/admin/users/1", "/admin/users/1/edit", "/admin/users/new",
               "/admin/assignments", "/admin/assignments/new", "/admin/delegations", "/admin/delegations/new",
               "/admin/import",
               "/admin/import/orgs", "/admin/import/users", "/admin/incidents", "/admin/definitions/pending",
               "/admin/audit", "/ledger/school"]),
]
#: Elements wider than their box: scrolled sideways (auto, scroll) or cut off (hidden, clip).
SIDEWAYS = """() => [...document.querySelectorAll('body *')].filter(e => {
    const overflow = getComputedStyle(e).overflowX;
    return overflow !== 'visible' && e.clientWidth > 1 && e.scrollWidth > e.clientWidth + 1;  // 1 px: visually hidden
  }).map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')} (${e.scrollWidth} > ${e.clientWidth})`)"""


@pytest.mark.parametrize(("login", "paths"), PAGES, ids=[login or "visitor" for login, _ in PAGES])
def test_nothing_is_wider_than_a_phone(browser, live_server, login, paths):
    context = browser.new_context(viewport={"width": WIDTH, "height": 844}, base_url=live_server, locale="zh-CN")
    page = context.new_page()
    if login:
        page.goto("/auth/login")
        page.fill("#login", login)
        page.fill("#password", DEMO_PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("您好")
    problems = []
    for path in paths:
        page.goto(path)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > WIDTH:
            problems.append(f"{path}: the page is {width} px wide")
        problems.extend(f"{path}: {element}" for element in page.evaluate(SIDEWAYS))
    context.close()
    assert not problems, f"too wide for a {WIDTH} px phone:\n" + "\n".join(problems)
