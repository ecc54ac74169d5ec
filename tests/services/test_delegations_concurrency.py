"""Five taps on "name substitute" at the same moment, each naming another colleague: one substitute (PostgreSQL)."""

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL

pytestmark = [pytest.mark.committed,
              pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL (YANXUN_TEST_DATABASE_URL)")]

THREADS = 5


def test_simultaneous_requests_name_one_substitute(app, committed):
    from webapp.extensions import db
    from webapp.models import Delegation, Role, User
    from webapp.services import delegations
    from webapp.services.errors import ServiceError
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    city = create_org(code="RACE-C", name="并发市", type="city")
    school = create_org(code="RACE-S", name="并发学校", type="school", parent=city)
    officer = create_user(login="race_officer", password="Passw0rd!x", display_name="专干", org=school)
    assign_role(officer, Role.SCHOOL_OFFICER, school)
    colleagues = [create_user(login=f"race_colleague{n}", password="Passw0rd!x", display_name=f"同事{n}",
                              org=school).id for n in range(THREADS)]
    officer_id = officer.id
    db.session.commit()
    db.session.remove()

    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def press(colleague_id: int) -> None:
        barrier.wait()
        with app.app_context():
            try:
                delegations.create_own(db.session.get(User, officer_id), db.session.get(User, colleague_id),
                                       role=Role.SCHOOL_OFFICER, valid_from=date.today(),
                                       valid_to=date.today() + timedelta(days=3))
                db.session.commit()
                outcome = "named"
            except ServiceError as error:
                db.session.rollback()
                outcome = f"refused on {error.field}"
            except Exception as error:  # anything else is a bug; keep it for the assertion message
                db.session.rollback()
                outcome = f"error: {type(error).__name__}: {error}"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=press, args=(colleague_id,)) for colleague_id in colleagues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["named"] + ["refused on valid_from"] * (THREADS - 1), outcomes
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delegation)) == 1
