"""inbox indexes

Revision ID: 0a11ce000006
Revises: 0a11ce000005
Create Date: 2026-11-22 23:46:57.568982

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0a11ce000006'
down_revision = '0a11ce000005'
branch_labels = None
depends_on = None


def upgrade():

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_human_task_completed_by_id'))
        batch_op.create_index('ix_human_task_done', ['completed_by_id', 'completed_at', 'id'], unique=False)
        batch_op.create_index('ix_human_task_open_unclaimed', ['id'], unique=False, postgresql_include=['due_at'], postgresql_where=sa.text("status = 'open' AND assignee_id IS NULL AND claimed_by_id IS NULL"))

    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_candidate_role_org_id'))
        batch_op.drop_index(batch_op.f('ix_task_candidate_user_id'))
        batch_op.create_index('ix_task_candidate_role_org_task', ['role', 'org_id', 'task_id'], unique=False)
        batch_op.create_index('ix_task_candidate_user_task', ['user_id', 'task_id'], unique=False)




def downgrade():

    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_task_candidate_user_task')
        batch_op.drop_index('ix_task_candidate_role_org_task')
        batch_op.create_index(batch_op.f('ix_task_candidate_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_candidate_role_org_id'), ['role', 'org_id'], unique=False)

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_open_unclaimed', postgresql_include=['due_at'], postgresql_where=sa.text("status = 'open' AND assignee_id IS NULL AND claimed_by_id IS NULL"))
        batch_op.drop_index('ix_human_task_done')
        batch_op.create_index(batch_op.f('ix_human_task_completed_by_id'), ['completed_by_id'], unique=False)


