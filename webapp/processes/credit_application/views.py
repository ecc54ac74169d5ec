"""Credit-hour applications (学时申请): apply with evidence, see one, revise when returned, withdraw,
open the evidence."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from forms.credit import LEVEL_CHOICES, CreditApplicationForm, CreditReviewForm
from webapp.extensions import db
from webapp.inbox import pages
from webapp.models import HumanTask
from webapp.processes.credit_application import applications
from webapp.processes.credit_application.models import Application, ApplicationStatus, Evidence
from webapp.services import instances, tasks, timeline, uploads
from webapp.services.errors import Conflict, FormRejected, NotAllowed, NotFound, ServiceError

bp = Blueprint("applications", __name__, url_prefix="/applications", template_folder="templates")


def _visible(application_id: int) -> Application:
    try:
        return applications.get_visible(application_id, current_user)
    except NotFound:
        abort(404)


def _form(application: Application | None = None) -> CreditApplicationForm:
    rules = applications.rules_for(current_user)
    categories = [(code, spec["name"]) for code, spec in rules.categories.items()] if rules else []
    items = [(code, f"{spec['name']}（{rules.category_name(spec['category'])}）")
             for code, spec in rules.items.items()] if rules else []
    existing = [(e.id, e.file_name) for e in application.evidence] if application else []
    return CreditApplicationForm(request.form if request.method == "POST" else None, obj=application,
                                 categories=categories, items=items, accept=applications.allowed_types(),
                                 existing=existing)


def _uploads() -> list[applications.Upload]:
    return [applications.Upload(f.filename or "", f.read()) for f in request.files.getlist("evidence")
            if f and f.filename]


def _show_errors(form: CreditApplicationForm, rejected: FormRejected) -> None:
    for field_id, messages in rejected.errors.items():
        for message in messages:
            form.add_error(field_id, message)
    form.form_errors.append(str(rejected))


@bp.route("/")
@login_required
def index():
    page = db.paginate(applications.mine(current_user), per_page=current_app.config["YANXUN"]["PAGE_SIZE"],
                       error_out=False)
    return render_template("credit_application/index.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = _form()
    if applications.rules_for(current_user) is None:
        flash(_("No credit rule set is in force for your school yet; ask your school's training officer."),
              "warning")
    if request.method == "GET":
        return render_template("credit_application/form.html", form=form, application=None)
    if not form.validate():
        return render_template("credit_application/form.html", form=form, application=None), 400
    try:
        application = applications.submit(current_user, form.values(), _uploads())
        db.session.commit()
    except FormRejected as rejected:
        db.session.rollback()
        _show_errors(form, rejected)
        return render_template("credit_application/form.html", form=form, application=None), 422
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return render_template("credit_application/form.html", form=form, application=None), 409
    except instances.ActionFailed as failure:
        db.session.rollback()
        flash(_("The application could not be submitted, so nothing was saved: %(error)s",
                error=str(failure.error)), "danger")
        return render_template("credit_application/form.html", form=form, application=None), 500
    _flash_outcome(application)
    return redirect(url_for("applications.show", application_id=application.id))


def _flash_outcome(application: Application) -> None:
    if application.status is ApplicationStatus.RETURNED:
        flash(_("The automatic checks found problems; please revise your application."), "warning")
    else:
        flash(_("Your application has been submitted for review."), "success")


@bp.route("/<int:application_id>")
@login_required
def show(application_id: int):
    application = _visible(application_id)
    return render_template("credit_application/show.html", application=application, levels=dict(LEVEL_CHOICES),
                           rules=applications.rules_for(application.teacher, application.end_date),
                           timeline=timeline.build(application.instance) if application.instance else None,
                           open_task=task if (task := applications.open_task(application)) is not None
                           and tasks.can_see(task, current_user) else None)


@bp.route("/<int:application_id>/edit", methods=["GET", "POST"])
@login_required
def edit(application_id: int):
    application = _visible(application_id)
    if application.teacher_id != current_user.id or application.status is not ApplicationStatus.RETURNED:
        flash(_("This application is not waiting for your revision."), "warning")
        return redirect(url_for("applications.show", application_id=application.id))
    form = _form(application)
    if request.method == "GET":
        return render_template("credit_application/form.html", form=form, application=application)
    if not form.validate():
        return render_template("credit_application/form.html", form=form, application=application), 400
    try:
        applications.resubmit(application, current_user, form.values(), _uploads(), form.remove_evidence.data or [])
        db.session.commit()
    except FormRejected as rejected:
        db.session.rollback()
        _show_errors(form, rejected)
        return render_template("credit_application/form.html", form=form, application=application), 422
    except (NotAllowed, Conflict) as error:
        db.session.rollback()
        flash(str(error), "warning")
        return redirect(url_for("applications.show", application_id=application_id))
    except instances.ActionFailed as failure:
        db.session.rollback()
        incident = instances.record_incident(failure)
        db.session.commit()
        flash(_("The process could not continue, so nothing was saved. The error has been recorded for the "
                "administrator (incident %(id)s): %(error)s", id=incident.id if incident else "-",
                error=str(failure.error)), "danger")
        return redirect(url_for("applications.show", application_id=application_id))
    _flash_outcome(application)
    return redirect(url_for("applications.show", application_id=application.id))


@bp.route("/<int:application_id>/withdraw", methods=["POST"])
@login_required
def withdraw(application_id: int):
    application = _visible(application_id)
    try:
        applications.withdraw(application, current_user)
        db.session.commit()
        flash(_("Your application has been withdrawn."), "success")
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "warning")
    return redirect(url_for("applications.show", application_id=application_id))


@bp.route("/<int:application_id>/evidence/<int:evidence_id>")
@login_required
def evidence(application_id: int, evidence_id: int):
    application = _visible(application_id)
    item = db.session.get(Evidence, evidence_id)
    if item is None or item.application_id != application.id:
        abort(404)
    path = applications.evidence_path(item)
    if not path.is_file():
        abort(404)
    inline = item.content_type in uploads.INLINE_TYPES and request.args.get("download") != "1"
    response = send_file(path, mimetype=item.content_type, as_attachment=not inline, download_name=item.file_name,
                         max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- the tasks of the process, on the generic task page --------------------------------------------------------

def task_page(task: HumanTask):
    """A review (``credit.review``) is decided on the task page with the application beside it; the teacher's
    revision (``credit.application``) is done on the application's own page, which the task page links to."""
    application = applications.for_task(task)
    if application is None:
        abort(404)  # a credit task always belongs to an application; never fall back to a generic form
    extra = {"application": application, "levels": dict(LEVEL_CHOICES),
             "rules": applications.rules_for(application.teacher, application.end_date)}
    if task.form_key != "credit.review":
        if request.method == "POST":
            return redirect(url_for("applications.edit", application_id=application.id))
        return pages.render_task(task, None, template="credit_application/task.html", **extra)
    form = CreditReviewForm(request.form if request.method == "POST" else None,
                            max_hours=applications.review_limit(application))
    return pages.handle_completion(task, form, lambda: applications.review(
        task, current_user, form.decision.data, form.approved_hours.data, form.comment.data or ""),
        template="credit_application/task.html", **extra)
