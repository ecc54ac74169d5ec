"""Corrections of a teacher's credit ledger by the officers who recognise credits: an entry is reversed, and,
when the hours were wrong rather than the entry, posted again with the right hours. Nothing is changed in
place; the freed room under a cap goes to the entries it had cut (``ledger.recount``), and every step is
audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from webapp.models import CreditEntry, EntrySource, Org, Role, User
from webapp.services import ledger, notifications
from webapp.services.errors import Conflict, NotAllowed, ServiceError
from webapp.services.roles import roles_of

#: Who corrects: the school's credit officer for the school's teachers, the county centre for the county's,
#: and administrators.
CORRECTORS = (Role.SCHOOL_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN)


def _covers(root: Org, org: Org | None) -> bool:
    return org is not None and org.path.startswith(root.path)


def may_correct(user: User, teacher: User, held: Iterable | None = None) -> bool:
    """Whether ``user`` may correct ``teacher``'s ledger: an administrator, or a school or county officer at the
    teacher's organisation or above it (acting for an absent holder counts). Never their own ledger."""
    if user.id == teacher.id:
        return False
    for role in (list(held) if held is not None else roles_of(user)):
        if role.role == Role.ADMIN:
            return True
        if role.role in (Role.SCHOOL_OFFICER, Role.COUNTY_OFFICER) and _covers(role.org, teacher.org):
            return True
    return False


@dataclass
class Correction:
    reversal: CreditEntry
    #: The entry posted with the corrected hours (None when the entry was only reversed).
    replacement: CreditEntry | None = None
    #: Entries re-posted because the reversal freed room under a cap.
    recounted: list[CreditEntry] = field(default_factory=list)


def correct(entry: CreditEntry, by: User, reason: str, *, hours: float | None = None,
            held: Iterable | None = None) -> Correction:
    """Reverse ``entry`` with ``reason``; with ``hours``, post it again with those hours (same category, item,
    day, evidence and source). Flushes, never commits."""
    if entry.is_reversal:
        raise Conflict(_l("A reversal cannot be reversed; post a new entry instead."))
    if not may_correct(by, entry.user, held):
        raise NotAllowed(_l("You may not correct the ledger of %(name)s.", name=entry.user.display_name))
    if hours is not None and (hours < 0 or hours > 10_000):
        raise ServiceError(_l("Give the corrected hours as a number from 0 to 10000."), field="hours")
    if hours is not None and abs(hours - float(entry.hours)) < 0.005:
        raise ServiceError(_l("The corrected hours are the hours already recorded."), field="hours")
    reversal = ledger.reverse_entry(entry, by, reason, org=by.org, then_recount=False)
    result = Correction(reversal)
    if hours is not None and hours > 0:  # posted before the re-count: the corrected entry keeps its place
        result.replacement = ledger.post_entry(
            entry.user, earned_on=entry.earned_on, category=entry.category, item=entry.item_code, hours=hours,
            level=entry.level, source=EntrySource.MANUAL,
            source_ref=f"correction:{entry.id}", evidence_hash=entry.evidence_hash, recognised_by=by,
            recognised_org=by.org, title=entry.title, note=reason.strip(), rule_set=entry.rule_set)
    result.recounted = ledger.recount(entry.user, by, cause=reversal, org=by.org)
    day = entry.earned_on.isoformat()
    if result.replacement is not None:
        body = _l("%(by)s corrected your entry of %(date)s from %(old)s to %(new)s hours. Reason: %(reason)s",
                  by=by.display_name, date=day, old=f"{float(entry.hours):g}",
                  new=f"{float(result.replacement.hours):g}", reason=reason.strip())
    else:
        body = _l("%(by)s reversed your entry of %(date)s (%(old)s hours). Reason: %(reason)s",
                  by=by.display_name, date=day, old=f"{float(entry.hours):g}", reason=reason.strip())
    notifications.notify(entry.user, "credit.corrected", title=_l("Your training hours were corrected"), body=body,
                         link="/ledger/")
    return result
