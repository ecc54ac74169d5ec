"""The task inbox: what waits for me, what I can claim, what I did, what I started; the task page."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_sqlalchemy.pagination import Pagination

from forms import form_keys, get_form_class
from forms.admin import ReasonForm
from forms.generated import FieldSpec, build_form
from webapp.engine import EngineError
from webapp.errors import render_error
from webapp.extensions import db
from webapp.inbox import bp
from webapp.links import local_or
from webapp.models import HumanTask, Org, OrgType, ProcessInstance, Role, TaskStatus, User
from webapp.security import current_roles
from webapp.services import applications, instance_admin, instances, tasks
from webapp.services.errors import Conflict, FormRejected, NotAllowed, NotFound, ServiceError
from webapp.services.orgs import descendant_ids

TABS = ("assigned", "claimable", "done", "started")
SORTS = {
    "due": (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id),
    "created": (HumanTask.created_at.desc(), HumanTask.id.desc()),
    "priority": (HumanTask.priority.desc(), HumanTask.due_at, HumanTask.id),
}


def task_counts(user: User) -> dict[str, int]:
    """Open tasks waiting for the user and claimable by them, counted once per request."""
    if "_yanxun_task_counts" not in g:
        pairs = _pairs()
        assigned = (tasks.inbox_query(user, tasks.Scope.ASSIGNED, pairs=pairs).order_by(None)
                    .with_only_columns(sa.func.count(HumanTask.id)))
        g._yanxun_task_counts = {"assigned": db.session.scalar(assigned) or 0,
                                 "claimable": tasks.claimable_count(user, pairs)}
    return g._yanxun_task_counts


class _ListPage(Pagination):
    """A page whose items and total were fetched already (same interface as ``db.paginate``'s)."""

    def __init__(self, items: list, total: int, page: int, per_page: int) -> None:
        self._items, self._total = items, total
        super().__init__(page=page, per_page=per_page, max_per_page=None, error_out=False)

    def _query_items(self) -> list:
        return self._items

    def _query_count(self) -> int:
        return self._total


def _pairs() -> list[tuple[str, int]]:
    """The current user's (role, org) pairs from the request's cached roles: no second look-up."""
    return [(held.role.value, held.org.id) for held in current_roles()]


@bp.app_context_processor
def _inbox_counts() -> dict:
    if not current_user.is_authenticated:
        return {}
    return {"inbox_counts": task_counts(current_user)}


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _schools_in_scope(user: User) -> list[Org]:
    """Schools at or below the organisations where the user reviews (for the school filter)."""
    paths = {held.org.path for held in current_roles() if held.role is not Role.TEACHER}
    if not paths:
        return []
    query = (sa.select(Org).where(Org.type == OrgType.SCHOOL, Org.active.is_(True),
                                  sa.or_(*(Org.path.startswith(path, autoescape=True) for path in paths)))
             .order_by(Org.name).limit(500))
    return list(db.session.scalars(query))


@bp.route("/")
@login_required
def index():
    tab = request.args.get("tab", "assigned")
    if tab not in TABS:
        tab = "assigned"
    page_size = current_app.config["YANXUN"]["PAGE_SIZE"]
    process = request.args.get("process") or None
    overdue = request.args.get("overdue") == "1"
    if tab == "started":
        query = instances.started_by(current_user, process_key=process)
        page = db.paginate(query, per_page=page_size, error_out=False)
        return render_template("inbox/index.html", tab=tab, page=page, process=process, overdue=overdue,
                               sort=None, now=datetime.now(UTC), filters={})
    sort = request.args.get("sort", "due" if tab != "done" else "created")
    schools = _schools_in_scope(current_user)
    school = next((s for s in schools if str(s.id) == request.args.get("school")), None)
    base = tasks.inbox_query(current_user, tasks.Scope(tab), process_key=process,
                             subject_org_ids=descendant_ids(school) if school else None,
                             overdue_at=datetime.now(UTC) if overdue else None, pairs=_pairs())
    categories = applications.categories_of(base)
    category = request.args.get("category") if request.args.get("category") in dict(categories) else None
    query = base
    if category:
        query = query.where(HumanTask.instance_id.in_(applications.instances_in_category(category)))
    since, until = _date_arg("since"), _date_arg("until")
    if since:
        query = query.where(HumanTask.created_at >= datetime.combine(since, time.min, UTC))
    if until:
        query = query.where(HumanTask.created_at < datetime.combine(until + timedelta(days=1), time.min, UTC))
    if sort in SORTS and tab != "done":
        query = query.order_by(None).order_by(*SORTS[sort])
    unfiltered = not (process or overdue or school or category or since or until) and tab != "done"
    if unfiltered and tab == "claimable" and sort == "due":
        # The commonest page of a busy officer, answered from task_candidate's claimable indexes alone.
        number = request.args.get("page", 1, type=int)
        items = tasks.claimable_page(current_user, _pairs(), page=max(number, 1), per_page=page_size)
        page = _ListPage(items, task_counts(current_user)["claimable"], max(number, 1), page_size)
    else:
        page = db.paginate(query, per_page=page_size, error_out=False, count=not unfiltered)
        if unfiltered:
            page.total = task_counts(current_user)[tab]  # the navigation's count is this very number
    filters = {"schools": schools, "school": school, "categories": categories, "category": category,
               "since": since, "until": until}
    return render_template("inbox/index.html", tab=tab, page=page, process=process, overdue=overdue, sort=sort,
                           now=datetime.now(UTC), filters=filters,
                           bulk=tab in ("assigned", "claimable") and any(t.form_key == "credit.review"
                                                                          for t in page.items))


@bp.route("/bulk-approve", methods=["POST"])
@login_required
def bulk_approve():
    """Approve the selected credit application reviews with one comment, each with the hours asked."""
    ids = [int(value) for value in request.form.getlist("task_id") if value.isdigit()]
    back = local_or(request.form.get("next"), url_for("inbox.index"))
    if not ids:
        flash(_("Select the applications to approve first."), "warning")
        return redirect(back)
    result = applications.bulk_approve(ids, current_user, request.form.get("comment", ""))
    db.session.commit()
    if result.approved:
        flash(_("%(n)d applications approved.", n=len(result.approved)), "success")
    for task, why in result.refused:
        flash(_("Not approved: %(task)s (%(title)s): %(why)s", task=task.name, title=task.instance.title, why=why),
              "warning")
    return redirect(back)


def _visible_task(task_id: int) -> HumanTask:
    try:
        return tasks.get_visible(task_id, current_user)
    except NotFound:
        abort(404)


def _field_specs(task: HumanTask) -> list[FieldSpec]:
    try:
        info = instances.user_task_info(task)
    except EngineError:
        current_app.logger.exception("cannot describe task %s", task.id)
        return []
    if info is None:
        return []
    return [FieldSpec(id=f.id, label=f.label or f.id, type=f.type, value=f.value, required=f.required,
                      readonly=f.readonly, constraints=dict(f.constraints),
                      options=[(o.id, o.name) for o in f.options]) for f in info.form_fields]


def _registered_form(task: HumanTask, application):
    """The registered form (``camunda:formKey``) of the task, built for it; None for generated forms.

    ``credit.review`` is filled in on this page; ``credit.application`` (the teacher's revision) is filled in
    on the application's own page, which the task page links to.
    """
    if not task.form_key or task.form_key not in form_keys():
        return None
    form_class = get_form_class(task.form_key)
    formdata = request.form if request.method == "POST" else None
    if task.form_key == "credit.review" and application is not None:
        return form_class(formdata, max_hours=applications.review_limit(application))
    return None


def _render_task(task: HumanTask, form, status: int = 200, application=None):
    instance = task.instance
    return render_template("inbox/task.html", task=task, instance=instance, form=form, application=application,
                           rules=(applications.rules_for(application.teacher, application.end_date)
                                  if application is not None else None),
                           can_act=task.status is TaskStatus.OPEN and tasks.can_act(task, current_user),
                           can_claim=(task.status is TaskStatus.OPEN and task.claimed_by_id is None
                                      and task.assignee_id is None and tasks.is_candidate(task, current_user)),
                           can_comment=(task.status is TaskStatus.OPEN
                                        and tasks.may_comment(instance, current_user)),
                           history=(history := instances.history(instance)), step_names=instances.step_names(history),
                           comments=instances.comments(instance),
                           now=datetime.now(UTC)), status


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int):
    task = _visible_task(task_id)
    application = applications.for_task(task)
    if task.form_key in applications.FORM_KEYS and application is None:
        abort(404)  # a credit task always belongs to an application; never fall back to a generic form
    registered = _registered_form(task, application)
    if registered is not None:
        return _review_task(task, registered, application)
    if task.form_key == "credit.application" and application is not None and request.method == "POST":
        return redirect(url_for("applications.edit", application_id=application.id))
    specs = _field_specs(task)
    form = build_form(specs, request.form if request.method == "POST" else None)
    return _handle_completion(task, form, application, lambda: instances.complete_task(
        task, current_user, form.engine_data(), tasks.authorise_complete))


def _review_task(task: HumanTask, form, application):
    """A credit application review: the registered ``credit.review`` form, validated again by the service."""
    return _handle_completion(task, form, application, lambda: applications.review(
        task, current_user, form.decision.data, form.approved_hours.data, form.comment.data or ""))


def _handle_completion(task: HumanTask, form, application, complete):
    """Show the task (GET) or complete it (POST): one commit; every refusal explained, nothing half-saved."""
    if request.method == "GET":
        return _render_task(task, form, application=application)
    if not form.validate():
        return _render_task(task, form, 400, application)
    back = redirect(url_for("inbox.task", task_id=task.id))
    try:
        complete()
        db.session.commit()
    except FormRejected as rejected:
        db.session.rollback()
        for field_id, messages in rejected.errors.items():
            for message in messages:
                form.add_error(field_id, message)
        form.form_errors.append(str(rejected))
        return _render_task(task, form, 422, application)
    except (NotAllowed, Conflict) as error:
        db.session.rollback()
        flash(str(error), "danger" if isinstance(error, NotAllowed) else "warning")
        return back
    except instances.ActionFailed as failure:
        db.session.rollback()
        incident = instances.record_incident(failure)
        db.session.commit()
        flash(_("The process could not continue, so nothing was saved. The administrators have been told what "
                "went wrong (incident %(id)s).", id=incident.id if incident else "-"), "danger")
        return back
    flash(_("Done: “%(name)s” is completed.", name=task.name), "success")
    return redirect(url_for("inbox.index"))


def _task_action(task_id: int, action, success: str):
    task = _visible_task(task_id)
    try:
        action(task)
        db.session.commit()
        flash(success, "success")
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "warning" if isinstance(error, Conflict) else "danger")
    return redirect(local_or(request.form.get("next"), url_for("inbox.task", task_id=task_id)))


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: int):
    return _task_action(task_id, lambda t: tasks.claim(t, current_user),
                        _("You have claimed this task; it is now in “Waiting for me”."))


@bp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@login_required
def unclaim(task_id: int):
    return _task_action(task_id, lambda t: tasks.unclaim(t, current_user),
                        _("You have given the task back to your group."))


@bp.route("/tasks/<int:task_id>/comment", methods=["POST"])
@login_required
def comment(task_id: int):
    """Those who may only look at the task (the chain above) get 403 with the reason, not a flash message."""
    task = _visible_task(task_id)
    try:
        tasks.comment(task, current_user, request.form.get("body", ""))
        db.session.commit()
    except NotAllowed as refused:
        db.session.rollback()
        return render_error(403, str(refused))
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "danger")
    else:
        flash(_("Your comment has been added."), "success")
    return redirect(local_or(request.form.get("next"), url_for("inbox.task", task_id=task_id)))


@bp.route("/instances/<int:instance_id>")
@login_required
def instance(instance_id: int):
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or not tasks.can_see_instance(instance, current_user):
        abort(404)
    admin_form = ReasonForm() if instance_admin.may_administer(current_user) else None
    return render_template("inbox/instance.html", instance=instance, open_tasks=instances.open_tasks(instance),
                           history=(history := instances.history(instance)), step_names=instances.step_names(history),
                           comments=instances.comments(instance),
                           incidents=instances.incidents(instance), admin_form=admin_form)
