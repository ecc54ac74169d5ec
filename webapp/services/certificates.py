"""Certificates of recognised training hours: issuing them as PDFs, verifying their codes, revoking them.

A certificate states a teacher's counted hours and credits per category for one period of their rule set
(semester, school year, a cycle), as of the period's end or, while it runs, the day of issue. Besides the plain
学时证明 (kind ``hours``), a rule set may define certificates of its own (``certificates``, rules/README.md); one
that ``requires_met`` is issued only when every minimum of its period is met.

The verification code is a random serial and a check part, an HMAC of the serial under the application's secret
key: a mistyped or invented code is refused before the database is asked. Rotating ``SECRET_KEY`` therefore
makes the codes of certificates issued before it fail their check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.links import public_url
from webapp.models import HOURS, Certificate, CertificateRevocation, CreditEntry, Org, User
from webapp.models.base import utcnow
from webapp.services import audit, certificate_pdf, ledger
from webapp.services.errors import Conflict, NotFound, ServiceError
from webapp.services.rules import FIXED_PERIODS, Period, Rules

#: Characters of a code: no 0/O, 1/I, so that a code read off paper is typed right.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
SERIAL_LENGTH, CHECK_LENGTH, GROUP = 12, 4, 4
CODE_LENGTH = SERIAL_LENGTH + CHECK_LENGTH
#: What the audit trail records of a certificate (its kind as ``certificate_kind``: a code, not words).
AUDIT_FIELDS = ("teacher_id", "rule_set_id", "period_kind", "period_key", "as_of", "pdf_sha256")


class InvalidCode(ServiceError):
    """The code is not one this system issues (wrong length, characters or check part)."""


# -- codes -----------------------------------------------------------------------------------------------------


def _check_part(serial: str) -> str:
    key = hmac.new(current_app.secret_key.encode(), b"yanxun certificate code", hashlib.sha256).digest()
    number = int.from_bytes(hmac.new(key, serial.encode(), hashlib.sha256).digest()[:4], "big")
    return "".join(ALPHABET[(number >> (5 * i)) & 31] for i in range(CHECK_LENGTH))


def new_code() -> str:
    serial = "".join(secrets.choice(ALPHABET) for _ in range(SERIAL_LENGTH))
    return serial + _check_part(serial)


def format_code(code: str) -> str:
    """``ABCD2345EFGH6789`` → ``ABCD-2345-EFGH-6789``."""
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def parse_code(raw: str) -> str:
    """The code as stored, from what a person typed (any case, spaces and dashes ignored); :class:`InvalidCode`
    when it cannot be one of ours. No database query."""
    code = "".join(raw.split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        raise InvalidCode(_l("This is not a valid verification code: it has %(n)d characters from the letters A–Z "
                             "and digits 2–9, in groups of four.", n=CODE_LENGTH))
    if not hmac.compare_digest(_check_part(code[:SERIAL_LENGTH]), code[SERIAL_LENGTH:]):
        raise InvalidCode(_l("This verification code is invalid. Check that it was typed exactly as printed."))
    return code


def find(raw: str) -> Certificate:
    """The certificate with this code; :class:`InvalidCode` or :class:`NotFound`."""
    code = parse_code(raw)
    certificate = db.session.scalar(sa.select(Certificate).where(Certificate.code == code))
    if certificate is None:
        raise NotFound(_l("No certificate with this verification code was issued here."))
    return certificate


def verification_url(code: str) -> str:
    """The public address of the certificate's verification page: on ``PUBLIC_BASE_URL`` when it is set, else
    on the address of the request (issuing happens in one)."""
    path = url_for("verify.certificate", code=format_code(code))
    return public_url(path) or url_for("verify.certificate", code=format_code(code), _external=True)


def changes_since(certificate: Certificate) -> int:
    """How many ledger entries of the certificate's period (up to its as-of day) were recorded after it was
    issued: corrections, reversals, late postings. The certificate states what was recorded when it was issued."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(CreditEntry)
        .where(CreditEntry.user_id == certificate.teacher_id,
               CreditEntry.earned_on.between(certificate.period_start, certificate.as_of),
               CreditEntry.recognised_at > certificate.issued_at)) or 0


def matches(certificate: Certificate, data: bytes) -> bool:
    """Whether ``data`` is, byte for byte, the PDF issued as ``certificate``."""
    return hmac.compare_digest(hashlib.sha256(data).hexdigest(), certificate.pdf_sha256)


# -- what may be asked for --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """A certificate the teacher may ask for in one period; ``refusal`` says why not, when it may not be issued."""

    kind: str
    name: str
    refusal: str | None = None


@dataclass(frozen=True)
class PeriodOffers:
    period: Period
    #: The day up to which entries count: the period's end, or today while it runs.
    as_of: date
    offers: list[Offer]

    @property
    def ongoing(self) -> bool:
        return self.as_of < self.period.end


def _certificate_specs(rules: Rules, period_kind: str) -> Iterable[tuple[str, dict[str, Any]]]:
    return ((code, spec) for code, spec in rules.certificates().items() if spec.get("period") == period_kind)


def _shortfalls(progress: ledger.PeriodProgress) -> str:
    parts = []
    for line in progress.shortfalls:
        name = _("Total") if line.category is None else line.name
        unit = _unit(line.measure)
        if line.remaining:
            parts.append(_("%(name)s %(n)s %(unit)s short", name=name, n=amount(line.remaining), unit=unit))
        elif not line.minimum:
            parts.append(_("%(name)s needs some %(unit)s", name=name, unit=unit))
        else:
            parts.append(_("%(name)s needs more than %(n)s %(unit)s", name=name, n=amount(line.minimum), unit=unit))
    return "；".join(parts)


def _refusal(name: str, progress: ledger.PeriodProgress) -> str:
    return _("The %(name)s is issued only when every requirement of %(period)s is met. Still missing: %(missing)s.",
             name=name, period=progress.period.name, missing=_shortfalls(progress))


def offers(teacher: User, standing: ledger.Progress, today: date | None = None) -> list[PeriodOffers]:
    """The certificates ``teacher`` may ask for: for the periods of ``standing`` (those containing its day) and
    the periods just before them, those begun whose certificate day (their end, or today) the same rule set
    governs; per period the 学时证明 and the rule set's own certificates (those that require the period's
    minimums met carry the reason when they are not)."""
    today = today or local_today()
    if standing.rule_set is None:
        return []
    rules = Rules(standing.rule_set)
    periods: list[Period] = []
    for current in standing.periods:
        if current.period.kind in ("week", "month"):  # too short to certify
            continue
        earlier = rules.period(current.period.kind, current.period.start - timedelta(days=1), teacher)
        periods.extend(p for p in (current.period, earlier)
                       if p is not None and p.start <= today and p not in periods
                       and standing.rule_set.covers(min(p.end, today)))
    order = {kind: i for i, kind in enumerate((*FIXED_PERIODS, *rules.cycle_kinds(), "first_year"))}
    periods.sort(key=lambda p: (order.get(p.kind, len(order)), -p.start.toordinal()))
    result = []
    for period in periods:
        as_of = min(period.end, today)
        choices = [Offer(HOURS, _("Certificate of training hours"))]
        for code, spec in _certificate_specs(rules, period.kind):
            refusal = None
            if spec.get("requires_met"):
                progress = ledger.progress(teacher, as_of).period(period.kind)
                if progress is None or progress.period.key != period.key:
                    continue
                refusal = None if progress.met else _refusal(spec["name"], progress)
            choices.append(Offer(code, spec["name"], refusal))
        result.append(PeriodOffers(period, as_of, choices))
    return result


# -- issuing ---------------------------------------------------------------------------------------------------


def amount(value: float | None) -> str:
    return "" if value is None else f"{round(float(value), 2):g}"


def _unit(measure: str) -> str:
    return _("hours") if measure == "hours" else _("credits")


def _line(line: ledger.Line) -> dict[str, Any]:
    return {"category": line.category, "name": line.name, "hours": line.counted_hours,
            "credits": line.counted_credits, "measure": line.measure, "minimum": line.minimum,
            "exclusive": line.exclusive, "status": line.status, "remaining": line.remaining}


def _issuer(rules: Rules, teacher: User) -> str:
    """Who the certificate is issued under: the organisation whose rule set it is, else the teacher's school."""
    name = db.session.scalar(sa.select(Org.name).where(Org.code == rules.rule_set.jurisdiction_code))
    return name or (teacher.org.name if teacher.org else "")


def _local_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(current_app.config["YANXUN"]["TIMEZONE"])).date()


def local_today() -> date:
    """Today in the application's time zone (the day printed as the day of issue)."""
    return _local_day(utcnow())


def issue(teacher: User, kind: str, period_kind: str, on: date, *, by: User | None,
          today: date | None = None) -> Certificate:
    """Issue ``teacher``'s certificate of ``kind`` (``hours`` or a certificate code of the rule set) for the
    ``period_kind`` period containing ``on``, counting entries up to its end (or today while it runs). Refused,
    with what is still missing, when the certificate requires the period's minimums and they are not met.
    Flushes, never commits."""
    today = today or local_today()
    standing = ledger.progress(teacher, on)
    if standing.rule_set is None:
        raise ServiceError(_l("No credit rule set applies to %(name)s on %(date)s.", name=teacher.display_name,
                              date=on.isoformat()))
    chosen = standing.period(period_kind)
    if chosen is None:
        raise ServiceError(_l("The rules in force on %(date)s have no such period.", date=on.isoformat()),
                           field="period")
    if chosen.period.start > today:
        raise ServiceError(_l("%(period)s has not begun yet.", period=chosen.period.name), field="period")
    as_of = min(chosen.period.end, today)
    if as_of != on:
        standing = ledger.progress(teacher, as_of)
        progress = standing.period(period_kind)
        if standing.rule_set is None or progress is None or progress.period.key != chosen.period.key:
            raise ServiceError(_l("The rules changed within %(period)s; no certificate can be issued for it.",
                                  period=chosen.period.name), field="period")
        chosen = progress
    rules = Rules(standing.rule_set)
    locale = current_app.config["YANXUN"]["DEFAULT_LOCALE"]
    if kind == HOURS:
        with force_locale(locale):  # the certificate speaks the region's language, whoever asks for it
            title = _("Certificate of training hours")
    else:
        spec = dict(_certificate_specs(rules, period_kind)).get(kind)
        if spec is None:
            raise ServiceError(_l("The rules define no such certificate for %(period)s.", period=chosen.period.name),
                               field="kind")
        title = spec["name"]
        if spec.get("requires_met") and not chosen.met:
            raise Conflict(_refusal(title, chosen))
    now = utcnow()
    period = chosen.period
    code = new_code()
    content = {
        "title": title, "kind": kind, "teacher": teacher.display_name,
        "school": teacher.org.name if teacher.org else "", "issuer": _issuer(rules, teacher),
        "rule_set": {"code": rules.rule_set.code, "version": rules.rule_set.version, "title": rules.rule_set.title},
        "period": {"kind": period.kind, "key": period.key, "name": period.name, "start": period.start.isoformat(),
                   "end": period.end.isoformat()},
        "as_of": as_of.isoformat(), "issued_on": _local_day(now).isoformat(),
        "lines": [_line(line) for line in chosen.categories], "total": _line(chosen.total), "met": chosen.met,
        "has_minimum": any(line.has_minimum for line in chosen.lines),
    }
    with force_locale(locale):
        pdf = certificate_pdf.render(content, code=format_code(code), url=verification_url(code), created=now)
    certificate = Certificate(
        code=code, teacher_id=teacher.id, org_id=teacher.org_id, kind=kind, rule_set_id=rules.rule_set.id,
        period_kind=period.kind, period_key=period.key, period_start=period.start, period_end=period.end,
        as_of=as_of, issued_at=now, issued_by_id=by.id if by else None, content=content,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(), pdf=pdf)
    db.session.add(certificate)
    db.session.flush()
    audit.record("certificate.issue", actor=by, obj=certificate,
                 after={**audit.snapshot(certificate, AUDIT_FIELDS), "certificate_kind": kind})
    return certificate


def revoke(certificate: Certificate, by: User, reason: str) -> CertificateRevocation:
    """Revoke ``certificate`` for good (its verification page then says so). Flushes, never commits."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_l("Give the reason for the revocation."), field="reason")
    if certificate.revocation is not None:
        raise Conflict(_l("This certificate has already been revoked."))
    revocation = CertificateRevocation(certificate_id=certificate.id, revoked_by_id=by.id, reason=reason[:500])
    try:
        with db.session.begin_nested():
            db.session.add(revocation)
    except IntegrityError as error:  # revoked concurrently
        raise Conflict(_l("This certificate has already been revoked.")) from error
    db.session.expire(certificate, ["revocation"])
    audit.record("certificate.revoke", actor=by, obj=certificate, after={"reason": revocation.reason})
    return revocation


def issued_to(teacher: User, limit: int = 20) -> list[Certificate]:
    """The teacher's latest certificates, newest first."""
    return list(db.session.scalars(
        sa.select(Certificate).where(Certificate.teacher_id == teacher.id)
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc()).limit(limit)))
