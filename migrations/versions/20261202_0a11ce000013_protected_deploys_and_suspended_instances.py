"""Protected deploys (a new version of a process that posts credits waits for an administrator's approval) and
suspended instances

Revision ID: 0a11ce000013
Revises: 0a11ce000012
Create Date: 2026-12-02 12:20:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce000013'
down_revision = '0a11ce000012'
branch_labels = None
depends_on = None

OLD_STATUSES = ('running', 'completed', 'cancelled', 'incident')
NEW_STATUSES = (*OLD_STATUSES, 'suspended')
OLD_APPLICATION = ('draft', 'submitted', 'returned', 'approved', 'rejected', 'withdrawn', 'recognised')
NEW_APPLICATION = (*OLD_APPLICATION, 'cancelled')


def _status(values):
    return sa.Enum(*values, name='status', native_enum=False, create_constraint=True, length=32)


def upgrade():
    with op.batch_alter_table('process_definition', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.Enum('live', 'pending', 'refused', name='state', native_enum=False,
                                                       create_constraint=True, length=32),
                                      server_default='live', nullable=False))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('review_note', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_process_definition_reviewed_by_id_user_account'), 'user_account',
                                    ['reviewed_by_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=_status(OLD_STATUSES), type_=_status(NEW_STATUSES),
                              existing_nullable=False)
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=_status(OLD_APPLICATION), type_=_status(NEW_APPLICATION),
                              existing_nullable=False)


def downgrade():
    op.execute("UPDATE application SET status = 'withdrawn' WHERE status = 'cancelled'")
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=_status(NEW_APPLICATION), type_=_status(OLD_APPLICATION),
                              existing_nullable=False)
    op.execute("UPDATE process_instance SET status = 'incident' WHERE status = 'suspended'")
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=_status(NEW_STATUSES), type_=_status(OLD_STATUSES),
                              existing_nullable=False)
    with op.batch_alter_table('process_definition', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_process_definition_reviewed_by_id_user_account'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_process_definition_state'), type_='check')
        batch_op.drop_column('review_note')
        batch_op.drop_column('reviewed_by_id')
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('state')
