"""A teacher's certificates (学时证明 and the rule set's own): issuing one as a PDF download, downloading it again,
and an administrator's revocation."""

from __future__ import annotations

from datetime import date

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.ledger import bp
from webapp.models import Certificate, Role
from webapp.security import current_roles, require_role
from webapp.services import certificates
from webapp.services.errors import ServiceError


def _pdf(certificate: Certificate) -> Response:
    period = certificate.period_key
    filename = f"yanxun-certificate-{certificate.kind}-{period}-{certificate.code[:4]}.pdf"
    return Response(certificate.pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, no-store"})


@bp.route("/certificates", methods=["POST"])
@login_required
def issue_certificate():
    """Issue the chosen certificate to the logged-in teacher and hand over its PDF."""
    kind = request.form.get("kind", "").strip()
    period = request.form.get("period", "").strip()
    raw_day = request.form.get("on", "").strip()
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        abort(400)
    back = url_for("ledger.mine", on=request.form.get("back_on") or None)
    try:
        certificate = certificates.issue(current_user, kind, period, day, by=current_user)
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(back + "#certificates")
    db.session.commit()
    return _pdf(certificate)


@bp.route("/certificates/<int:certificate_id>.pdf")
@login_required
def certificate_pdf(certificate_id: int):
    """The PDF as issued, again: for its teacher and for administrators."""
    certificate = db.get_or_404(Certificate, certificate_id)
    if certificate.teacher_id != current_user.id and not any(h.role == Role.ADMIN for h in current_roles()):
        abort(404)
    return _pdf(certificate)


@bp.route("/certificates/<int:certificate_id>/revoke", methods=["POST"])
@require_role(Role.ADMIN)
def revoke_certificate(certificate_id: int):
    certificate = db.get_or_404(Certificate, certificate_id)
    try:
        certificates.revoke(certificate, current_user, request.form.get("reason", ""))
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "danger")
    else:
        db.session.commit()
        flash(_("The certificate is revoked; its verification page says so."), "success")
    return redirect(url_for("verify.certificate", code=certificates.format_code(certificate.code)))
