"""The bell: my notifications, marking them read, opening one; and ``flask notifications send``."""

from __future__ import annotations

from functools import partial

import click
from flask import (
    Response,
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp import background
from webapp.extensions import db
from webapp.links import is_local_link
from webapp.notifications import bp
from webapp.services import notifications as notification_service


@bp.app_context_processor
def _unread_notifications() -> dict:
    if not has_request_context() or not current_user or not current_user.is_authenticated:
        return {}
    return {"unread_notifications": notification_service.unread_count(current_user)}


@bp.route("/")
@login_required
def index():
    page = db.paginate(notification_service.listing(current_user),
                       per_page=current_app.config["YANXUN"]["PAGE_SIZE"], error_out=False)
    return render_template("notifications/index.html", page=page)


@bp.route("/read", methods=["POST"])
@login_required
def mark_read():
    """Mark one notification (``id``) or all of them read."""
    raw = request.form.get("id", "")
    if raw:
        if not raw.isdigit():
            abort(400)
        notification_service.mark_read(current_user, [int(raw)])
    else:
        changed = notification_service.mark_read(current_user)
        flash(_("%(n)d notifications marked as read.", n=changed), "success")
    db.session.commit()
    target = request.form.get("next", "")
    return redirect(target if is_local_link(target) else url_for("notifications.index"))


@bp.route("/<int:notification_id>")
@login_required
def open_notification(notification_id: int):
    """Mark it read and go to its page (local paths only; anything else stays on the list)."""
    note = notification_service.get_own(current_user, notification_id)
    if note is None:
        abort(404)
    notification_service.mark_read(current_user, [note.id])
    db.session.commit()
    if is_local_link(note.link):
        return redirect(note.link)
    return redirect(url_for("notifications.index"))


# -- email right after the response ---------------------------------------------------------------------------

#: Emails sent after one response at most (the rest wait for the next response, the sweep or ``notifications send``).
AFTER_RESPONSE_LIMIT = 20


@bp.after_app_request
def _send_after_response(response: Response) -> Response:
    """When this request committed notifications, have them emailed once the response has been sent.

    With Redis the delivery job is queued for a worker (when Redis is down the request is not affected and the
    beat schedule's sweep sends them later); without Redis it runs right here, after the response.
    """
    if not notification_service.take_committed_flag():
        return response
    settings = current_app.config["YANXUN"]
    if settings.get("SMTP_HOST") and settings.get("SMTP_SEND_AFTER_REQUEST"):
        response.call_on_close(partial(background.enqueue, current_app._get_current_object(),
                                       background.DELIVER_NOTIFICATIONS, limit=AFTER_RESPONSE_LIMIT))
    return response


@bp.cli.command("send")
@click.option("--limit", default=100, show_default=True, help="Send at most this many emails.")
def send_command(limit: int) -> None:
    """Email the notifications that are waiting (run from cron while no job queue does it)."""
    try:
        report = notification_service.deliver_pending_emails(limit=limit)
    except notification_service.EmailNotConfigured as error:
        raise click.ClickException(str(error)) from error
    if not report.enabled:
        click.echo("YANXUN_SMTP_HOST is not set; email is off.")
        return
    click.echo(f"Sent {report.sent}, failed {report.failed}.")
