"""task digests: one daily digest email per user and day

Revision ID: 0a11ce000008
Revises: 0a11ce000007
Create Date: 2026-11-23 00:43:47.481029

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0a11ce000008'
down_revision = '0a11ce000007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('task_digest',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('task_count', sa.Integer(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_task_digest_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_digest')),
    sa.UniqueConstraint('user_id', 'day', name=op.f('uq_task_digest_user_id_day'))
    )


def downgrade():
    op.drop_table('task_digest')
