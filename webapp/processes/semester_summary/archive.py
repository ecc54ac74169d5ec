"""The semester summaries' archive (资料立卷建档): the school's summaries of every semester, a teacher's own personal
summaries, and one school's or one teacher's summary as a page to read and print for the paper archive.

The seeds ask for it: [000] 第23条 "做好校本培训资料立卷建档工作"; [000] 第31条 "考核情况应纳入教师本人业务档案".

Who reads what, from the roles the reader holds today (their own or a substitute's):

* a school's summary: its training officer and principal, the leaders of its subgroups, and the county and bureau
  officers whose organisation it sits in;
* a teacher's personal summary: the teacher, the school's officer and principal, the leaders of the subgroups the
  teacher belongs to, and the county and bureau officers above the school; its files too.

Anyone else gets 404: whether a record exists is not revealed. Lists cost a fixed number of statements per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from forms.summary import ATTACHMENT_KINDS, SELF_CHECK_DUTIES, SELF_CHECK_STATUSES
from webapp.extensions import db
from webapp.models import (
    HumanTask,
    InstanceStatus,
    Membership,
    Org,
    OrgType,
    ProcessInstance,
    Role,
    RoleAssignment,
    TaskStatus,
    User,
)
from webapp.processes.semester_summary import records
from webapp.processes.semester_summary.models import (
    CountyDecision,
    PersonalStatus,
    PersonalSummary,
    SchoolSummary,
    SubgroupSummary,
    SummaryAttachment,
)
from webapp.processes.semester_summary.stages import PERSONAL
from webapp.services import roles as role_service
from webapp.services import uploads

bp = Blueprint("summary_archive", __name__, url_prefix="/summaries", template_folder="templates")

#: Roles held at a school (or above it) that read the school's archive.
SCHOOL_ROLES = frozenset({Role.SCHOOL_OFFICER, Role.PRINCIPAL})
#: Roles held at a county or the bureau that read the archives of the schools below.
ABOVE_ROLES = frozenset({Role.COUNTY_OFFICER, Role.BUREAU_OFFICER})
ARCHIVE_ROLES = SCHOOL_ROLES | ABOVE_ROLES

#: Where a school's summary stands, in the words of the list.
STATUS_LABELS = {"in_progress": _l("In progress"), "submitted": _l("Submitted to the county"),
                 "returned": _l("Returned"), "accepted": _l("Accepted"), "cancelled": _l("Cancelled")}
STATUS_COLOURS = {"in_progress": "secondary", "submitted": "primary", "returned": "warning",
                  "accepted": "success", "cancelled": "light border"}
LABELS = {"kinds": dict(ATTACHMENT_KINDS), "duties": dict(SELF_CHECK_DUTIES), "statuses": dict(SELF_CHECK_STATUSES),
          "school_status": STATUS_LABELS, "school_colours": STATUS_COLOURS}


# -- who reads what ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reader:
    """The organisations the current user reads from, per kind of role held today."""

    user: User
    #: Orgs where the user is school officer or principal (or their substitute).
    school_orgs: tuple[Org, ...]
    #: Orgs where the user is county or bureau officer (or their substitute).
    above_orgs: tuple[Org, ...]
    #: Subgroups the user leads (or stands in for the leader of).
    led_subgroups: tuple[Org, ...]
    #: The user teaches somewhere (has personal summaries of their own).
    teaches: bool = False

    @property
    def archive_orgs(self) -> tuple[Org, ...]:
        return self.school_orgs + self.above_orgs

    def covers(self, school: Org) -> bool:
        """School officer, principal, county or bureau officer at the school or above it."""
        return any(school.path.startswith(org.path) for org in self.archive_orgs)

    def leads_in(self, school: Org) -> list[Org]:
        """The subgroups of ``school`` the user leads."""
        return [org for org in self.led_subgroups if org.path.startswith(school.path) and org.id != school.id]


def reader() -> Reader:
    held = role_service.roles_of(current_user)

    def orgs(roles: frozenset[Role]) -> tuple[Org, ...]:
        found: dict[int, Org] = {}
        for item in held:
            if item.role in roles:
                found.setdefault(item.org.id, item.org)
        return tuple(found.values())

    return Reader(current_user, orgs(SCHOOL_ROLES), orgs(ABOVE_ROLES), orgs(frozenset({Role.SUBGROUP_LEADER})),
                  teaches=any(item.role is Role.TEACHER and item.delegated_by is None for item in held))


def may_read_school(who: Reader, school: Org) -> bool:
    return who.covers(school) or bool(who.leads_in(school))


def may_read_personal(who: Reader, summary: PersonalSummary) -> bool:
    """The teacher, the archive roles over the school, the leaders of the teacher's subgroups."""
    if summary.teacher_id == who.user.id or who.covers(summary.school):
        return True
    led = [org.id for org in who.leads_in(summary.school)]
    if not led:
        return False
    member = sa.select(Membership.user_id).where(Membership.user_id == summary.teacher_id, Membership.org_id.in_(led))
    teaching = sa.select(RoleAssignment.user_id).where(
        RoleAssignment.user_id == summary.teacher_id, RoleAssignment.org_id.in_(led),
        RoleAssignment.role == Role.TEACHER, role_service.valid_on(RoleAssignment, date.today()))
    return bool(db.session.scalar(sa.select(sa.or_(sa.exists(member), sa.exists(teaching)))))


def school_status(record: SchoolSummary, instance_status: InstanceStatus | None) -> str:
    """进行中 / 已提交县区 / 已退回 / 已验收 / 已取消: the county's last word counts until the principal signs again."""
    if instance_status is InstanceStatus.CANCELLED:
        return "cancelled"
    if record.county_decision is CountyDecision.ACCEPTED:
        return "accepted"
    if record.county_decision is CountyDecision.RETURNED and (
            record.signed_at is None or (record.decided_at is not None and record.signed_at <= record.decided_at)):
        return "returned"
    if record.signed_at is not None:
        return "submitted"
    return "in_progress"


# -- the lists -------------------------------------------------------------------------------------------------

def _in_scope(orgs: tuple[Org, ...]) -> sa.ColumnElement[bool]:
    return sa.or_(*[Org.path.startswith(org.path) for org in orgs])


@bp.route("/")
@login_required
def index():
    """The school's summaries of every semester, newest first; over several schools with filters and pages."""
    who = reader()
    if not who.archive_orgs:  # a teacher: their own (the address the package's teacher link has always had)
        return mine()
    scope = _in_scope(who.archive_orgs)
    wide = bool(who.above_orgs) or any(org.type is not OrgType.SCHOOL for org in who.school_orgs)
    school_id = request.args.get("school", type=int)
    period = (request.args.get("period") or "").strip()
    query = (sa.select(SchoolSummary).join(Org, Org.id == SchoolSummary.school_id).where(scope)
             .options(joinedload(SchoolSummary.school))
             .order_by(SchoolSummary.period.desc(), Org.code, SchoolSummary.id.desc()))
    if school_id:
        query = query.where(SchoolSummary.school_id == school_id)
    if period:
        query = query.where(SchoolSummary.period == period)
    page = db.paginate(query, per_page=current_app.config["YANXUN"]["PAGE_SIZE"], error_out=False)
    ids = [record.instance_id for record in page.items]
    instance_status = dict(db.session.execute(sa.select(ProcessInstance.id, ProcessInstance.status).where(
        ProcessInstance.id.in_(ids))).tuples().all()) if ids else {}
    rows = [(record, school_status(record, instance_status.get(record.instance_id))) for record in page.items]
    schools: list[Org] = []
    periods: list[str] = []
    if wide:
        schools = list(db.session.scalars(sa.select(Org).where(
            scope, Org.id.in_(sa.select(SchoolSummary.school_id))).order_by(Org.code)))
        periods = list(db.session.scalars(sa.select(SchoolSummary.period).distinct().join(
            Org, Org.id == SchoolSummary.school_id).where(scope).order_by(SchoolSummary.period.desc())))
    return render_template("semester_summary/archive/index.html", page=page, rows=rows, wide=wide,
                           schools=schools, periods=periods, school_id=school_id, period=period,
                           filtered=bool(school_id or period), teaches=who.teaches, labels=LABELS,
                           period_label=records.period_label)


@bp.route("/mine")
@login_required
def mine():
    """The teacher's own personal summaries of every semester, newest first, with their files."""
    query = (sa.select(PersonalSummary).where(PersonalSummary.teacher_id == current_user.id)
             .options(joinedload(PersonalSummary.school), selectinload(PersonalSummary.attachments))
             .order_by(PersonalSummary.period.desc(), PersonalSummary.created_at.desc(), PersonalSummary.id.desc()))
    page = db.paginate(query, per_page=current_app.config["YANXUN"]["PAGE_SIZE"], error_out=False)
    ids = [item.instance_id for item in page.items]
    open_tasks = {instance_id: task_id for instance_id, task_id in db.session.execute(
        sa.select(HumanTask.instance_id, HumanTask.id).where(
            HumanTask.instance_id.in_(ids), HumanTask.bpmn_id == PERSONAL, HumanTask.assignee_id == current_user.id,
            HumanTask.status == TaskStatus.OPEN))} if ids else {}
    started = sa.select(PersonalSummary.instance_id).where(PersonalSummary.teacher_id == current_user.id)
    to_write = list(db.session.scalars(
        sa.select(HumanTask).where(HumanTask.assignee_id == current_user.id, HumanTask.bpmn_id == PERSONAL,
                                   HumanTask.status == TaskStatus.OPEN, HumanTask.instance_id.not_in(started))
        .options(joinedload(HumanTask.instance).joinedload(ProcessInstance.subject_org))
        .order_by(HumanTask.due_at, HumanTask.id))) if page.page == 1 else []
    return render_template("semester_summary/archive/mine.html", page=page, open_tasks=open_tasks, labels=LABELS,
                           period_label=records.period_label, top_hours=top_hours, to_write=to_write,
                           officer=bool(reader().archive_orgs))


def top_hours(hours: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The top-level categories of an hours snapshot with hours (subcategories are inside their parent's hours)."""
    return [line for line in (hours or {}).get("categories") or [] if not line.get("parent") and line.get("hours")]


# -- one school's summary ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PersonalRow:
    name: str
    status: str
    summary: PersonalSummary | None


def personal_rows(record: SchoolSummary) -> list[PersonalRow]:
    """Every teacher asked: their summary as it stands, and those the school recorded as missing who never
    started one."""
    found = list(db.session.scalars(sa.select(PersonalSummary).join(User, User.id == PersonalSummary.teacher_id)
                                    .where(PersonalSummary.instance_id == record.instance_id)
                                    .options(joinedload(PersonalSummary.teacher))
                                    .order_by(User.display_name, User.id)))
    rows = [PersonalRow(s.teacher.display_name,
                        "missing" if s.status is PersonalStatus.DRAFT and record.compiled_at else s.status.value, s)
            for s in found]
    logins = {s.teacher.login for s in found}
    rows.extend(PersonalRow(str(item.get("name") or item.get("login") or ""), "missing", None)
                for item in record.missing_teachers or [] if item.get("login") not in logins)
    return rows


@bp.route("/schools/<int:summary_id>")
@login_required
def school(summary_id: int):
    """One school's summary and self-check for a semester, as it goes into the archive (打印 for the paper one)."""
    record = db.session.scalar(sa.select(SchoolSummary).where(SchoolSummary.id == summary_id).options(
        joinedload(SchoolSummary.school), joinedload(SchoolSummary.compiled_by), joinedload(SchoolSummary.signed_by),
        joinedload(SchoolSummary.decided_by)))
    if record is None or not may_read_school(reader(), record.school):
        abort(404)
    instance = db.session.get(ProcessInstance, record.instance_id)
    subgroups = list(db.session.scalars(sa.select(SubgroupSummary).where(
        SubgroupSummary.instance_id == record.instance_id).options(
        joinedload(SubgroupSummary.subgroup), joinedload(SubgroupSummary.leader)).order_by(SubgroupSummary.id)))
    rows = personal_rows(record)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return render_template("semester_summary/archive/school.html", record=record, instance=instance,
                           status=school_status(record, instance.status if instance else None),
                           subgroups=subgroups, rows=rows, counts=counts, labels=LABELS,
                           period_label=records.period_label, now=datetime.now(UTC))


# -- one teacher's personal summary -------------------------------------------------------------------------------

def _personal(summary_id: int) -> PersonalSummary:
    summary = db.session.scalar(sa.select(PersonalSummary).where(PersonalSummary.id == summary_id).options(
        joinedload(PersonalSummary.school), joinedload(PersonalSummary.teacher),
        selectinload(PersonalSummary.attachments)))
    if summary is None or not may_read_personal(reader(), summary):
        abort(404)
    return summary


@bp.route("/personal/<int:summary_id>")
@login_required
def personal(summary_id: int):
    summary = _personal(summary_id)
    record = db.session.scalar(sa.select(SchoolSummary).where(SchoolSummary.instance_id == summary.instance_id))
    return render_template("semester_summary/archive/personal.html", summary=summary, record=record, labels=LABELS,
                           period_label=records.period_label, now=datetime.now(UTC))


@bp.route("/personal/<int:summary_id>/files/<int:attachment_id>")
@login_required
def attachment(summary_id: int, attachment_id: int):
    """An outcome file, for whoever may read the summary: the stored file with its own content type."""
    summary = _personal(summary_id)
    item = db.session.get(SummaryAttachment, attachment_id)
    if item is None or item.personal_summary_id != summary.id:
        abort(404)
    path = uploads.path_of(item.storage_path)
    if not path.is_file():
        abort(404)
    inline = item.content_type in uploads.INLINE_TYPES and request.args.get("download") != "1"
    response = send_file(path, mimetype=item.content_type, as_attachment=not inline, download_name=item.file_name,
                         max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "private, no-store"
    return response
