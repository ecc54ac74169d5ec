"""What a transaction leaves to be handed over once it has committed (jobs to queue, emails to send).

Services :func:`add` items under a key while they work; once the session's transaction commits (its real
commit, not a released savepoint) the items become available to :func:`take`; a rollback drops them. The
caller that owns the transaction (a view after its response, a job) takes them and hands them over.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from webapp.extensions import db

_PENDING = "yanxun.after_commit.pending"
_COMMITTED = "yanxun.after_commit.committed"


def add(key: str, *items: Any) -> None:
    """Keep ``items`` under ``key`` until the current transaction of the session commits."""
    db.session.info.setdefault(_PENDING, {}).setdefault(key, []).extend(items)


def take(key: str, session: Session | None = None) -> list[Any]:
    """The items under ``key`` committed in ``session`` (the current one) since the last call."""
    target = session if session is not None else db.session()
    return target.info.get(_COMMITTED, {}).pop(key, [])


@sa.event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction is not committed yet
        return
    committed = session.info.setdefault(_COMMITTED, {})
    for key, items in session.info.pop(_PENDING, {}).items():
        committed.setdefault(key, []).extend(items)


@sa.event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
