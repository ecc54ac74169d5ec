"""Migration 0a11ce000014 (instance watchers, 抄送) upgrades and downgrades on its own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.test_migrations import fresh_app  # noqa: F401  (fixture)

BEFORE, WATCHERS = "0a11ce000013", "0a11ce000014"


def _inspect():
    from webapp.extensions import db

    return sa.inspect(db.engine)


def test_instance_watcher_table_upgrades_and_downgrades(fresh_app):  # noqa: F811
    from flask_migrate import downgrade, upgrade

    from webapp.extensions import db

    with fresh_app.app_context():
        upgrade(revision=BEFORE)
        assert "instance_watcher" not in _inspect().get_table_names()
        upgrade(revision=WATCHERS)
        inspector = _inspect()
        assert {c["name"] for c in inspector.get_columns("instance_watcher")} == {
            "id", "instance_id", "user_id", "added_by_id", "added_at"}
        assert [u["column_names"] for u in inspector.get_unique_constraints("instance_watcher")] == [
            ["instance_id", "user_id"]]
        keys = {tuple(fk["constrained_columns"]): (fk["referred_table"], fk["options"].get("ondelete"))
                for fk in inspector.get_foreign_keys("instance_watcher")}
        assert keys == {("instance_id",): ("process_instance", "CASCADE"), ("user_id",): ("user_account", "CASCADE"),
                        ("added_by_id",): ("user_account", "SET NULL")}
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO org (id, code, name, type, path, depth, active, created_at, updated_at) "
                                 "VALUES (1, 'X', 'X', 'city', '/1/', 0, true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            conn.execute(sa.text("INSERT INTO user_account (id, login, display_name, password_hash, active, "
                                 "is_class_teacher, created_at, updated_at) VALUES (1, 'u', 'u', 'x', true, false, "
                                 "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            conn.execute(sa.text("INSERT INTO process_definition (id, key, version, name, content_hash, source_files, "
                                 "bpmn_xml, spec_json, deployed_at, state) VALUES (1, 'p', 1, 'p', 'h', '{}', '', '', "
                                 "CURRENT_TIMESTAMP, 'live')"))
            conn.execute(sa.text("INSERT INTO process_instance (id, definition_id, process_key, title, subject_org_id, "
                                 "status, state_json, serializer_version, waiting_messages, summary, started_at, "
                                 "lock_version) VALUES (1, 1, 'p', 't', 1, 'running', '', '', '[]', '{}', "
                                 "CURRENT_TIMESTAMP, 1)"))
            conn.execute(sa.text("INSERT INTO instance_watcher (instance_id, user_id, added_at) "
                                 "VALUES (1, 1, CURRENT_TIMESTAMP)"))
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO instance_watcher (instance_id, user_id, added_at) "
                                 "VALUES (1, 1, CURRENT_TIMESTAMP)"))
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM process_instance WHERE id = 1"))
            assert conn.execute(sa.text("SELECT count(*) FROM instance_watcher")).scalar() == 0, "cascades"
            conn.execute(sa.text("INSERT INTO process_instance (id, definition_id, process_key, title, "
                                 "subject_org_id, status, state_json, serializer_version, waiting_messages, summary, "
                                 "started_at, lock_version) VALUES (2, 1, 'p', 't', 1, 'running', '', '', '[]', '{}', "
                                 "CURRENT_TIMESTAMP, 1)"))
            conn.execute(sa.text("INSERT INTO instance_watcher (instance_id, user_id, added_at) "
                                 "VALUES (2, 1, CURRENT_TIMESTAMP)"))
        downgrade(revision=BEFORE)
        assert "instance_watcher" not in _inspect().get_table_names()
        upgrade()
        assert "instance_watcher" in _inspect().get_table_names()
