"""Append-only audit trail: a trigger refuses UPDATE and DELETE of audit events; instances and users with
audit events can no longer be deleted (their foreign keys were ON DELETE CASCADE and SET NULL)

TRUNCATE is left alone: it is an owner's operation the application never issues, and the test suite empties
its tables with it. See docs/operations.md, "The audit trail".

Revision ID: 0a11ce000012
Revises: 0a11ce000011
Create Date: 2026-12-02 12:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0a11ce000012'
down_revision = '0a11ce000011'
branch_labels = None
depends_on = None

MESSAGE = 'audit_event is append-only: audit events are never changed or deleted'


def upgrade():
    _foreign_keys(instance='RESTRICT', actor='RESTRICT')
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
                   "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()")
    elif dialect == 'sqlite':
        for action in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER audit_event_no_{action.lower()} BEFORE {action} ON audit_event "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    elif dialect == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    _foreign_keys(instance='CASCADE', actor='SET NULL')


def _foreign_keys(*, instance, actor):
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        # SQLite rebuilds the table; with foreign keys on, dropping the old one would SET NULL the import
        # jobs' links to their report events, so they are kept aside and put back.
        op.execute("CREATE TEMPORARY TABLE import_job_event AS "
                   "SELECT id, event_id FROM import_job WHERE event_id IS NOT NULL")
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_constraint('fk_audit_event_instance_id_process_instance', type_='foreignkey')
        batch_op.drop_constraint('fk_audit_event_actor_id_user_account', type_='foreignkey')
        batch_op.create_foreign_key('fk_audit_event_instance_id_process_instance', 'process_instance',
                                    ['instance_id'], ['id'], ondelete=instance)
        batch_op.create_foreign_key('fk_audit_event_actor_id_user_account', 'user_account',
                                    ['actor_id'], ['id'], ondelete=actor)
    if sqlite:
        op.execute("UPDATE import_job SET event_id = (SELECT e.event_id FROM import_job_event e "
                   "WHERE e.id = import_job.id) WHERE id IN (SELECT id FROM import_job_event)")
        op.execute("DROP TABLE import_job_event")
