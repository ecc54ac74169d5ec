"""Campaigns (研修活动): one process run over many schools for one period, with a deadline per stage.

A county (or city) officer launches a campaign over schools (:func:`launch`); a background job starts one instance
per school, pinned to the version deployed at launch (:func:`start_pending`, run by ``webapp.jobs``). The board
(:func:`board`) says where each school stands; the officer may extend a stage's deadline (:func:`extend`) or close the
campaign (:func:`close`). What a stage is and which tasks belong to it, the process says in its package's
``campaign`` (:class:`webapp.services.processes.CampaignSpec`); this module imports no process.

For the process packages: :func:`school_of_instance`, :func:`record` (submitted, returned, accepted, facts),
:func:`deadline`, and the service-task topic ``campaign.remind`` (:func:`remind`). Every instance starts with the
variables ``campaign_id``, ``period``, ``period_start``, ``period_end`` and, per stage, ``<key>_deadline``,
``<key>_remind_at`` and ``<key>_overdue_at`` (ISO date-times with the offset of ``YANXUN_TIMEZONE``).

Like every service, nothing here commits, except :func:`start_pending_batch`'s callers in ``webapp.jobs``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from webapp.engine.services import ServiceCall
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignSchool,
    CampaignSchoolStatus,
    CampaignStatus,
    HumanTask,
    InstanceStatus,
    Org,
    OrgType,
    ProcessInstance,
    Role,
    TaskStatus,
    User,
)
from webapp.models.base import utcnow
from webapp.services import audit, definitions, instance_admin, instances, notifications, processes
from webapp.services import roles as role_service
from webapp.services.errors import Conflict, NotAllowed, NotFound, ServiceError
from webapp.services.spreadsheet import INTEGER, Column, Xlsx

log = logging.getLogger(__name__)

#: Who launches, extends and closes campaigns (held at the campaign's organisation or above it).
LAUNCH_ROLES = (Role.COUNTY_OFFICER, Role.BUREAU_OFFICER)
#: Who sees campaigns (at, above or below the campaign's organisation).
VIEW_ROLES = (*LAUNCH_ROLES, Role.ADMIN)
TITLE_MAX_LENGTH = 200
PERIOD_MAX_LENGTH = 40
NOTE_MAX_LENGTH = 2000
REASON_MAX_LENGTH = instance_admin.REASON_MAX_LENGTH
BATCH = 25
#: A launch nobody has worked on for this long is taken up again by the sweep.
STALE_AFTER = timedelta(minutes=5)
#: Extending or closing a campaign with at most this many running instances is done at once, in the request.
INLINE_LIMIT = 30
REMIND_TOPIC = "campaign.remind"
#: Where :func:`remind` remembers the reminders it sent (a key of ``CampaignSchool.facts``).
REMINDED = "_reminded"

#: Stage keys of a school that is in none of the process's stages.
DONE, CANCELLED, NOT_STARTED, START_FAILED, ELSEWHERE = "done", "cancelled", "not_started", "failed", "other"
STAGE_WORDS = {DONE: _l("Completed"), CANCELLED: _l("Cancelled"), NOT_STARTED: _l("Not started"),
               START_FAILED: _l("Failed to start"), ELSEWHERE: _l("Other steps")}
SCHOOL_STATUS_WORDS = {
    CampaignSchoolStatus.PENDING: _l("Not started"), CampaignSchoolStatus.FAILED: _l("Failed to start"),
    CampaignSchoolStatus.IN_PROGRESS: _l("In progress"), CampaignSchoolStatus.SUBMITTED: _l("Submitted"),
    CampaignSchoolStatus.RETURNED: _l("Returned"), CampaignSchoolStatus.ACCEPTED: _l("Accepted"),
    CampaignSchoolStatus.CANCELLED: _l("Cancelled"),
}
CAMPAIGN_STATUS_WORDS = {CampaignStatus.LAUNCHING: _l("Launching"), CampaignStatus.OPEN: _l("Under way"),
                         CampaignStatus.CLOSED: _l("Closed")}
#: The board's status filters: what each one means, in words.
STATE_WORDS = {"submitted": _l("Submitted"), "late": _l("Overdue"), "returned": _l("Returned"),
               "accepted": _l("Accepted"), "failed": _l("Failed to start")}
_RUNNING = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED, InstanceStatus.INCIDENT)


# -- time ----------------------------------------------------------------------------------------------------------

def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["YANXUN"]["TIMEZONE"])


def local(moment: datetime) -> datetime:
    """``moment`` in the app's time zone (a naive one is taken to be in it already)."""
    return moment.replace(tzinfo=zone()) if moment.tzinfo is None else moment.astimezone(zone())


def stage_variables(key: str, deadline_at: datetime, remind_days: int) -> dict[str, str]:
    """``<key>_deadline``, ``<key>_remind_at`` and ``<key>_overdue_at`` as ISO date-times with the offset."""
    at = local(deadline_at)
    return {f"{key}_deadline": at.isoformat(), f"{key}_remind_at": (at - timedelta(days=remind_days)).isoformat(),
            f"{key}_overdue_at": (at + timedelta(days=1)).isoformat()}


# -- who may --------------------------------------------------------------------------------------------------------

def _held(user: User, roles: Iterable[Role]) -> list[Org]:
    wanted = set(roles)
    return [held.org for held in role_service.roles_of(user) if held.role in wanted]


def may_launch(user: User, org: Org) -> bool:
    """Does ``user`` hold a launching role at ``org`` or above it?"""
    return any(org.path.startswith(held.path) for held in _held(user, LAUNCH_ROLES))


def may_manage(user: User, campaign: Campaign) -> bool:
    """May ``user`` extend or close ``campaign`` (a launching role at its organisation or above)?"""
    return may_launch(user, campaign.org)


def may_view(user: User, campaign: Campaign) -> bool:
    """Campaigns of the user's organisation, above it, or (their role covering it) below it."""
    path = campaign.org.path
    return any(path.startswith(held.path) or held.path.startswith(path) for held in _held(user, VIEW_ROLES))


def launch_orgs(user: User) -> list[Org]:
    """The organisations at which ``user`` may launch (outermost first, none inside another)."""
    found = sorted({org.id: org for org in _held(user, LAUNCH_ROLES)}.values(), key=lambda o: (o.depth, o.code))
    return [o for o in found if not any(o.id != r.id and o.path.startswith(r.path) for r in found)]


def visible(user: User) -> sa.Select:
    """The campaigns ``user`` may see, newest first."""
    orgs = _held(user, VIEW_ROLES)
    if not orgs:
        return sa.select(Campaign).where(sa.false())
    conditions = []
    for org in orgs:
        conditions.append(Org.path.startswith(org.path, autoescape=True))  # at or below
        conditions.append(sa.literal(org.path).startswith(Org.path))  # above
    return (sa.select(Campaign).join(Org, Org.id == Campaign.org_id).where(sa.or_(*conditions))
            .options(joinedload(Campaign.org)).order_by(Campaign.launched_at.desc(), Campaign.id.desc()))


def get_visible(campaign_id: int, user: User) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not may_view(user, campaign):
        raise NotFound(_l("This campaign does not exist or is not visible to you."))
    return campaign


# -- launching -----------------------------------------------------------------------------------------------------

def spec_of(process_key: str) -> processes.CampaignSpec:
    package = processes.get(process_key)
    if package is None or package.campaign is None:
        raise ServiceError(_l("This process cannot be run as a campaign."), field="process_key")
    return package.campaign


def schools_in(org: Org) -> sa.Select:
    """The active schools at or below ``org``, by name."""
    return (sa.select(Org).where(Org.type == OrgType.SCHOOL, Org.active.is_(True),
                                 Org.path.startswith(org.path, autoescape=True)).order_by(Org.code))


def default_deadlines(process_key: str, start: datetime | None = None) -> dict[str, datetime]:
    """Each stage's default deadline: the end of the day ``default_days`` after ``start`` (now)."""
    day = local(start or utcnow()).date()
    return {stage.key: datetime.combine(day + timedelta(days=stage.default_days), datetime.max.time(),
                                        zone()).replace(microsecond=0, second=0)
            for stage in spec_of(process_key).timed_stages}


def launch(process_key: str, *, title: str, period: str, period_start: date, period_end: date, org: Org,
           schools: Sequence[Org], deadlines: Mapping[str, datetime], remind_days: int = 3, note: str | None = None,
           actor: User) -> Campaign:
    """Record a campaign and one pending row per school; the job of ``webapp.jobs`` starts their instances."""
    if not may_launch(actor, org):
        raise NotAllowed(_l("Only a county or bureau officer of this organisation may launch a campaign here."))
    title, period, note = (title or "").strip(), (period or "").strip(), (note or "").strip() or None
    if not title:
        raise ServiceError(_l("Give the campaign a title."), field="title")
    if len(title) > TITLE_MAX_LENGTH:
        raise ServiceError(_l("At most %(n)d characters.", n=TITLE_MAX_LENGTH), field="title")
    spec = spec_of(process_key)
    definition = definitions.latest(process_key)
    if definition is None:
        raise ServiceError(_l("No version of this process is deployed yet."), field="process_key")
    if not period or len(period) > PERIOD_MAX_LENGTH:
        raise ServiceError(_l("Give the period, e.g. 2026-2027-1."), field="period")
    if period_start is None or period_end is None:
        raise ServiceError(_l("Give the first and the last day of the period."), field="period_end")
    if period_end < period_start:
        raise ServiceError(_l("The period cannot end before it starts."), field="period_end")
    if note is not None and len(note) > NOTE_MAX_LENGTH:
        raise ServiceError(_l("At most %(n)d characters.", n=NOTE_MAX_LENGTH), field="note")
    if remind_days is None or not 0 <= remind_days <= 60:
        raise ServiceError(_l("Reminders go 0 to 60 days before a deadline."), field="remind_days")
    stored = _checked_deadlines(spec, deadlines)
    unique = list({school.id: school for school in schools}.values())
    if not unique:
        raise ServiceError(_l("Choose at least one school."), field="schools")
    outside = [s.name for s in unique if s.type is not OrgType.SCHOOL or not s.path.startswith(org.path)]
    if outside:
        raise ServiceError(_l("These are not schools of %(org)s: %(names)s", org=org.name,
                              names="、".join(outside)), field="schools")
    taken = list(db.session.scalars(
        sa.select(Org.name).join(CampaignSchool, CampaignSchool.org_id == Org.id)
        .where(CampaignSchool.process_key == process_key, CampaignSchool.period == period,
               CampaignSchool.org_id.in_([s.id for s in unique])).order_by(Org.code)))
    if taken:
        raise ServiceError(_l("These schools already take part in this period: %(names)s", names="、".join(taken)),
                           field="schools")
    campaign = Campaign(process_key=process_key, definition=definition, title=title, period=period,
                        period_start=period_start, period_end=period_end, org=org, launched_by_id=actor.id,
                        launched_at=utcnow(), status=CampaignStatus.LAUNCHING, deadlines=stored,
                        remind_days=remind_days, note=note, total=len(unique), started=0, failed=0)
    db.session.add(campaign)
    db.session.flush()
    db.session.execute(sa.insert(CampaignSchool), [
        {"campaign_id": campaign.id, "org_id": school.id, "process_key": process_key, "period": period,
         "status": CampaignSchoolStatus.PENDING, "returned_count": 0, "facts": {}} for school in unique])
    audit.record("campaign.launch", actor=actor, obj=campaign,
                 after={"process": process_key, "version": definition.version, "title": title, "period": period,
                        "schools": len(unique), "deadlines": stored})
    return campaign


def _checked_deadlines(spec: processes.CampaignSpec, deadlines: Mapping[str, datetime],
                       now: datetime | None = None, *, changed: str | None = None) -> dict[str, str]:
    """The deadlines as stored (ISO, local offset), every one given, in the future (only ``changed`` when set) and
    in the stages' order."""
    moment = now or utcnow()
    stored: dict[str, str] = {}
    previous: tuple[processes.CampaignStage, datetime] | None = None
    for stage in spec.timed_stages:
        at = deadlines.get(stage.key)
        if at is None:
            raise ServiceError(_l("Give the deadline of “%(stage)s”.", stage=stage.label),
                               field=f"deadline_{stage.key}")
        at = local(at)
        if at <= moment and changed in (None, stage.key):
            raise ServiceError(_l("The deadline of “%(stage)s” has already passed.", stage=stage.label),
                               field=f"deadline_{stage.key}")
        if previous is not None and at < previous[1]:
            raise ServiceError(_l("The deadline of “%(stage)s” cannot come before that of “%(before)s”.",
                                  stage=stage.label, before=previous[0].label), field=f"deadline_{stage.key}")
        stored[stage.key] = at.isoformat()
        previous = (stage, at)
    return stored


def deadlines_of(campaign: Campaign) -> dict[str, datetime]:
    return {key: datetime.fromisoformat(value) for key, value in (campaign.deadlines or {}).items()}


def deadline(campaign: Campaign, stage_key: str) -> datetime:
    """The deadline of stage ``stage_key`` (aware, in the app's time zone); KeyError for an unknown stage."""
    return local(datetime.fromisoformat(campaign.deadlines[stage_key]))


def start_variables(campaign: Campaign, school: Org) -> dict[str, Any]:
    """What a school's instance starts with: the campaign's variables, then the process's own."""
    variables: dict[str, Any] = {"campaign_id": campaign.id, "period": campaign.period,
                                 "period_start": campaign.period_start.isoformat(),
                                 "period_end": campaign.period_end.isoformat()}
    for key, at in deadlines_of(campaign).items():
        variables.update(stage_variables(key, at, campaign.remind_days))
    variables.update(spec_of(campaign.process_key).start_variables(school, campaign) or {})
    return variables


def start_school(row: CampaignSchool, campaign: Campaign, actor: User) -> None:
    """Start the instance of one pending school (in a savepoint: a school that fails leaves nothing behind but its
    FAILED row and the reason, in the launcher's language)."""
    savepoint = db.session.begin_nested()
    try:
        school = row.org
        instance = instances.start(campaign.process_key, subject_org=school, initiator=actor,
                                   data=start_variables(campaign, school), title=campaign.title,
                                   by_feature=True, definition=campaign.definition)
        savepoint.commit()
    except (ServiceError, instances.ActionFailed) as error:
        savepoint.rollback()
        if isinstance(error, instances.ActionFailed):
            log.warning("campaign %s: school %s did not start: %s", campaign.id, row.org_id, error)
        with force_locale(notifications.locale_of(actor)):
            message = str(error) if isinstance(error, ServiceError) else str(
                _l("The process could not be started for this school (its data or the diagram has a problem); "
                   "ask an administrator."))
        row.status, row.error = CampaignSchoolStatus.FAILED, message
        campaign.failed += 1
        return
    row.instance_id, row.status, row.error = instance.id, CampaignSchoolStatus.IN_PROGRESS, None
    campaign.started += 1


def lock_launching(campaign_id: int) -> Campaign | None:
    """The campaign, locked, if it is launching and no other job holds it."""
    return db.session.scalar(sa.select(Campaign).where(Campaign.id == campaign_id,
                                                       Campaign.status == CampaignStatus.LAUNCHING)
                             .with_for_update(skip_locked=True).execution_options(populate_existing=True))


def start_batch(campaign: Campaign, batch: int = BATCH) -> int:
    """Start up to ``batch`` pending schools of a locked campaign; when none is left it opens. Returns how many
    were tried (0: the launch is over)."""
    rows = list(db.session.scalars(
        sa.select(CampaignSchool).where(CampaignSchool.campaign_id == campaign.id,
                                        CampaignSchool.status == CampaignSchoolStatus.PENDING)
        .options(joinedload(CampaignSchool.org)).order_by(CampaignSchool.id).limit(batch)))
    actor = campaign.launched_by
    for row in rows:
        start_school(row, campaign, actor)
    if len(rows) < batch:
        campaign.status = CampaignStatus.OPEN
        audit.record("campaign.open", actor=None, obj=campaign,
                     after={"started": campaign.started, "failed": campaign.failed})
    db.session.flush()
    return len(rows)


def stale_launches(now: datetime | None = None, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Launches that should have ended by now (their job's message was lost, or its worker died)."""
    return list(db.session.scalars(sa.select(Campaign.id).where(
        Campaign.status == CampaignStatus.LAUNCHING, Campaign.launched_at < (now or utcnow()) - stale_after)
        .order_by(Campaign.id)))


@dataclass(frozen=True)
class Progress:
    status: str
    total: int
    started: int
    failed: int

    @property
    def done(self) -> int:
        return self.started + self.failed

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "total": self.total, "started": self.started, "failed": self.failed,
                "done": self.done}


def progress(campaign: Campaign) -> Progress:
    return Progress(campaign.status.value, campaign.total, campaign.started, campaign.failed)


# -- for the process packages --------------------------------------------------------------------------------------

def school_of_instance(instance_id: int) -> CampaignSchool | None:
    """The campaign row of an instance (its campaign loaded), None when it is not part of a campaign."""
    return db.session.scalar(sa.select(CampaignSchool).where(CampaignSchool.instance_id == instance_id)
                             .options(joinedload(CampaignSchool.campaign), joinedload(CampaignSchool.org)))


def record(instance: ProcessInstance, status: CampaignSchoolStatus, *,
           facts: Mapping[str, Any] | None = None) -> CampaignSchool | None:
    """What the school's work has come to: SUBMITTED sets ``submitted_at``, RETURNED counts one more return, ACCEPTED
    sets ``accepted_at``; ``facts`` are merged into the board's figures. None when the instance is no campaign's."""
    row = school_of_instance(instance.id)
    if row is None:
        return None
    now = utcnow()
    row.status = CampaignSchoolStatus(status)
    if row.status is CampaignSchoolStatus.SUBMITTED:
        row.submitted_at = now
    elif row.status is CampaignSchoolStatus.RETURNED:
        row.returned_count = (row.returned_count or 0) + 1
    elif row.status is CampaignSchoolStatus.ACCEPTED:
        row.accepted_at = now
    if facts:
        row.facts = {**(row.facts or {}), **dict(facts)}
    db.session.flush()
    return row


def record_facts(instance: ProcessInstance, facts: Mapping[str, Any]) -> CampaignSchool | None:
    """Merge ``facts`` into the school's figures on the board, leaving where it stands as it is."""
    row = school_of_instance(instance.id)
    if row is not None:
        row.facts = {**(row.facts or {}), **dict(facts)}
    return row


# -- the board -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BoardRow:
    school_id: int
    school: str
    stage: str
    stage_label: str
    status: CampaignSchoolStatus
    status_label: str
    late: bool
    deadline: datetime | None
    returned_count: int
    submitted_at: datetime | None
    accepted_at: datetime | None
    facts: tuple[Any, ...]
    instance_id: int | None
    error: str | None


@dataclass
class Board:
    rows: list[BoardRow]
    total: int
    #: (stage key, label, count) in the stages' order, then the other places a school can be.
    stages: list[tuple[str, str, int]] = field(default_factory=list)
    #: status filter -> count (submitted, late, returned, accepted, failed).
    states: dict[str, int] = field(default_factory=dict)
    page: int = 1
    per_page: int = 50
    #: The spec's facts columns: (key, label).
    fact_columns: list[tuple[str, str]] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _stage_ranks(campaign: Campaign, spec: processes.CampaignSpec) -> sa.Subquery:
    """Instance id -> the rank of the first stage with an open task (one GROUP BY over the open tasks)."""
    whens = [(HumanTask.bpmn_id.in_(sorted(stage.task_ids)), rank) for rank, stage in enumerate(spec.stages)
             if stage.task_ids]
    rank = sa.case(*whens, else_=len(spec.stages)) if whens else sa.literal(len(spec.stages))
    return (sa.select(HumanTask.instance_id, sa.func.min(rank).label("rank"))
            .where(HumanTask.status == TaskStatus.OPEN,
                   HumanTask.instance_id.in_(sa.select(CampaignSchool.instance_id)
                                             .where(CampaignSchool.campaign_id == campaign.id)))
            .group_by(HumanTask.instance_id).subquery())


def _all_rows(campaign: Campaign, now: datetime | None = None) -> list[BoardRow]:
    """Every school of the campaign with where it stands, in one statement."""
    spec = spec_of(campaign.process_key)
    ranks = _stage_ranks(campaign, spec)
    deadlines = deadlines_of(campaign)
    moment = now or utcnow()
    query = (sa.select(CampaignSchool.org_id, Org.name, CampaignSchool.status, CampaignSchool.returned_count,
                       CampaignSchool.submitted_at, CampaignSchool.accepted_at, CampaignSchool.facts,
                       CampaignSchool.instance_id, CampaignSchool.error, ProcessInstance.status, ranks.c.rank)
             .join(Org, Org.id == CampaignSchool.org_id)
             .outerjoin(ProcessInstance, ProcessInstance.id == CampaignSchool.instance_id)
             .outerjoin(ranks, ranks.c.instance_id == CampaignSchool.instance_id)
             .where(CampaignSchool.campaign_id == campaign.id).order_by(Org.code, CampaignSchool.id))
    rows = []
    for (org_id, name, status, returned, submitted_at, accepted_at, facts, instance_id, error, instance_status,
         rank) in db.session.execute(query):
        due = None
        if rank is not None and rank < len(spec.stages):
            stage = spec.stages[rank]
            key, label, due = stage.key, str(stage.label), deadlines.get(stage.key)
        else:
            if status is CampaignSchoolStatus.PENDING:
                key = NOT_STARTED
            elif status is CampaignSchoolStatus.FAILED:
                key = START_FAILED
            elif instance_status is InstanceStatus.COMPLETED:
                key = DONE
            elif instance_status is InstanceStatus.CANCELLED or status is CampaignSchoolStatus.CANCELLED:
                key = CANCELLED
            else:
                key = ELSEWHERE
            label = str(STAGE_WORDS[key])
        facts = facts or {}
        rows.append(BoardRow(school_id=org_id, school=name, stage=key, stage_label=label, status=status,
                             status_label=str(SCHOOL_STATUS_WORDS[status]),
                             late=due is not None and moment > due, deadline=due and local(due),
                             returned_count=returned or 0, submitted_at=submitted_at, accepted_at=accepted_at,
                             facts=tuple(facts.get(key) for key, _label in spec.facts), instance_id=instance_id,
                             error=error))
    return rows


def _matches(row: BoardRow, stage: str | None, state: str | None, text: str | None) -> bool:
    if stage and row.stage != stage:
        return False
    if state:
        if state == "late" and not row.late:
            return False
        if state != "late" and row.status.value != state:
            return False
    return not text or text.casefold() in row.school.casefold()


def board(campaign: Campaign, *, stage: str | None = None, state: str | None = None, text: str | None = None,
          page: int = 1, per_page: int = 50, now: datetime | None = None) -> Board:
    """Where each school stands (filtered, one page), with the counts for the filter chips (of every school).

    One statement whatever the number of schools: the open tasks are aggregated per instance in the database.
    """
    spec = spec_of(campaign.process_key)
    rows = _all_rows(campaign, now)
    by_stage = Counter(row.stage for row in rows)
    stages = [(s.key, str(s.label), by_stage.get(s.key, 0)) for s in spec.stages]
    stages += [(key, str(STAGE_WORDS[key]), by_stage[key]) for key in (DONE, CANCELLED, NOT_STARTED, START_FAILED,
                                                                        ELSEWHERE) if by_stage.get(key)]
    by_status = Counter(row.status.value for row in rows)
    states = {name: (sum(row.late for row in rows) if name == "late" else by_status.get(name, 0))
              for name in STATE_WORDS}
    chosen = [row for row in rows if _matches(row, stage, state, (text or "").strip() or None)]
    page = max(1, page)
    start = (page - 1) * per_page
    return Board(rows=chosen[start:start + per_page], total=len(chosen), stages=stages, states=states, page=page,
                 per_page=per_page, fact_columns=[(key, str(label)) for key, label in spec.facts])


def _when(moment: datetime | None) -> str:
    return format_datetime(local(moment), "yyyy-MM-dd HH:mm") if moment else ""


def board_xlsx(campaign: Campaign, *, stage: str | None = None, state: str | None = None, text: str | None = None,
               now: datetime | None = None) -> bytes:
    """Every row of the board (no pages) as an .xlsx workbook: a title row, then the header and the schools."""
    every = board(campaign, stage=stage, state=state, text=text, page=1, per_page=10**9, now=now)
    columns = [Column(str(_l("School")), 28), Column(str(_l("Current step")), 16), Column(str(_l("Status")), 12),
               Column(str(_l("Overdue")), 8), Column(str(_l("Deadline")), 18),
               Column(str(_l("Times returned")), 10, INTEGER), Column(str(_l("Submitted at")), 18),
               Column(str(_l("Accepted at")), 18), *[Column(label, 14) for _key, label in every.fact_columns],
               Column(str(_l("Why it did not start")), 30)]
    book = Xlsx()
    taken = local(now or utcnow())
    sheet = book.sheet(str(_l("Campaign board")), columns,
                       heading=f"{campaign.title} · {_l('as of %(time)s', time=_when(taken))}")
    for row in every.rows:
        sheet.row([row.school, row.stage_label, row.status_label, str(_l("Yes")) if row.late else "",
                   _when(row.deadline), row.returned_count, _when(row.submitted_at), _when(row.accepted_at),
                   *[value if isinstance(value, int | float) else (None if value is None else str(value))
                     for value in row.facts], row.error])
    return book.save()


# -- extending and closing -----------------------------------------------------------------------------------------

def lock(campaign_id: int) -> Campaign:
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.id == campaign_id).with_for_update()
                                 .execution_options(populate_existing=True))
    if campaign is None:
        raise NotFound(_l("This campaign does not exist or is not visible to you."))
    return campaign


def running_rows(campaign: Campaign, *, after_id: int = 0, limit: int | None = None) -> list[CampaignSchool]:
    """The campaign's schools whose instance is still running (by row id, after ``after_id``)."""
    query = (sa.select(CampaignSchool).join(ProcessInstance, ProcessInstance.id == CampaignSchool.instance_id)
             .where(CampaignSchool.campaign_id == campaign.id, CampaignSchool.id > after_id,
                    ProcessInstance.status.in_(_RUNNING)).order_by(CampaignSchool.id))
    return list(db.session.scalars(query.limit(limit) if limit else query))


def count_running(campaign: Campaign) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(CampaignSchool)
                             .join(ProcessInstance, ProcessInstance.id == CampaignSchool.instance_id)
                             .where(CampaignSchool.campaign_id == campaign.id,
                                    ProcessInstance.status.in_(_RUNNING))) or 0


def extend(campaign: Campaign, stage_key: str, new_deadline: datetime, actor: User, *,
           inline_limit: int = INLINE_LIMIT) -> bool:
    """Move stage ``stage_key``'s deadline to ``new_deadline`` (in the future, keeping the stages' order).

    The running instances get the new ``<key>_deadline/_remind_at/_overdue_at`` at once when they are few; returns
    False when there are more than ``inline_limit``: the caller queues :func:`apply_deadlines` as a job.
    """
    campaign = lock(campaign.id)
    if not may_manage(actor, campaign):
        raise NotAllowed(_l("Only a county or bureau officer of this organisation may change this campaign."))
    if campaign.status is CampaignStatus.CLOSED:
        raise Conflict(_l("This campaign is closed."))
    spec = spec_of(campaign.process_key)
    if stage_key not in {stage.key for stage in spec.timed_stages}:
        raise ServiceError(_l("Choose one of the campaign's stages."), field="stage")
    if new_deadline is None:
        raise ServiceError(_l("Give the new deadline."), field="deadline")
    wanted = {**deadlines_of(campaign), stage_key: new_deadline}
    try:
        stored = _checked_deadlines(spec, wanted, changed=stage_key)
    except ServiceError as error:  # the form has one deadline field
        raise ServiceError(error.message, field="deadline") from error
    before = dict(campaign.deadlines)
    campaign.deadlines = stored
    audit.record("campaign.extend", actor=actor, obj=campaign, before={"stage": stage_key, "deadline": before.get(
        stage_key)}, after={"stage": stage_key, "deadline": stored[stage_key]})
    if count_running(campaign) > inline_limit:
        db.session.flush()
        return False
    apply_deadlines(campaign, actor)
    return True


def _deadline_values(campaign: Campaign) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, at in deadlines_of(campaign).items():
        values.update(stage_variables(key, at, campaign.remind_days))
    return values


def apply_deadlines(campaign: Campaign, actor: User | None, *, after_id: int = 0,
                    limit: int | None = None) -> int | None:
    """Give running instances (after row ``after_id``, at most ``limit``) the campaign's deadline variables.

    Returns the last row done when ``limit`` rows were done (there may be more), else None.
    """
    values = _deadline_values(campaign)
    rows = running_rows(campaign, after_id=after_id, limit=limit)
    for row in rows:
        if (row.facts or {}).get("_deadlines") == campaign.deadlines:
            continue
        savepoint = db.session.begin_nested()
        try:
            instances.set_variables(row.instance, values, actor)
            savepoint.commit()
        except instances.ActionFailed as failure:  # that instance keeps its old dates; an administrator looks at it
            savepoint.rollback()
            instances.record_incident(failure)
            continue
        except Conflict:  # it ended meanwhile
            savepoint.rollback()
            continue
        row.facts = {**(row.facts or {}), "_deadlines": dict(campaign.deadlines)}
    db.session.flush()
    return rows[-1].id if limit and len(rows) == limit else None


def close(campaign: Campaign, actor: User, reason: str, *, inline_limit: int = INLINE_LIMIT) -> bool:
    """Close the campaign: its running instances are cancelled with ``reason`` (at once when few; else returns False
    and the caller queues :func:`cancel_running` as a job)."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_l("Give the reason."), field="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise ServiceError(_l("At most %(n)d characters.", n=REASON_MAX_LENGTH), field="reason")
    campaign = lock(campaign.id)
    if not may_manage(actor, campaign):
        raise NotAllowed(_l("Only a county or bureau officer of this organisation may change this campaign."))
    if campaign.status is CampaignStatus.CLOSED:
        raise Conflict(_l("This campaign is closed."))
    before = campaign.status
    campaign.status, campaign.closed_at, campaign.closed_by_id = CampaignStatus.CLOSED, utcnow(), actor.id
    campaign.close_reason = reason
    # Schools not started yet never will be.
    db.session.execute(sa.update(CampaignSchool).where(CampaignSchool.campaign_id == campaign.id,
                                                       CampaignSchool.status == CampaignSchoolStatus.PENDING)
                       .values(status=CampaignSchoolStatus.CANCELLED).execution_options(synchronize_session=False))
    audit.record("campaign.close", actor=actor, obj=campaign, before={"status": before.value},
                 after={"status": campaign.status.value, "reason": reason})
    if count_running(campaign) > inline_limit:
        db.session.flush()
        return False
    cancel_running(campaign, actor)
    return True


def cancel_running(campaign: Campaign, actor: User | None, *, limit: int | None = None) -> bool:
    """Cancel the running instances of a closed campaign (at most ``limit``); True when none is left."""
    actor = actor or campaign.closed_by or campaign.launched_by
    reason = campaign.close_reason or ""
    rows = running_rows(campaign, limit=limit)
    for row in rows:
        instance = instances.lock_instance(row.instance_id)
        if instance.status not in _RUNNING:
            continue
        open_tasks = instances.open_tasks(instance)
        people = {}
        for task in open_tasks:
            for user in notifications.task_recipients(task):
                people[user.id] = user
        instance_admin.cancel_instance(instance, actor, reason,
                                       notice=_l("“%(title)s” was cancelled: the campaign was closed",
                                                 title=notifications.one_line(instance.title,
                                                                              notifications.QUOTED_MAX)))
        if row.status is not CampaignSchoolStatus.ACCEPTED:
            row.status = CampaignSchoolStatus.CANCELLED
        notifications.notify_many(
            [user for user in people.values() if user.id != actor.id], "campaign.closed",
            title=_l("The campaign “%(title)s” was closed; your task there is cancelled",
                     title=notifications.one_line(campaign.title, notifications.QUOTED_MAX)),
            body=reason, link=f"/inbox/instances/{instance.id}", instance_id=instance.id)
    db.session.flush()
    return not limit or len(rows) < limit


def closing_campaigns() -> list[int]:
    """Closed campaigns that still have running instances (a close job cut short)."""
    return list(db.session.scalars(
        sa.select(sa.distinct(CampaignSchool.campaign_id))
        .join(Campaign, Campaign.id == CampaignSchool.campaign_id)
        .join(ProcessInstance, ProcessInstance.id == CampaignSchool.instance_id)
        .where(Campaign.status == CampaignStatus.CLOSED, ProcessInstance.status.in_(_RUNNING))))


# -- the reminder handler (topic ``campaign.remind``) ---------------------------------------------------------------

def remind(call: ServiceCall) -> dict[str, Any] | None:
    """Remind the people of the open tasks of the stage ``stage`` of this instance that its deadline is near
    (``when`` = ``before``, the default) or past (``overdue``); once per task, ``when`` and deadline."""
    instance_id = instances.current_instance.get()
    stage_key = str(call.inputs.get("stage") or "")
    when = str(call.inputs.get("when") or "before")
    if when not in ("before", "overdue"):
        raise ValueError(f"campaign.remind: 'when' is 'before' or 'overdue', not {when!r}")
    row = school_of_instance(instance_id) if instance_id is not None else None
    if row is None:
        return None  # an instance started outside a campaign: nothing to remind of
    campaign = row.campaign
    spec = spec_of(campaign.process_key)
    stage = next((s for s in spec.stages if s.key == stage_key), None)
    if stage is None:
        raise ValueError(f"campaign.remind: the process has no stage {stage_key!r}")
    due = deadline(campaign, stage_key)
    if when == "before" and utcnow() >= due:
        return None  # the deadline has passed (the timer fired late, or was moved): the overdue notice says it
    sent = dict((row.facts or {}).get(REMINDED) or {})
    tasks = list(db.session.scalars(
        sa.select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN,
                                   HumanTask.bpmn_id.in_(sorted(stage.task_ids))).order_by(HumanTask.id)))
    for task in tasks:
        marker = f"{task.id}:{when}:{due.isoformat()}"
        if marker in sent:
            continue
        title = notifications.one_line(campaign.title, notifications.QUOTED_MAX)
        if when == "overdue":
            words = _l("“%(title)s”: %(stage)s was due on %(deadline)s and your task is not done yet",
                       title=title, stage=stage.label, deadline=_when(due))
        else:
            words = _l("“%(title)s”: %(stage)s is due on %(deadline)s; please finish it in time",
                       title=title, stage=stage.label, deadline=_when(due))
        notifications.notify_many(notifications.task_recipients(task), f"campaign.remind.{when}", title=words,
                                  body=task.name, link=f"/inbox/tasks/{task.id}", instance_id=instance_id)
        sent[marker] = utcnow().isoformat()
    if len(sent) != len((row.facts or {}).get(REMINDED) or {}):
        row.facts = {**(row.facts or {}), REMINDED: sent}
        db.session.flush()
    return None


def register_handlers() -> None:
    """Register the core's service topic (once per process: the registry is process-wide) and the withdrawal of
    a leaver's tasks."""
    from webapp.services import users
    from webapp.services.runtime import services

    if REMIND_TOPIC not in services:
        services.register(REMIND_TOPIC, remind)
    if assignee_left not in users.leaving_hooks:
        users.leaving_hooks.append(assignee_left)


# -- an assignee leaves --------------------------------------------------------------------------------------------

def withdraw_tasks_of_leaver(user: User, school: Org | None, reason: str, actor: User | None) -> list[HumanTask]:
    """Withdraw ``user``'s open tasks about ``school`` (or inside it; None: anywhere) that their process withdraws
    when the assignee leaves: completed in the engine with ``{"withdrawn": True, "withdrawn_reason": reason}`` so
    the flow goes on without them, the row CANCELLED, the audit and the package told. Returns those withdrawn."""
    forms = {form for package in processes.all_packages() for form in package.withdrawn_when_assignee_leaves}
    if not forms:
        return []
    query = (sa.select(HumanTask).join(Org, Org.id == HumanTask.subject_org_id)
             .where(HumanTask.assignee_id == user.id, HumanTask.status == TaskStatus.OPEN,
                    HumanTask.form_key.in_(sorted(forms))).order_by(HumanTask.instance_id, HumanTask.id))
    if school is not None:
        query = query.where(Org.path.startswith(school.path, autoescape=True))
    candidates = list(db.session.scalars(query))
    withdrawn = []
    for task in candidates:
        package = processes.for_form(task.form_key)
        if package is None or task.form_key not in package.withdrawn_when_assignee_leaves:
            continue
        row = instances.withdraw_task(task, actor, reason, then=package.on_withdrawn)
        if row is not None:
            withdrawn.append(row)
    return withdrawn


#: Why the tasks of someone leaving a school are withdrawn, by the reason ``webapp.services.users`` gives.
LEAVING_WORDS = {"left_school": _l("The teacher has moved to another school"),
                 "deactivated": _l("The account has been deactivated"),
                 "no_longer_teacher": _l("No longer a teacher at this school")}


def assignee_left(user: User, school: Org | None, why: str, actor: User | None) -> list[HumanTask]:
    """``user`` left ``school`` (None: every organisation) for reason ``why`` (a key of :data:`LEAVING_WORDS`; the
    words go into the process data in the default language): :func:`withdraw_tasks_of_leaver`."""
    with force_locale(current_app.config["YANXUN"]["DEFAULT_LOCALE"]):
        reason = str(LEAVING_WORDS.get(why, why))
    return withdraw_tasks_of_leaver(user, school, reason, actor)


def recent_events(campaign: Campaign, limit: int = 20) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.object_type == "campaign",
                                                               AuditEvent.object_id == str(campaign.id))
                                   .order_by(AuditEvent.id.desc()).limit(limit)))
