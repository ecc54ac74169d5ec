"""Migrations: one head, models match the migrations, and upgrade → downgrade → upgrade works."""

import secrets

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL


@pytest.fixture
def fresh_app(tmp_path):
    """An app on its own empty database: a new PostgreSQL schema, or a new SQLite file."""
    from webapp import create_app
    from webapp.config import normalise_database_url

    options = {}
    admin = None
    if PG_URL:
        url = normalise_database_url(PG_URL)
        schema = f"m_{secrets.token_hex(6)}"
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    else:
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "m" * 40, "TESTING": True,
                      "SQLALCHEMY_ENGINE_OPTIONS": options})
    yield app
    from webapp.extensions import db

    with app.app_context():
        db.engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _tables(app) -> set[str]:
    from webapp.extensions import db

    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_single_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from webapp import _project_path

    config = Config()
    config.set_main_option("script_location", str(_project_path("migrations")))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_check_downgrade_upgrade(fresh_app):
    from flask_migrate import check, downgrade, upgrade

    from webapp.models import Base

    with fresh_app.app_context():
        upgrade()
        check()  # raises (via SystemExit) when the models differ from the migrations
    assert set(Base.metadata.tables) <= _tables(fresh_app)
    with fresh_app.app_context():
        downgrade(revision="base")
    assert _tables(fresh_app) <= {"alembic_version"}
    with fresh_app.app_context():
        upgrade()
    assert set(Base.metadata.tables) <= _tables(fresh_app)


def test_append_only_audit_migration_keeps_every_event_and_import_link(fresh_app):
    """0a11ce000012 rebuilds audit_event on SQLite: no event and no import job's link to its report is lost."""
    from flask_migrate import downgrade, upgrade

    from webapp.extensions import db

    before = "0a11ce000012-1"  # whatever precedes it once the branches are merged
    links = "SELECT import_job.id, event_id, action FROM import_job JOIN audit_event ON audit_event.id = event_id"
    with fresh_app.app_context():
        upgrade(revision=before)
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO audit_event (id, at, action) "
                                 "VALUES (5, CURRENT_TIMESTAMP, 'user.import')"))
            conn.execute(sa.text(
                "INSERT INTO import_job (id, kind, filename, data, status, total_rows, processed_rows, results, "
                "locale, password_min_length, event_id, created_at, updated_at) VALUES (7, 'users', 'a.csv', :data, "
                "'done', 0, 0, '[]', 'zh_CN', 8, 5, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"data": b""})
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(sa.text(links)).all() == [(7, 5, "user.import")]
        downgrade(revision=before)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text(links)).all() == [(7, 5, "user.import")]
