"""The single-process default fires due timers by itself (no Redis, no cron), and only when served."""

import time

import sqlalchemy as sa

from tests.workflow_support import HOURS_REVIEW


def test_served_app_fires_due_timers_without_redis(tmp_path):
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import AuditEvent, HumanTask, Role
    from webapp.services import definitions, instances, tasks
    from webapp.services.orgs import create_org
    from webapp.services.users import assign_role, create_user

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'ticker.db'}", "SECRET_KEY": "t" * 40,
                      "TIMER_TICK_SECONDS": 1})
    with app.app_context():
        upgrade()
        city = create_org(code="TK", name="计时市", type="city")
        teacher = create_user(login="ticker_teacher", password="Passw0rd!x", display_name="教师")
        assign_role(teacher, Role.TEACHER, city)
        officer = create_user(login="ticker_officer", password="Passw0rd!x", display_name="专干")
        assign_role(officer, Role.SCHOOL_OFFICER, city)
        quick = HOURS_REVIEW.read_bytes().replace(b">PT48H<", b">PT1S<")
        definitions.deploy({"hours_review.bpmn": quick}, None)
        instance = instances.start("hours_review", subject_org=city, initiator=teacher)
        db.session.commit()
        submit = db.session.scalar(sa.select(HumanTask).where(HumanTask.instance_id == instance.id))
        instances.complete_task(submit, teacher, {"title": "计时测试", "hours": 2}, tasks.authorise_complete)
        db.session.commit()
        instance_id = instance.id

    assert app.test_client().get("/healthz").status_code == 200  # the first request starts the ticker
    thread, stop = app.extensions["yanxun_ticker"]
    try:
        deadline = time.monotonic() + 15
        fired = 0
        while time.monotonic() < deadline and not fired:
            time.sleep(0.5)
            with app.app_context():
                fired = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
                    AuditEvent.instance_id == instance_id, AuditEvent.action == "timer.fire"))
                db.session.remove()
        assert fired == 1, "the reminder fired once, by the ticker"
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


def test_no_ticker_under_tests_or_with_redis(app, tmp_path):
    from webapp import create_app, jobs

    assert jobs.start_embedded_ticker(app) is None, "never in the test suite"
    served = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "SECRET_KEY": "r" * 40,
                         "REDIS_URL": "redis://127.0.0.1:6379/15"})
    assert jobs.start_embedded_ticker(served) is None, "with Redis, Celery beat does it"
