"""open tasks by instance and step: the campaign board groups an instance's open tasks from one index

Revision ID: 0a11ce00001b
Revises: 0a11ce00001a
Create Date: 2026-12-02 22:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce00001b'
down_revision = '0a11ce00001a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_human_task_open_instance', 'human_task', ['instance_id', 'bpmn_id'], unique=False,
                    postgresql_where=sa.text("status = 'open'"))


def downgrade():
    op.drop_index('ix_human_task_open_instance', table_name='human_task',
                  postgresql_where=sa.text("status = 'open'"))
