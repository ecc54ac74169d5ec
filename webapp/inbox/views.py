"""The task inbox: what waits for me, what I can claim, what I did, what I started; the task page."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_sqlalchemy.pagination import Pagination

from forms.admin import ReasonForm
from forms.generated import FieldSpec, build_form
from webapp.engine import EngineError
from webapp.errors import render_error
from webapp.extensions import db
from webapp.inbox import bp, pages
from webapp.labels import DECISION_LABELS
from webapp.links import local_or
from webapp.models import AuditEvent, HumanTask, Org, OrgType, ProcessInstance, Role, User
from webapp.security import current_roles
from webapp.services import instance_admin, instances, processes, tasks, timeline
from webapp.services.errors import Conflict, NotAllowed, NotFound, ServiceError
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


SEARCH_MAX = 50


def _search(query: sa.Select, text: str) -> sa.Select:
    """Tasks whose record matches ``text``: a process's number or name, the title, or who started it."""
    text = text.strip()[:SEARCH_MAX]
    if not text:
        return query
    by_title = sa.select(ProcessInstance.id).where(sa.or_(
        ProcessInstance.title.icontains(text, autoescape=True),
        ProcessInstance.initiator_id.in_(sa.select(User.id).where(User.display_name.icontains(text, autoescape=True)))))
    matches = [HumanTask.instance_id.in_(by_title)]
    matches += [HumanTask.instance_id.in_(select) for select in processes.search(text)]
    return query.where(sa.or_(*matches))


def _decisions(items: list[HumanTask]) -> dict[int, tuple[str, str]]:
    """What was decided on each completed task of the page: (words, decision code), in one query."""
    done = [str(t.id) for t in items if t.completed_at is not None]
    if not done:
        return {}
    rows = db.session.execute(sa.select(AuditEvent.object_id, AuditEvent.after).where(
        AuditEvent.action == "task.complete", AuditEvent.object_type == "human_task",
        AuditEvent.object_id.in_(done))).all()
    words = {}
    for object_id, after in rows:
        decision = ((after or {}).get("data") or {}).get("decision")
        if isinstance(decision, str) and decision in DECISION_LABELS:
            words[int(object_id)] = (str(DECISION_LABELS[decision]), decision)
    return words


@bp.route("/")
@login_required
def index():
    tab = request.args.get("tab", "assigned")
    if tab not in TABS:
        tab = "assigned"
    page_size = current_app.config["YANXUN"]["PAGE_SIZE"]
    process = request.args.get("process") or None
    overdue = request.args.get("overdue") == "1"
    text = (request.args.get("q") or "").strip()[:SEARCH_MAX]
    if tab == "started":
        query = instances.started_by(current_user, process_key=process)
        page = db.paginate(query, per_page=page_size, error_out=False)
        return render_template("inbox/index.html", tab=tab, page=page, process=process, overdue=overdue,
                               sort=None, now=datetime.now(UTC), filters={}, q="",
                               summaries=processes.summaries(page.items))
    sort = request.args.get("sort", "due" if tab != "done" else "created")
    schools = _schools_in_scope(current_user)
    school = next((s for s in schools if str(s.id) == request.args.get("school")), None)
    base = tasks.inbox_query(current_user, tasks.Scope(tab), process_key=process,
                             subject_org_ids=descendant_ids(school) if school else None,
                             overdue_at=datetime.now(UTC) if overdue else None, pairs=_pairs())
    query = _search(base, text)
    extra, chosen = [], {}
    for choice in processes.filters():
        options = choice.options(base)
        value = request.args.get(choice.name)
        if value in dict(options):
            chosen[choice.name] = value
            query = query.where(HumanTask.instance_id.in_(choice.instances(value)))
        if options:
            extra.append((choice, options))
    since, until = _date_arg("since"), _date_arg("until")
    if since:
        query = query.where(HumanTask.created_at >= datetime.combine(since, time.min, UTC))
    if until:
        query = query.where(HumanTask.created_at < datetime.combine(until + timedelta(days=1), time.min, UTC))
    if sort in SORTS and tab != "done":
        query = query.order_by(None).order_by(*SORTS[sort])
    unfiltered = not (process or overdue or school or chosen or since or until or text) and tab != "done"
    if unfiltered and tab == "claimable" and sort == "due":
        # The commonest page of a busy officer, answered from task_candidate's claimable indexes alone.
        number = request.args.get("page", 1, type=int)
        items = tasks.claimable_page(current_user, _pairs(), page=max(number, 1), per_page=page_size)
        page = _ListPage(items, task_counts(current_user)["claimable"], max(number, 1), page_size)
    else:
        page = db.paginate(query.options(*tasks.ROW_LOADS), per_page=page_size, error_out=False,
                           count=not unfiltered)
        if unfiltered:
            page.total = task_counts(current_user)[tab]  # the navigation's count is this very number
    filters = {"schools": schools, "school": school, "extra": extra, "chosen": chosen, "since": since,
               "until": until}
    bulk = None
    if tab in ("assigned", "claimable"):
        bulk = next((action for t in page.items if (action := processes.bulk_for(t.form_key))), None)
    active = sum(bool(v) for v in (overdue, school, since, until)) + len(chosen) + (sort != "due" and tab != "done")
    return render_template("inbox/index.html", tab=tab, page=page, process=process, overdue=overdue, sort=sort,
                           now=datetime.now(UTC), filters=filters, q=text, active_filters=active, bulk=bulk,
                           summaries=processes.summaries(t.instance for t in page.items),
                           decisions=_decisions(page.items) if tab == "done" else {})


@bp.route("/bulk-approve", methods=["POST"])
@login_required
def bulk_approve():
    """Approve the selected review tasks with one comment, each through its process's own rules."""
    ids = [int(value) for value in request.form.getlist("task_id") if value.isdigit()]
    back = local_or(request.form.get("next"), url_for("inbox.index"))
    if not ids:
        flash(_("Select the applications to approve first."), "warning")
        return redirect(back)
    by_action: dict[int, tuple[processes.BulkAction, list[int]]] = {}
    for task_id, form_key in db.session.execute(sa.select(HumanTask.id, HumanTask.form_key)
                                                .where(HumanTask.id.in_(ids))).all():
        action = processes.bulk_for(form_key)
        if action is not None:
            by_action.setdefault(id(action), (action, []))[1].append(task_id)
    approved, refused = [], []
    for action, chosen in by_action.values():
        result = action.run([i for i in ids if i in chosen], current_user, request.form.get("comment", ""))
        approved += result.approved
        refused += result.refused
    db.session.commit()
    if approved:
        flash(_("%(n)d applications approved.", n=len(approved)), "success")
    for task, why in refused:
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


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int):
    task = _visible_task(task_id)
    package = processes.for_form(task.form_key)
    if package is not None and package.task_page is not None:
        return package.task_page(task)
    form = build_form(_field_specs(task), request.form if request.method == "POST" else None)
    return pages.handle_completion(task, form, lambda: instances.complete_task(
        task, current_user, form.engine_data(), tasks.authorise_complete))


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


def _visible_instance(instance_id: int) -> ProcessInstance:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or not tasks.can_see_instance(instance, current_user):
        abort(404)
    return instance


@bp.route("/instances/<int:instance_id>")
@login_required
def instance(instance_id: int):
    instance = _visible_instance(instance_id)
    admin_form = ReasonForm() if instance_admin.may_administer(current_user) else None
    openable = {task.id for task in instances.open_tasks(instance) if tasks.can_see(task, current_user)}
    return render_template("inbox/instance.html", instance=instance, timeline=timeline.build(instance),
                           openable=openable,
                           summary=processes.summaries([instance]).get(instance.id),
                           incidents=instances.incidents(instance), admin_form=admin_form, now=datetime.now(UTC))


@bp.route("/instances/<int:instance_id>/print")
@login_required
def print_record(instance_id: int):
    """打印审批单: the record with its whole timeline on paper, for the school's archive."""
    instance = _visible_instance(instance_id)
    return render_template("inbox/print.html", instance=instance, timeline=timeline.build(instance),
                           summary=processes.summaries([instance]).get(instance.id), now=datetime.now(UTC))
