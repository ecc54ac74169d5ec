"""Certificates: the PDF states the ledger in Chinese, codes check themselves, certificates are append-only and
revocable, and a rule set's completion certificate is issued only when its period's minimums are met."""

import io
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from webapp.models import AuditEvent, Certificate, CertificateIsAppendOnly, Role
from webapp.services import certificates, ledger, rules
from webapp.services.errors import Conflict, NotFound, ServiceError

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture(autouse=True)
def request_context(app, db):
    """A request (verification URLs are absolute) in English, for the service's messages."""
    from flask_babel import force_locale

    with app.test_request_context("/", base_url="https://yanxun.example.edu.cn"), force_locale("en"):
        yield


@pytest.fixture
def schools(db, make_org):
    rules.load_rule_files([RULES_DIR])
    xb = make_org("city", code="XB", name="湘北市")
    sichuan = make_org("county", code="SC-DISTRICT", name="四川某区")
    return {"xb": make_org("school", xb, code="XB-S1", name="湘北一中"),
            "sichuan": make_org("school", sichuan, code="SC-S1", name="某区实验小学")}


@pytest.fixture
def teacher_at(make_user):
    def _teacher_at(school, **profile):
        profile.setdefault("hire_date", date(2005, 9, 1))
        return make_user(org=school, roles=((Role.TEACHER, school),), **profile)
    return _teacher_at


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_pdf_states_the_teachers_counted_hours_in_chinese(schools, teacher_at):
    teacher = teacher_at(schools["xb"], display_name="王晓燕")
    ledger.post_entry(teacher, category="centralized", hours=30, earned_on=date(2026, 10, 1), title="国培项目")
    ledger.post_entry(teacher, category="school_based", hours=12.5, earned_on=date(2026, 11, 5))
    ledger.post_entry(teacher, category="school_based", hours=99, earned_on=date(2027, 9, 5))  # the next year

    certificate = certificates.issue(teacher, "hours", "school_year", date(2027, 8, 31), by=teacher,
                                     today=date(2027, 10, 1))

    assert (certificate.period_kind, certificate.period_key, certificate.as_of) == (
        "school_year", "2026-2027", date(2027, 8, 31))
    assert (certificate.period_start, certificate.period_end) == (date(2026, 9, 1), date(2027, 8, 31))
    content = certificate.content
    assert (content["teacher"], content["school"], content["issuer"]) == ("王晓燕", "湘北一中", "湘北市")
    lines = {line["name"]: (line["hours"], line["credits"]) for line in content["lines"]}
    assert lines["集中培训"] == (30, 30) and lines["校本研修培训"] == (12.5, 12.5)
    assert (content["total"]["hours"], content["total"]["minimum"], content["met"]) == (42.5, 72, False)

    data = certificate.pdf
    assert data.startswith(b"%PDF-") and len(data) < 100_000, f"{len(data)} bytes: the font is subset"
    assert certificates.matches(certificate, data)
    text = pdf_text(data)
    for expected in ("王晓燕", "湘北一中", "集中培训", "校本研修培训", "42.5", "12.5", "2026–2027学年", "湘北市",
                     certificates.format_code(certificate.code), certificates.verification_url(certificate.code)):
        assert expected in text, f"{expected!r} not in the PDF's text:\n{text}"
    assert certificates.verification_url(certificate.code).startswith("https://yanxun.example.edu.cn/verify/")
    # Yueyang's "每个学年都应有相应学分" ([000] 第25条), inherited by the demo city, reads as such, not "多于 0 学分"
    flat = text.replace("\n", "")
    assert "须有学分，多少不限" in flat and "多于 0" not in flat.replace(" ", "")

    event = ledger.db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "certificate.issue")).one()
    assert (event.actor_id, event.object_id, event.after["pdf_sha256"]) == (
        teacher.id, str(certificate.id), certificate.pdf_sha256)


def test_a_certificate_is_append_only(schools, teacher_at, db):
    teacher = teacher_at(schools["xb"])
    certificate = certificates.issue(teacher, "hours", "semester", date(2026, 10, 1), by=teacher,
                                     today=date(2026, 10, 2))
    assert certificate.as_of == date(2026, 10, 2), "while the period runs, entries up to today count"
    certificate.pdf_sha256 = "0" * 64
    with pytest.raises(CertificateIsAppendOnly):
        db.session.flush()
    db.session.rollback()


def test_codes_check_themselves_before_any_lookup(schools, teacher_at):
    teacher = teacher_at(schools["xb"])
    code = certificates.issue(teacher, "hours", "school_year", date(2026, 10, 1), by=teacher).code
    shown = certificates.format_code(code)
    assert len(shown) == 19 and shown.count("-") == 3
    assert not set(code) & set("01IO")
    for typed in (shown, shown.lower(), code, f" {shown[:9]} {shown[10:]} "):
        assert certificates.find(typed).code == code

    position = 3
    tampered = code[:position] + ("A" if code[position] != "A" else "B") + code[position + 1:]
    with pytest.raises(certificates.InvalidCode, match="invalid"):
        certificates.parse_code(tampered)
    for malformed in ("", "ABCD", code + "A", code[:-1] + "0"):
        with pytest.raises(certificates.InvalidCode):
            certificates.parse_code(malformed)
    unknown = certificates.new_code()
    assert certificates.parse_code(unknown) == unknown, "well formed"
    with pytest.raises(NotFound):
        certificates.find(unknown)


def test_revocation_is_final_and_audited(schools, teacher_at, make_user):
    teacher = teacher_at(schools["xb"])
    admin = make_user("admin", roles=((Role.ADMIN, schools["xb"].parent),))
    certificate = certificates.issue(teacher, "hours", "school_year", date(2026, 10, 1), by=teacher)
    with pytest.raises(ServiceError):
        certificates.revoke(certificate, admin, "  ")
    certificates.revoke(certificate, admin, "学时记录有误")
    assert certificates.find(certificate.code).revocation.reason == "学时记录有误"
    with pytest.raises(Conflict):
        certificates.revoke(certificate, admin, "again")


def test_sichuan_completion_certificate_only_when_the_cycle_is_met(schools, teacher_at, db):
    teacher = teacher_at(schools["sichuan"], display_name="李明")
    ledger.post_entry(teacher, category="school_based", hours=100, earned_on=date(2018, 5, 1))
    ledger.post_entry(teacher, category="centralized", hours=100, earned_on=date(2019, 5, 1))
    today = date(2021, 3, 1)

    standing = ledger.progress(teacher, date(2020, 6, 1))
    cycle = next(p for p in certificates.offers(teacher, standing, today) if p.period.kind == "cycle")
    completion = next(o for o in cycle.offers if o.kind == "completion")
    assert completion.refusal and "校本研训 20 hours short" in completion.refusal
    assert "Total 40 hours short" in completion.refusal
    assert [o.kind for o in next(p for p in certificates.offers(teacher, standing, today)
                                 if p.period.kind == "school_year").offers] == ["hours"]

    with pytest.raises(Conflict) as refused:
        certificates.issue(teacher, "completion", "cycle", date(2020, 6, 1), by=teacher, today=today)
    assert "Still missing: Total 40 hours short；校本研训 20 hours short" in str(refused.value)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0

    with pytest.raises(ServiceError):
        certificates.issue(teacher, "completion", "school_year", date(2020, 6, 1), by=teacher, today=today)

    ledger.post_entry(teacher, category="school_based", hours=40, earned_on=date(2020, 11, 1))
    certificate = certificates.issue(teacher, "completion", "cycle", date(2020, 6, 1), by=teacher, today=today)
    assert (certificate.kind, certificate.period_key, certificate.as_of) == ("completion", "2017-2020",
                                                                            date(2020, 12, 31))
    assert certificate.content["title"] == "“十三五”教师培训结业证书"
    text = pdf_text(certificate.pdf)
    for expected in ("“十三五”教师培训结业证书", "李明", "某区实验小学", "校本研训", "140", "240"):
        assert expected in text, f"{expected!r} not in the PDF's text:\n{text}"
    standing = ledger.progress(teacher, date(2020, 6, 1))
    cycle = next(p for p in certificates.offers(teacher, standing, today) if p.period.kind == "cycle")
    assert next(o for o in cycle.offers if o.kind == "completion").refusal is None
