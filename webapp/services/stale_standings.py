"""Which teachers' standings (``credit_standing``) the current transaction has made stale.

The ledger calls :func:`mark` after posting or reversing an entry; :mod:`webapp.services.standings` recomputes the
marked teachers just before the transaction commits (its ``before_commit`` hook on every session, registered when
that module is imported: ``create_app`` does, through ``webapp.background`` and ``webapp.jobs``). A module of its
own, so that the ledger does not import the standings, which import the ledger.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from webapp.extensions import db

#: ``Session.info`` key: the ids of the teachers to recompute at commit.
KEY = "yanxun_stale_standings"


def mark(user_id: int) -> None:
    """Recompute ``user_id``'s standing when the current transaction commits (once, however many entries)."""
    db.session.info.setdefault(KEY, set()).add(user_id)


def take(session: Session) -> set[int]:
    """The marked ids, forgotten."""
    return session.info.pop(KEY, None) or set()
