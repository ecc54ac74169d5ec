"""The campaign pages: the list, launching one, its board (filters, pages, Excel), extending and closing it."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from forms.campaigns import SCOPE_ALL, SCOPE_GROUP, SCOPE_PICK, CloseForm, ExtendForm, LaunchForm
from webapp import background
from webapp.campaigns import bp
from webapp.extensions import db
from webapp.ledger.views import ascii_filename
from webapp.models import Campaign, Org, OrgType, User
from webapp.models.base import utcnow
from webapp.services import campaigns, processes
from webapp.services.errors import ServiceError
from webapp.services.rules import semester_of

PER_PAGE = 50
CAMPAIGNS_PER_PAGE = 20


def _user() -> User:
    return current_user._get_current_object()


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not campaigns.may_view(_user(), campaign):
        abort(404)
    return campaign


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() else 1


def queue(campaign_id: int, mode: str) -> None:
    """Hand the campaign's background work to the workers (without Redis: run it now); after the commit, with the id
    read before it (reading the committed row again would open a transaction the job's commits sit inside)."""
    background.enqueue(current_app, background.LAUNCH_CAMPAIGN, campaign_id=campaign_id, mode=mode)


@bp.route("/")
@login_required
def index():
    user = _user()
    query = campaigns.visible(user)
    page = db.paginate(query, page=_page_number(), per_page=CAMPAIGNS_PER_PAGE, error_out=False)
    return render_template("campaigns/index.html", page=page, may_launch=bool(campaigns.launch_orgs(user)),
                           status_words=campaigns.CAMPAIGN_STATUS_WORDS, packages=processes)


# -- launching -----------------------------------------------------------------------------------------------------

def _scope_org(orgs: list[Org]) -> Org:
    raw = request.values.get("org", "")
    if raw.isdigit():
        chosen = next((o for o in orgs if o.id == int(raw)), None)
        if chosen is None:
            abort(403)
        return chosen
    return orgs[0]


def _groups(org: Org) -> list[Org]:
    return list(db.session.scalars(sa.select(Org).where(Org.type.in_([OrgType.SCHOOL_GROUP, OrgType.ZONE]),
                                                        Org.active.is_(True),
                                                        Org.path.startswith(org.path, autoescape=True))
                                   .order_by(Org.code)))


def _chosen_schools(form: LaunchForm, org: Org, schools: list[Org]) -> list[Org]:
    if form.scope.data == SCOPE_GROUP:
        group = db.session.get(Org, form.group.data) if form.group.data else None
        if group is None or not group.path.startswith(org.path):
            form.add_error("group", _("Choose a school group or zone."))
            return []
        return [s for s in schools if s.path.startswith(group.path)]
    if form.scope.data == SCOPE_PICK:
        picked = set(form.schools.data or [])
        return [s for s in schools if s.id in picked]
    return schools


def _deadlines(spec: processes.CampaignSpec, form: LaunchForm) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for stage in spec.timed_stages:
        raw = request.form.get(f"deadline_{stage.key}", "").strip()
        if not raw:
            continue
        try:
            found[stage.key] = campaigns.local(datetime.fromisoformat(raw))
        except ValueError:
            form.add_error(None, _("Enter the deadline of “%(stage)s” as a date and time.", stage=stage.label))
    return found


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    user = _user()
    orgs = campaigns.launch_orgs(user)
    if not orgs:
        abort(403)
    org = _scope_org(orgs)
    packages = processes.campaign_packages()
    form = LaunchForm()
    form.process_key.choices = [SelectChoice(p.key, str(p.name)) for p in packages]
    key = form.process_key.data if request.method == "POST" else request.args.get("process") or (
        packages[0].key if packages else None)
    package = processes.get(key) if key else None
    spec = package.campaign if package is not None else None
    schools = list(db.session.scalars(campaigns.schools_in(org)))
    groups = _groups(org)
    form.group.choices = [SelectChoice("", "—"), *[SelectChoice(g.id, g.name) for g in groups]]
    form.schools.choices = [SelectChoice(s.id, s.name) for s in schools]
    if request.method == "GET":
        form.process_key.data = key
        semester = semester_of(date.today())  # the period under way, as most campaigns are
        form.period.data = form.period.data or request.args.get("period") or semester.key
        if form.period.data == semester.key:
            form.period_start.data = form.period_start.data or semester.start
            form.period_end.data = form.period_end.data or semester.end
        if spec is not None and spec.default_title is not None and not form.title.data:
            form.title.data = spec.default_title(form.period.data)
    defaults = campaigns.default_deadlines(key) if spec is not None else {}
    if form.validate_on_submit() and spec is not None:
        deadlines = _deadlines(spec, form)
        chosen = _chosen_schools(form, org, schools)
        if not form.form_errors and not form.errors:
            try:
                campaign = campaigns.launch(key, title=form.title.data, period=form.period.data,
                                            period_start=form.period_start.data, period_end=form.period_end.data,
                                            org=org, schools=chosen, deadlines=deadlines,
                                            remind_days=form.remind_days.data, note=form.note.data, actor=user)
            except ServiceError as error:
                db.session.rollback()
                field = error.field if error.field in form._fields else None
                form.add_error(field, error.message)
            else:
                campaign_id = campaign.id
                db.session.commit()
                queue(campaign_id, "start")
                return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    entered = {stage.key: request.form.get(f"deadline_{stage.key}") or
               defaults[stage.key].strftime("%Y-%m-%dT%H:%M") for stage in (spec.timed_stages if spec else ())}
    return render_template("campaigns/new.html", form=form, org=org, orgs=orgs, spec=spec, entered=entered,
                           packages=packages, scopes=(SCOPE_ALL, SCOPE_GROUP, SCOPE_PICK), school_count=len(schools))


# -- the board -----------------------------------------------------------------------------------------------------

def _filters() -> dict[str, str | None]:
    return {"stage": request.args.get("stage") or None, "state": request.args.get("state") or None,
            "text": (request.args.get("q") or "").strip() or None}


@bp.route("/<int:campaign_id>")
@login_required
def show(campaign_id: int):
    campaign = _campaign(campaign_id)
    user = _user()
    spec = campaigns.spec_of(campaign.process_key)
    filters = _filters()
    view = campaigns.board(campaign, **filters, page=_page_number(), per_page=PER_PAGE)
    manage = campaigns.may_manage(user, campaign) and campaign.status.value != "closed"
    extend_form, close_form = ExtendForm(), CloseForm()
    extend_form.stage.choices = [SelectChoice(s.key, str(s.label)) for s in spec.timed_stages]
    deadlines = [(stage, campaigns.deadline(campaign, stage.key)) for stage in spec.timed_stages
                 if stage.key in (campaign.deadlines or {})]
    return render_template("campaigns/show.html", campaign=campaign, view=view, filters=filters,
                           progress=campaigns.progress(campaign), manage=manage, extend_form=extend_form,
                           close_form=close_form, deadlines=deadlines, state_words=campaigns.STATE_WORDS,
                           status_words=campaigns.CAMPAIGN_STATUS_WORDS, package=processes.get(campaign.process_key))


@bp.route("/<int:campaign_id>/progress.json")
@login_required
def progress(campaign_id: int):
    return jsonify(campaigns.progress(_campaign(campaign_id)).as_dict())


@bp.route("/<int:campaign_id>.xlsx")
@login_required
def board_xlsx(campaign_id: int):
    campaign = _campaign(campaign_id)
    data = campaigns.board_xlsx(campaign, **_filters())
    filename = ascii_filename(f"yanxun-campaign-{campaign.id}-{format_datetime(utcnow(), 'yyyyMMdd')}.xlsx")
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _manage(campaign: Campaign, form, act, mode: str, done_words: str):
    """Extend or close: authorise, check the form, act (``act(campaign, user) -> done inline?``), commit once, hand
    what is left to the campaign job, and go back to the board with a message."""
    campaign_id, user = campaign.id, _user()
    if not campaigns.may_manage(user, campaign):
        abort(403)
    if not form.validate_on_submit():
        for _label, message in form.error_list:
            flash(message, "danger")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    try:
        done = act(campaign, user)
    except ServiceError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    db.session.commit()
    if not done:
        queue(campaign_id, mode)
    flash(done_words, "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/extend", methods=["POST"])
@login_required
def extend(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = ExtendForm()
    form.stage.choices = [SelectChoice(s.key, str(s.label))
                          for s in campaigns.spec_of(campaign.process_key).timed_stages]
    return _manage(campaign, form,
                   lambda campaign, user: campaigns.extend(campaign, form.stage.data,
                                                           campaigns.local(form.deadline.data), user),
                   "extend", _("The deadline is extended; the schools' tasks and reminders follow it."))


@bp.route("/<int:campaign_id>/close", methods=["POST"])
@login_required
def close(campaign_id: int):
    form = CloseForm()
    return _manage(_campaign(campaign_id), form,
                   lambda campaign, user: campaigns.close(campaign, user, form.reason.data), "close",
                   _("The campaign is closed; the schools' open tasks are cancelled."))
