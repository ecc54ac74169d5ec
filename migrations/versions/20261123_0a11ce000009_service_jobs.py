"""Service jobs: async service-task handlers queued in the same transaction, run and retried by workers

Revision ID: 0a11ce000009
Revises: 0a11ce000008
Create Date: 2026-11-23 00:42:30.654170

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0a11ce000009'
down_revision = '0a11ce000008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('service_job',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_guid', sa.String(length=36), nullable=False),
    sa.Column('bpmn_id', sa.String(length=100), nullable=False),
    sa.Column('topic', sa.String(length=100), nullable=False),
    sa.Column('status', sa.Enum('pending', 'done', 'failed', 'cancelled', name='status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_service_job_instance_id_process_instance'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_job')),
    sa.UniqueConstraint('task_guid', name=op.f('uq_service_job_task_guid'))
    )
    with op.batch_alter_table('service_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_job_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_service_job_pending', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))



def downgrade():
    with op.batch_alter_table('service_job', schema=None) as batch_op:
        batch_op.drop_index('ix_service_job_pending', postgresql_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_service_job_instance_id'))

    op.drop_table('service_job')
