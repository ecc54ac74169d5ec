"""The registry of process packages: what the generic approval experience asks a process.

The inbox, the task page, the instance page, the timeline, the API and the notifications know nothing of any
process. Each package under ``webapp/processes/`` fills one :class:`ProcessPackage` when the app starts
(``webapp.processes.<name>.register``) and the generic layers look it up by process key or form key:

- the words for its records (a one-line :class:`RowSummary` per instance for inbox rows, fetched for a whole
  page at once), a search by number or name, extra inbox filters;
- the page of a task whose form is its own (``task_page``), and how the API completes such a task;
- bulk approval of its review tasks;
- words for its own audit events and for a completed task's changed values on the timeline;
- the steps still to come of a running instance, when the process knows them better than the diagram;
- what happens to its record when an administrator cancels the instance;
- links for the home page and the navigation.

This module imports no process; processes import it. Import-linter holds both rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from webapp.models import AuditEvent, HumanTask, ProcessInstance, Role, User

Text = Any  # a str or a lazy translatable string


@dataclass(frozen=True)
class RowSummary:
    """What an inbox row and a timeline header say about a record (already in the reader's language)."""

    #: The number people quote (申请编号), e.g. ``XS-000123``.
    reference: str
    #: One line: what the record is about (category · item...).
    headline: str
    #: Short facts shown after the headline (hours, teacher, school...).
    facts: tuple[str, ...] = ()
    #: A quantity summed by bulk confirmations (e.g. hours asked), with its unit in words.
    amount: float | None = None
    amount_unit: Text = ""
    #: Where the record itself is shown, if it has a page of its own.
    link: str | None = None


@dataclass(frozen=True)
class InboxFilter:
    """A process-specific filter of the inbox: options from the tasks in view, applied as instance ids."""

    name: str
    label: Text
    options: Callable[[sa.Select], list[tuple[str, str]]]
    instances: Callable[[str], sa.Select]


@dataclass
class BulkResult:
    approved: list[HumanTask] = field(default_factory=list)
    #: (task, why it was not approved) in the order given.
    refused: list[tuple[HumanTask, str]] = field(default_factory=list)


@dataclass(frozen=True)
class BulkAction:
    """Approve many of the process's review tasks at once (each checked as if done alone)."""

    form_keys: frozenset[str]
    #: (task ids, actor, comment) -> what was approved and what was not, and why.
    run: Callable[[Iterable[int], User, str], BulkResult]
    label: Text
    confirm: Text


@dataclass(frozen=True)
class NavLink:
    """A link for the navigation bar or the home page, for holders of ``roles`` (empty: everyone)."""

    endpoint: str
    label: Text
    roles: frozenset[Role] = frozenset()
    primary: bool = False


@dataclass(frozen=True)
class CampaignStage:
    """One stage of a process run as a campaign: the county sets its deadline at launch.

    The campaign gives every instance the variables ``<key>_deadline`` (the deadline), ``<key>_remind_at``
    (that many days before it) and ``<key>_overdue_at`` (a day after it), as ISO date-times with the offset,
    for the diagram's due dates and reminder timers; extending a deadline updates them and moves the timers.
    """

    key: str
    label: Text
    #: BPMN ids of the user tasks of this stage (an instance is in the stage while one of them is open).
    task_ids: frozenset[str]
    #: The stage's deadline by default, in days after the launch.
    default_days: int = 14
    #: False for a stage the county itself does (its review): shown on the board, with no deadline to set.
    timed: bool = True


@dataclass(frozen=True)
class CampaignSpec:
    """What a process run as a campaign over schools tells the campaign building block."""

    stages: tuple[CampaignStage, ...]
    #: (school, campaign) -> the variables its instance starts with (beside the deadlines and ``campaign_id``);
    #: raises ``ServiceError`` when the school cannot take part (its words are shown on the board).
    start_variables: Callable[[Any, Any], dict[str, Any]]
    #: What the campaign is called by default for a period, e.g. "2026–2027 学年第一学期总结".
    default_title: Callable[[str], str] | None = None
    #: Extra board and spreadsheet columns: (key of ``CampaignSchool.facts``, label); the process keeps the facts.
    facts: tuple[tuple[str, Text], ...] = ()

    @property
    def timed_stages(self) -> tuple[CampaignStage, ...]:
        """The stages with a deadline set at launch (and its reminder and overdue variables)."""
        return tuple(stage for stage in self.stages if stage.timed)


@dataclass
class ProcessPackage:
    """One process as the generic layers see it. Only ``key`` and ``name`` are required."""

    key: str
    name: Text
    #: ``camunda:formKey`` values this package handles (its own task pages and completion rules).
    form_keys: frozenset[str] = frozenset()
    #: New versions wait for an administrator's approval (the process posts credits or decides grades).
    protected: bool = False
    #: Started only from the package's own pages (it creates the business record the instance references).
    started_by_package: bool = False
    #: Form keys whose tasks the initiator never does (their own review).
    self_review_forms: frozenset[str] = frozenset()
    #: Form keys whose "a task waits for you" notice is left to the process (it writes a better one).
    quiet_forms: frozenset[str] = frozenset()
    #: Service-task topic -> handler, registered on the runtime's registry.
    service_handlers: Mapping[str, Callable] = field(default_factory=dict)
    #: Instance ids -> their row summaries, in one or a few queries (never one per instance).
    summarise: Callable[[Sequence[int]], dict[int, RowSummary]] | None = None
    #: Free text -> a select of instance ids whose record matches (number, name...).
    search: Callable[[str], sa.Select] | None = None
    filters: tuple[InboxFilter, ...] = ()
    #: The page of a task whose form key is in ``form_keys`` (a Flask response), None to use the generic one.
    task_page: Callable[[HumanTask], Any] | None = None
    #: Complete such a task from the API: (task, user, data) -> None; raises the services' errors.
    complete: Callable[[HumanTask, User, Mapping[str, Any]], None] | None = None
    bulk: BulkAction | None = None
    #: Words for the process's own audit actions.
    event_words: Mapping[str, Text] = field(default_factory=dict)
    #: Generic audit actions its timeline leaves out because an event of its own says the same thing better.
    quiet_events: frozenset[str] = frozenset()
    #: A completed task's audit event -> what changed, in words (e.g. "申请 12 学时 → 同意 10 学时").
    describe_completion: Callable[[AuditEvent, ProcessInstance], list[str]] | None = None
    #: A running instance -> the names of the steps still to come, when the process knows them.
    steps_to_come: Callable[[ProcessInstance], list[str]] | None = None
    #: An administrator cancelled the instance: (instance, actor, reason) -> None.
    on_cancel: Callable[[ProcessInstance, User, str], None] | None = None
    nav: tuple[NavLink, ...] = ()
    home: tuple[NavLink, ...] = ()
    #: Demo records for the demo people (login -> user) as of a day; returns a one-line summary.
    demo: Callable[[Mapping[str, User], date], str] | None = None
    #: Set when the county runs the process as a campaign over schools (webapp.services.campaigns).
    campaign: CampaignSpec | None = None
    #: Form keys whose open tasks are withdrawn (closed with a reason, the flow going on without them) when their
    #: assignee leaves the instance's organisation: moves school, is deactivated, or stops being a teacher there.
    withdrawn_when_assignee_leaves: frozenset[str] = frozenset()
    #: One of those tasks was withdrawn: (task, reason) -> None, under the instance lock.
    on_withdrawn: Callable[[HumanTask, str], None] | None = None


_packages: dict[str, ProcessPackage] = {}
_by_form_key: dict[str, ProcessPackage] = {}


def register(package: ProcessPackage) -> ProcessPackage:
    """Add ``package`` (once per process; registering the same key again replaces it, as an app factory does)."""
    _packages[package.key] = package
    for form_key in package.form_keys:
        owner = _by_form_key.get(form_key)
        if owner is not None and owner.key != package.key:
            raise ValueError(f"form key {form_key!r} is claimed by both {owner.key} and {package.key}")
        _by_form_key[form_key] = package
    return package


def campaign_packages() -> list[ProcessPackage]:
    """The processes a county can launch as a campaign."""
    return [p for p in _packages.values() if p.campaign is not None]


def get(key: str | None) -> ProcessPackage | None:
    return _packages.get(key) if key else None


def for_form(form_key: str | None) -> ProcessPackage | None:
    return _by_form_key.get(form_key) if form_key else None


def all_packages() -> list[ProcessPackage]:
    return list(_packages.values())


def protected_keys() -> set[str]:
    return {p.key for p in _packages.values() if p.protected}


def started_by_package(key: str) -> bool:
    package = _packages.get(key)
    return bool(package and package.started_by_package)


def self_review_forms() -> set[str]:
    return {form for p in _packages.values() for form in p.self_review_forms}


def quiet_forms() -> set[str]:
    return {form for p in _packages.values() for form in p.quiet_forms}


def event_words() -> dict[str, Text]:
    return {action: words for p in _packages.values() for action, words in p.event_words.items()}


def summaries(instances: Iterable[ProcessInstance]) -> dict[int, RowSummary]:
    """Row summaries of ``instances`` by id: one call per process present, never one per instance."""
    by_process: dict[str, list[int]] = {}
    for instance in instances:
        by_process.setdefault(instance.process_key, []).append(instance.id)
    found: dict[int, RowSummary] = {}
    for key, ids in by_process.items():
        package = _packages.get(key)
        if package is not None and package.summarise is not None:
            found.update(package.summarise(sorted(set(ids))))
    return found


def search(text: str) -> list[sa.Select]:
    """Each process's select of instance ids matching ``text``."""
    return [p.search(text) for p in _packages.values() if p.search is not None]


def filters() -> list[InboxFilter]:
    return [f for p in _packages.values() for f in p.filters]


def bulk_actions() -> list[BulkAction]:
    return [p.bulk for p in _packages.values() if p.bulk is not None]


def bulk_for(form_key: str | None) -> BulkAction | None:
    package = for_form(form_key)
    return package.bulk if package and package.bulk and form_key in package.bulk.form_keys else None


def links(kind: str, roles: Iterable[Role]) -> list[NavLink]:
    """The navigation (``nav``) or home-page (``home``) links of every process for holders of ``roles``."""
    held = set(roles)
    return [link for p in _packages.values() for link in getattr(p, kind)
            if not link.roles or link.roles & held]
