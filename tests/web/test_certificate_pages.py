"""Certificates in the browser's terms: downloading one on 我的学时, and the public verification page (no log-in):
a genuine code, a tampered one, an unknown one, a PDF compared byte for byte, a revoked certificate."""

import io
import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.ledger import verify
from webapp.models import AuditEvent, Certificate, Role
from webapp.services import certificates, ledger, rules

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def person(make_user):
    def _person(login, **profile):
        user = make_user(login, locale="en", **profile)
        user.locale = "en"
        return user
    return _person


@pytest.fixture
def xiangbei(db, make_org, person):
    """A teacher with 30 h centralized training in the school year 2025–2026 (the rules are in force from 2026)."""
    rules.load_rule_files([RULES_DIR])
    city = make_org("city", code="XB", name="湘北市")
    school = make_org("school", city, code="XB-S1", name="湘北一中")
    teacher = person("wang", display_name="王老师", org=school, hire_date=date(2005, 9, 1),
                     roles=((Role.TEACHER, school),))
    ledger.post_entry(teacher, category="centralized", hours=30, earned_on=date(2026, 3, 1), title="国培项目")
    person("admin", display_name="管理员", roles=((Role.ADMIN, city),))
    db.session.commit()
    return {"school": school, "teacher": teacher}


@pytest.fixture
def sichuan(db, make_org, person):
    """A teacher 40 h short of the 240 h of the Sichuan cycle 2017–2020."""
    rules.load_rule_files([RULES_DIR])
    district = make_org("county", code="SC-DISTRICT", name="四川某区")
    school = make_org("school", district, code="SC-S1", name="某区实验小学")
    teacher = person("liming", display_name="李明", org=school, hire_date=date(2005, 9, 1),
                     roles=((Role.TEACHER, school),))
    ledger.post_entry(teacher, category="school_based", hours=120, earned_on=date(2018, 5, 1))
    ledger.post_entry(teacher, category="centralized", hours=80, earned_on=date(2019, 5, 1))
    db.session.commit()
    return {"teacher": teacher}


def issue(client, kind, period, on):
    page = client.get(f"/ledger/?on={on}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return client.post("/ledger/certificates", data={"csrf_token": token, "kind": kind, "period": period, "on": on})


def issued_directly(app, db, teacher):
    """A certificate issued by the service, in a request of its own (its address is absolute)."""
    with app.test_request_context("/"):
        certificate = certificates.issue(teacher, "hours", "school_year", date(2026, 6, 30), by=None)
    db.session.commit()
    return certificate


def only_certificate(db):
    return db.session.scalars(sa.select(Certificate)).one()


def test_a_teacher_downloads_a_certificate_and_anyone_verifies_it(app, client, db, xiangbei, monkeypatch):
    client.login("wang")
    page = client.get("/ledger/?on=2026-06-30").get_data(as_text=True)
    assert 'data-offer-period="school_year" data-offer-key="2025-2026"' in page
    assert "Download Certificate of training hours" in page

    response = issue(client, "hours", "school_year", "2026-06-30")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pdf = response.get_data()
    certificate = only_certificate(db)
    assert certificates.matches(certificate, pdf) and certificate.issued_by_id == xiangbei["teacher"].id
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.object_type == "certificate")) \
        == "certificate.issue"
    code = certificates.format_code(certificate.code)
    assert code in client.get("/ledger/?on=2026-06-30").get_data(as_text=True), "listed under Issued to you"
    assert client.get(f"/ledger/certificates/{certificate.id}.pdf").get_data() == pdf

    visitor = app.test_client()
    shown = visitor.get(f"/verify/{code}")
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200 and 'data-status="valid"' in text
    for expected in ("王老师", "湘北一中", "2025–2026学年", "集中培训", "30", certificate.content["title"]):
        assert expected in text
    assert 'name="robots" content="noindex"' in text
    assert "wang" not in text, "no login name: only what the certificate prints"
    assert visitor.get(f"/verify/{certificate.code.lower()}").headers["Location"].endswith(f"/verify/{code}")
    assert visitor.get(f"/verify?code={certificate.code}").status_code == 302
    assert visitor.get(f"/ledger/certificates/{certificate.id}.pdf").status_code == 302, "downloads need a log-in"

    def upload(data):
        token = re.search(r'name="csrf-token" content="([^"]+)"', visitor.get(f"/verify/{code}").get_data(
            as_text=True)).group(1)
        return visitor.post(f"/verify/{code}", content_type="multipart/form-data",
                            data={"csrf_token": token, "pdf": (io.BytesIO(data), "证明.pdf")}).get_data(as_text=True)

    assert 'data-upload="match"' in upload(pdf)
    middle = len(pdf) // 2
    changed = pdf[:middle] + bytes([pdf[middle] ^ 1]) + pdf[middle + 1:]
    mismatch = upload(changed)
    assert 'data-upload="mismatch"' in mismatch
    assert mismatch.index('data-upload-top="mismatch"') < mismatch.index('data-status="valid"'), \
        "a phone user reading from the top sees the mismatch before the green banner"
    assert "该文件不是 PDF 文件" in upload(b"just some text"), "a visitor without an account reads Chinese"
    monkeypatch.setattr(verify, "MAX_UPLOAD_BYTES", 1000)
    assert 'data-upload="error"' in upload(b"%PDF" + b"0" * 5000)

    assert "data-changes" not in visitor.get(f"/verify/{code}").get_data(as_text=True)
    ledger.post_entry(xiangbei["teacher"], category="centralized", hours=8, earned_on=date(2026, 5, 2))
    db.session.commit()
    later = visitor.get(f"/verify/{code}").get_data(as_text=True)
    assert 'data-changes="1"' in later, "a correction after the day of issue is said on the verification page"


def test_tampered_and_unknown_codes_are_refused(app, client, db, xiangbei):
    certificate = issued_directly(app, db, xiangbei["teacher"])
    code = certificate.code
    tampered = code[:5] + ("B" if code[5] != "B" else "C") + code[6:]
    visitor = app.test_client()
    visitor.post_form("/auth/language", {"locale": "en"})
    for path in (f"/verify/{certificates.format_code(tampered)}", f"/verify?code={tampered}"):
        shown = visitor.get(path)
        assert shown.status_code == 404
        assert "This verification code is invalid" in shown.get_data(as_text=True)
    assert "王老师" not in visitor.get(f"/verify/{tampered}").get_data(as_text=True)
    unknown = visitor.get(f"/verify/{certificates.format_code(certificates.new_code())}")
    assert unknown.status_code == 404 and "No certificate with this verification code" in unknown.get_data(
        as_text=True)
    malformed = visitor.get("/verify/HELLO")
    assert malformed.status_code == 404 and "not a valid verification code" in malformed.get_data(as_text=True)
    assert visitor.get("/verify").status_code == 200


def test_an_administrator_revokes_a_certificate(app, client, db, xiangbei):
    certificate = issued_directly(app, db, xiangbei["teacher"])
    code = certificates.format_code(certificate.code)
    client.login("wang")
    token = client.csrf_token(f"/verify/{code}")
    assert client.post(f"/ledger/certificates/{certificate.id}/revoke",
                       data={"csrf_token": token, "reason": "x"}).status_code == 403
    admin = app.test_client()
    admin.login("admin")
    page = admin.get(f"/verify/{code}").get_data(as_text=True)
    assert "Revoke this certificate" in page
    admin.post_form(f"/ledger/certificates/{certificate.id}/revoke", {"reason": "学时录入有误"})
    shown = app.test_client().get(f"/verify/{code}").get_data(as_text=True)
    assert 'data-status="revoked"' in shown and "学时录入有误" not in shown, "the reason stays with the staff"


def test_the_completion_certificate_is_refused_until_the_cycle_is_met(client, db, sichuan):
    client.login("liming")
    page = client.get("/ledger/?on=2020-06-30").get_data(as_text=True)
    button = re.search(r'<button[^>]*data-offer="completion"[^>]*>', page).group(0)
    assert "disabled" in button
    refusal = re.search(r'data-refusal="completion">([^<]*)<', page).group(1)
    assert "Total 40 hours short" in refusal and "校本研训" not in refusal, "120 h school-based are enough"

    response = issue(client, "completion", "cycle", "2020-06-30")
    assert response.status_code == 302
    assert "Total 40 hours short" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0

    ledger.post_entry(sichuan["teacher"], category="centralized", hours=40, earned_on=date(2020, 5, 1))
    db.session.commit()
    page = client.get("/ledger/?on=2020-06-30").get_data(as_text=True)
    assert "disabled" not in re.search(r'<button[^>]*data-offer="completion"[^>]*>', page).group(0)
    response = issue(client, "completion", "cycle", "2020-06-30")
    assert response.mimetype == "application/pdf"
    assert only_certificate(db).content["title"] == "“十三五”教师培训结业证书"
