"""The public verification of certificates (no log-in): a code shows what the certificate states and whether it
still stands, and an uploaded PDF is compared byte for byte with the one issued. Nothing is shown that the
certificate does not print itself."""

from __future__ import annotations

from datetime import date

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.ledger import verify_bp
from webapp.models import Role
from webapp.security import current_roles
from webapp.services import certificates
from webapp.services.errors import NotFound

#: An issued certificate is a few dozen kilobytes; anything much larger is not one of ours.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024


@verify_bp.route("")
def form():
    raw = request.args.get("code", "").strip()
    if not raw:
        asked = "code" in request.args  # submitted empty
        return render_template("ledger/verify_form.html", code="",
                               error=_("Enter the verification code printed on the certificate.") if asked else None)
    try:
        code = certificates.parse_code(raw)
    except certificates.InvalidCode as error:
        return render_template("ledger/verify_form.html", code=raw[:40], error=str(error)), 404
    return redirect(url_for("verify.certificate", code=certificates.format_code(code)))


def _upload() -> tuple[bytes | None, str | None]:
    """The uploaded PDF, or the reason there is none to compare."""
    if request.content_length is None or request.content_length > MAX_UPLOAD_BYTES + 64 * 1024:
        return None, _("The file is too large: an issued certificate is far smaller than %(mb)d MB.",
                       mb=MAX_UPLOAD_BYTES // (1024 * 1024))
    upload = request.files.get("pdf")
    if upload is None or not upload.filename:
        return None, _("Choose the PDF file of the certificate.")
    data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return None, _("The file is too large: an issued certificate is far smaller than %(mb)d MB.",
                       mb=MAX_UPLOAD_BYTES // (1024 * 1024))
    if not data.startswith(b"%PDF-"):
        return None, _("The file is not a PDF file: upload the certificate's PDF.")
    return data, None


@verify_bp.route("/<code>", methods=["GET", "POST"])
def certificate(code: str):
    try:
        found = certificates.find(code)
    except (certificates.InvalidCode, NotFound) as error:
        return render_template("ledger/verify_form.html", code=code[:40], error=str(error)), 404
    canonical = certificates.format_code(found.code)
    if request.method == "GET" and code != canonical:
        return redirect(url_for("verify.certificate", code=canonical))
    upload_result = upload_error = None
    if request.method == "POST":
        data, upload_error = _upload()
        if data is not None:
            upload_result = certificates.matches(found, data)
    is_admin = any(h.role == Role.ADMIN for h in current_roles())
    content = found.content
    days = {"start": content["period"]["start"], "end": content["period"]["end"], "as_of": content["as_of"],
            "issued_on": content["issued_on"]}
    return render_template("ledger/verify.html", certificate=found, content=content, code=canonical,
                           days={key: date.fromisoformat(value) for key, value in days.items()},
                           upload_result=upload_result, upload_error=upload_error, is_admin=is_admin,
                           changes=certificates.changes_since(found),
                           max_upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024))
