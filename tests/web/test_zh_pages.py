"""Every page of the demo, for every demo login, in Chinese: no English interface words, no internal codes.

The demo is seeded as ``make seed`` does it (rules from rules/, workflows from workflows/, then the demo
region), with a little activity on top (ledger entries, a reversal, one credit application under review),
so the pages have rows to show. Each login then follows every GET link from the home page (tests/web/crawl.py)
and each page is read by tests/web/zh_detector.py.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from forms import form_keys
from tests.web.crawl import crawl
from tests.web.zh_detector import Detector
from webapp.labels import AUDIT_ACTION_LABELS, LEVEL_LABELS
from webapp.models import Base, Org, Role, RubricVersion, RuleSet, User
from webapp.services import processes
from webapp.services.demo import DEMO_LOGINS, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
#: Pages whose templates and views are being rewritten by others: what is found there is theirs to fix, and their
#: URL patterns are left out until it is. Remove a pattern once its pages are clean. Found on 2026-12-02:
#: URL patterns with findings known and not fixed yet (each with the finding in a comment); none today.
KNOWN: tuple[str, ...] = ()
PAGES_PER_LOGIN = 400


def _bpmn_ids() -> set[str]:
    ids: set[str] = set()
    for path in (ROOT / "workflows").rglob("*.bpmn"):
        ids.update(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))
    return ids


def _rule_codes(rule_sets: list[RuleSet]) -> set[str]:
    """Rule set ids and every code inside them: categories, items, audiences, period kinds."""
    codes: set[str] = set()
    for rule_set in rule_sets:
        codes.update({rule_set.code, rule_set.extends_code or ""})
        body = rule_set.body
        codes.update(body.get("categories", {}), body.get("items", {}), body.get("audiences", {}),
                     body.get("requirements", {}))
    return codes


def _enum_values() -> set[str]:
    """The values of every enum column of every model, the process packages' included (statuses, types...)."""
    return {str(value) for mapper in Base.registry.mappers for column in mapper.columns
            for value in (getattr(column.type, "enums", None) or ())}


def internal_codes(session) -> set[str]:
    """Everything the application knows by a code that a person should never read, logins included."""
    codes = _enum_values() | {role.value for role in Role}
    codes |= set(AUDIT_ACTION_LABELS) | set(processes.event_words()) | form_keys() | _bpmn_ids()
    codes |= _rule_codes(list(session.scalars(sa.select(RuleSet))))
    codes |= set(session.scalars(sa.select(Org.code)))
    codes |= set(session.scalars(sa.select(User.login)))  # a login is shown only as what it is (translate="no")
    return codes


def demo_data(session) -> set[str]:
    """Strings that are data, not interface: people's and organisations' names, the rule sets' own texts."""
    data = set(session.scalars(sa.select(User.display_name))) | set(session.scalars(sa.select(Org.name)))
    for rule_set in session.scalars(sa.select(RuleSet)):
        data |= {rule_set.title, rule_set.source}
        for section in ("categories", "items", "audiences"):
            data |= {spec.get("name", "") for spec in rule_set.body.get(section, {}).values()}
    for version in session.scalars(sa.select(RubricVersion)):
        data |= {version.title, version.note, *(d["name"] for d in version.tree)}
        for indicator in version.indicators():
            data |= {indicator["name"], indicator["guidance"], indicator["evidence"], *indicator["source"]}
    return data


def _user(session, login: str) -> User:
    return session.scalars(sa.select(User).where(User.login == login)).one()


def _activity(app, session) -> None:
    """Entries in two teachers' ledgers (one reversed) and one credit application waiting for its leader."""
    from webapp.services import certificates, ledger

    today = date.today()
    limin, yangfan = _user(session, "limin"), _user(session, "yangfan")
    ledger.post_entry(limin, category="centralized", item="city_training", hours=12,
                      earned_on=today - timedelta(days=40), title="区级骨干教师集中培训")
    wrong = ledger.post_entry(limin, category="school_based", item="open_lesson", earned_on=today - timedelta(days=20))
    ledger.reverse_entry(wrong, _user(session, "liufang"), "重复登记")
    ledger.post_entry(yangfan, category="school_based", item="open_lesson", earned_on=today - timedelta(days=10))
    with app.test_request_context("/"):  # a certificate of limin's, so that 我的学时 lists it and /verify shows it
        certificates.issue(limin, "hours", "school_year", today, by=limin)
    session.commit()

    client = app.test_client()
    client.login("limin", DEMO_PASSWORD)
    response = client.post("/applications/new", content_type="multipart/form-data", data={
        "csrf_token": client.csrf_token("/applications/new"), "category": "centralized", "item_code": "city_training",
        "level": "city", "organiser": "北湖区教师发展中心", "start_date": (today - timedelta(days=9)).isoformat(),
        "end_date": (today - timedelta(days=7)).isoformat(), "hours_requested": "10", "description": "区级骨干教师培训",
        "evidence": [(io.BytesIO(b"%PDF-1.4 certificate"), "结业证书.pdf")]})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


@pytest.fixture(scope="module")
def demo(app, tmp_path_factory) -> Iterator[Detector]:
    """The demo as ``make seed`` makes it, inside a transaction rolled back at the end; the detector knowing its
    codes and names."""
    from flask_babel import force_locale, gettext

    from webapp.extensions import db
    from webapp.services import definitions, rubrics, rules
    from webapp.services.demo import seed_demo
    from webapp.workflow_cli import uploads

    evidence_before = app.config["YANXUN"]["EVIDENCE_DIR"]
    with app.app_context():
        engine = db.engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        connection.begin_nested()
        db.engines[None] = connection
        app.config["YANXUN"]["EVIDENCE_DIR"] = str(tmp_path_factory.mktemp("evidence"))  # the demo's files too
        try:
            rules.load_rule_files([ROOT / "rules"])
            rubrics.load_files([ROOT / "rubrics"])
            for _, files in uploads([str(ROOT / "workflows")]):
                definitions.deploy(files, None)
            seed_demo()
            db.session.commit()
            _activity(app, db.session)
            with force_locale("zh_CN"):
                vocabularies = {gettext("Training level"): {str(label) for label in LEVEL_LABELS.values()}}
            yield Detector(internal_codes(db.session), demo_data(db.session), vocabularies)
        finally:
            app.config["YANXUN"]["EVIDENCE_DIR"] = evidence_before
            db.session.remove()
            db.engines[None] = engine
            transaction.rollback()
            connection.close()


def test_the_detector_finds_english_codes_and_reprs():
    detector = Detector({"credit.review", "leader_review", "XB-BH"}, data={"Lily Wang"},
                        vocabularies={"培训级别": {"市级", "县级"}})
    page = ('<html><head><title>首页</title><script>var Next = "Previous";</script></head><body>'
            '<p>Previous 1 of 3 credit.review</p><a title="Edit" href="/x">编辑</a>'
            '<span translate="no">admin Save</span><p>审核人：Lily Wang · leader_review · XB-BH · None</p>'
            '<input placeholder="Type part of a name"><p>{\'a\': 1} &lt;Role.TEACHER&gt; Role.TEACHER</p>'
            '<p>研修计划.PDF · CSV · 10 KB · English</p><dl><dt>培训级别</dt><dd>市</dd></dl>'
            '<table><tr><th>培训级别</th><td>—</td><td>县级</td></tr></table></body></html>')
    found = {(f.kind, f.match, f.where) for f in detector.findings(page)}
    assert found == {
        ("English", "Previous", "text"), ("English", "of", "text"), ("code", "credit.review", "text"),
        ("English", "Edit", "@title"), ("code", "leader_review", "text"), ("code", "XB-BH", "text"),
        ("repr", "None", "text"), ("English", "Type part of a name", "@placeholder"), ("repr", "{'", "text"),
        ("repr", "Role.TEACHER", "text"), ("wording", "市", "培训级别"),
    }


@pytest.mark.parametrize("login", [login for login, _, _ in DEMO_LOGINS])
def test_every_page_reads_in_chinese(app, demo, login):
    client = app.test_client()
    client.login(login, DEMO_PASSWORD)
    problems: list[str] = []
    opened = 0
    for page in crawl(client, "/", limit=PAGES_PER_LOGIN):
        opened += 1
        if any(re.search(pattern, page.url) for pattern in KNOWN):
            continue
        if page.status >= 400:
            problems.append(f"{page.url}: HTTP {page.status}")
        problems.extend(f"{page.url}: {finding}" for finding in demo.findings(page.html))
    assert opened > 3, f"{login} reached only {opened} pages"
    assert not problems, f"{len(problems)} problems on the pages of {login}:\n" + "\n".join(problems)


def test_the_crawl_reaches_the_compliance_overview_down_to_a_teacher(app, demo):
    """The county officer's overview, a school's teachers and a teacher's ledger are among the crawled pages."""
    client = app.test_client()
    client.login("caojing", DEMO_PASSWORD)
    urls = [page.url for page in crawl(client, "/", limit=PAGES_PER_LOGIN)]
    assert "/ledger/overview" in urls
    assert any(url.startswith("/ledger/overview/teachers?org=") for url in urls)
    assert any(re.fullmatch(r"/ledger/overview/teachers/\d+", url) for url in urls)
