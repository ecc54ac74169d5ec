"""instance watchers: the people copied on an instance (抄送) read its record and hear when it ends

Revision ID: 0a11ce000014
Revises: 0a11ce000013
Create Date: 2026-12-02 18:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce000014'
down_revision = '0a11ce000013'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'instance_watcher',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('instance_id', BIG_ID, nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('added_by_id', sa.Integer(), nullable=True),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                                name=op.f('fk_instance_watcher_instance_id_process_instance'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_instance_watcher_user_id_user_account'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['added_by_id'], ['user_account.id'],
                                name=op.f('fk_instance_watcher_added_by_id_user_account'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_instance_watcher')),
        sa.UniqueConstraint('instance_id', 'user_id', name=op.f('uq_instance_watcher_instance_id_user_id')),
    )


def downgrade():
    op.drop_table('instance_watcher')
