"""Semester summaries (学期总结与自查): the five task pages, the school's collection page with 截止收集, the
teacher's list of their summaries, and the outcome files."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from forms.summary import (
    ATTACHMENT_KINDS,
    SELF_CHECK_DUTIES,
    SELF_CHECK_STATUSES,
    CountyReviewForm,
    PersonalSummaryForm,
    PrincipalSignForm,
    SchoolCompileForm,
    SubgroupSummaryForm,
)
from webapp.extensions import db
from webapp.inbox import pages
from webapp.models import HumanTask, ProcessInstance
from webapp.processes.semester_summary import records, summaries
from webapp.processes.semester_summary.models import SummaryAttachment
from webapp.services import instances, timeline, uploads
from webapp.services.errors import Conflict, FormRejected, NotAllowed, ServiceError

bp = Blueprint("summaries", __name__, url_prefix="/summaries", template_folder="templates")

LABELS = {"kinds": dict(ATTACHMENT_KINDS), "duties": dict(SELF_CHECK_DUTIES), "statuses": dict(SELF_CHECK_STATUSES)}


def _instance(instance_id: int) -> ProcessInstance:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or instance.process_key != "semester_summary" or \
            not summaries.may_watch(instance, current_user):
        abort(404)
    return instance


@bp.route("/school")
@login_required
def school():
    """The school officer's and the principal's list of their schools' summaries, each to its collection page."""
    page = db.paginate(summaries.watched_by(current_user), per_page=current_app.config["YANXUN"]["PAGE_SIZE"],
                       error_out=False)
    return render_template("semester_summary/school.html", page=page)


@bp.route("/instances/<int:instance_id>")
@login_required
def instance(instance_id: int):
    """The collection page: who has submitted, who is still writing, who is missing; 截止收集 for the officer."""
    item = _instance(instance_id)
    view = summaries.compile_view(item)
    deadline = summaries.personal_deadline(item)
    return render_template("semester_summary/collection.html", instance=item, view=view, deadline=deadline,
                           can_close=summaries.CLOSE_MESSAGE in (item.waiting_messages or [])
                           and summaries.is_school_officer(current_user, item.subject_org),
                           record=summaries.school_summary(item), labels=LABELS,
                           period_label=records.period_label, timeline=timeline.build(item))


@bp.route("/instances/<int:instance_id>/close", methods=["POST"])
@login_required
def close(instance_id: int):
    item = _instance(instance_id)
    try:
        rows = summaries.close_collection(item, current_user)
        db.session.commit()
    except (NotAllowed, Conflict) as error:
        db.session.rollback()
        flash(str(error), "warning")
    except instances.ActionFailed as failure:
        db.session.rollback()
        incident = instances.record_incident(failure)
        db.session.commit()
        flash(_("The process could not continue, so nothing was saved. The administrators have been told what "
                "went wrong (incident %(id)s).", id=incident.id if incident else "-"), "danger")
    else:
        missing = sum(1 for row in rows if row.status == "missing")
        flash(_("The collection is closed; %(n)d teachers are recorded as missing.", n=missing), "success")
    return redirect(url_for("summaries.instance", instance_id=instance_id))


@bp.route("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    item = db.session.get(SummaryAttachment, attachment_id)
    if item is None:
        abort(404)
    summary = item.summary
    if summary.teacher_id != current_user.id:
        _instance(summary.instance_id)
    path = uploads.path_of(item.storage_path)
    if not path.is_file():
        abort(404)
    inline = item.content_type in uploads.INLINE_TYPES and request.args.get("download") != "1"
    response = send_file(path, mimetype=item.content_type, as_attachment=not inline, download_name=item.file_name,
                         max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- the tasks of the process, on the generic task page --------------------------------------------------------

TEMPLATE = "semester_summary/task.html"


def _files() -> dict[str, list[uploads.Upload]]:
    return {kind: [uploads.Upload(f.filename or "", f.read()) for f in request.files.getlist(kind) if f and f.filename]
            for kind, _label in ATTACHMENT_KINDS}


def _personal_page(task: HumanTask, **extra: Any):
    summary = summaries.personal_of(task)
    existing = [(a.id, f"{LABELS['kinds'][a.kind.value]} · {a.file_name}") for a in summary.attachments] \
        if summary else []
    form = PersonalSummaryForm(request.form if request.method == "POST" else None, obj=summary,
                               accept=uploads.allowed_types(), existing=existing)
    instance = task.instance
    extra.update(personal=summary, hours=summaries.semester_hours(
        task.assignee, instance.subject_org, summaries.period_of(instance)) if task.assignee else None)
    if request.method == "GET" or form.action.data != "save":
        return pages.handle_completion(task, form, lambda: summaries.save_personal(
            task, current_user, form.body.data or "", _files(), form.remove_attachments.data or []), **extra)
    if not form.validate():
        return pages.render_task(task, form, status=400, **extra)
    try:
        summaries.save_personal(task, current_user, form.body.data or "", _files(),
                                form.remove_attachments.data or [], submit=False)
        db.session.commit()
    except FormRejected as rejected:
        db.session.rollback()
        for field_id, messages in rejected.errors.items():
            for message in messages:
                form.add_error(field_id, message)
        form.form_errors.append(str(rejected))
        return pages.render_task(task, form, status=422, **extra)
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "warning")
    else:
        flash(_("Your draft is saved. Submit it before the deadline."), "success")
    return redirect(url_for("inbox.task", task_id=task.id))


def task_page(task: HumanTask):
    """Each step's own page: its form beside what it needs (the semester's hours, the members' summaries, the
    ledger's aggregates, the school's summary)."""
    instance = task.instance
    extra: dict[str, Any] = {"template": TEMPLATE, "labels": LABELS, "period": summaries.period_of(instance),
                             "period_label": records.period_label,
                             "can_watch": summaries.may_watch(instance, current_user)}
    if task.form_key == "summary.personal":
        return _personal_page(task, **extra)
    if task.form_key == "summary.subgroup":
        subgroup = summaries.subgroup_of(task)
        form = SubgroupSummaryForm(request.form if request.method == "POST" else None)
        return pages.handle_completion(task, form, lambda: summaries.submit_subgroup(
            task, current_user, form.body.data or ""), subgroup=subgroup,
            members=summaries.members(instance, subgroup), **extra)
    record = summaries.school_summary(instance)
    if task.form_key == "summary.compile":
        form = SchoolCompileForm(request.form if request.method == "POST" else None)
        if request.method == "GET" and record is not None:
            _fill_compile(form, record)
        return pages.handle_completion(task, form, lambda: summaries.compile_summary(
            task, current_user, form.self_check(), form.newsletters.data, form.body.data or ""),
            view=summaries.compile_view(instance), record=record, **extra)
    form_class = PrincipalSignForm if task.form_key == "summary.sign" else CountyReviewForm
    decide = summaries.sign if task.form_key == "summary.sign" else summaries.county_review
    form = form_class(request.form if request.method == "POST" else None)
    return pages.handle_completion(task, form, lambda: decide(
        task, current_user, form.decision.data or "", form.comment.data or ""), record=record, **extra)


def _fill_compile(form: SchoolCompileForm, record: Any) -> None:
    """A returned compilation opens with what the school wrote last time."""
    for code, item in (record.self_check or {}).items():
        if code in form:
            form[code].data = item.get("status")
            form[f"{code}_note"].data = item.get("note")
    form.newsletters.data = record.newsletters
    form.body.data = record.body

