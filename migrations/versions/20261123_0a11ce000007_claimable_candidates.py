"""claimable candidates

Revision ID: 0a11ce000007
Revises: 0a11ce000006
Create Date: 2026-11-23 00:04:20.125566

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0a11ce000007'
down_revision = '0a11ce000006'
branch_labels = None
depends_on = None


def upgrade():

    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimable', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_task_candidate_claimable_role', ['role', 'org_id', 'due_at', 'task_id'], unique=False, postgresql_where=sa.text('claimable'), sqlite_where=sa.text('claimable'))
        batch_op.create_index('ix_task_candidate_claimable_user', ['user_id', 'due_at', 'task_id'], unique=False, postgresql_where=sa.text('claimable'), sqlite_where=sa.text('claimable'))

    # Copy the state of the tasks that are open now (closed tasks keep no candidates).
    op.execute("UPDATE task_candidate SET "
               "due_at = (SELECT h.due_at FROM human_task h WHERE h.id = task_candidate.task_id), "
               "claimable = NOT EXISTS (SELECT 1 FROM human_task h WHERE h.id = task_candidate.task_id "
               "AND (h.assignee_id IS NOT NULL OR h.claimed_by_id IS NOT NULL))")



def downgrade():

    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_task_candidate_claimable_user', postgresql_where=sa.text('claimable'), sqlite_where=sa.text('claimable'))
        batch_op.drop_index('ix_task_candidate_claimable_role', postgresql_where=sa.text('claimable'), sqlite_where=sa.text('claimable'))
        batch_op.drop_column('due_at')
        batch_op.drop_column('claimable')


