"""campaigns: one process run over many schools for a period, with a deadline per stage

Revision ID: 0a11ce000019
Revises: 0a11ce000017
Create Date: 2026-12-02 20:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce000019'
down_revision = '0a11ce000017'
branch_labels = None
depends_on = None

CAMPAIGN_STATUS = ('launching', 'open', 'closed')
SCHOOL_STATUS = ('pending', 'failed', 'in_progress', 'submitted', 'returned', 'accepted', 'cancelled')


def upgrade():
    op.create_table(
        'campaign',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('process_key', sa.String(length=100), nullable=False),
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('period', sa.String(length=40), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('launched_by_id', sa.Integer(), nullable=True),
        sa.Column('launched_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.Enum(*CAMPAIGN_STATUS, name='status', native_enum=False, create_constraint=True,
                                    length=32), nullable=False),
        sa.Column('deadlines', sa.JSON(), nullable=False),
        sa.Column('remind_days', sa.Integer(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('started', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.Column('close_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['definition_id'], ['process_definition.id'],
                                name=op.f('fk_campaign_definition_id_process_definition'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_campaign_org_id_org'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['launched_by_id'], ['user_account.id'],
                                name=op.f('fk_campaign_launched_by_id_user_account'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'],
                                name=op.f('fk_campaign_closed_by_id_user_account'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign')),
    )
    op.create_index(op.f('ix_campaign_process_key'), 'campaign', ['process_key'], unique=False)
    op.create_index(op.f('ix_campaign_org_id'), 'campaign', ['org_id'], unique=False)
    op.create_table(
        'campaign_school',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('process_key', sa.String(length=100), nullable=False),
        sa.Column('period', sa.String(length=40), nullable=False),
        sa.Column('instance_id', sa.BigInteger(), nullable=True),
        sa.Column('status', sa.Enum(*SCHOOL_STATUS, name='status', native_enum=False, create_constraint=True,
                                    length=32), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('returned_count', sa.Integer(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('facts', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_campaign_school_campaign_id_campaign'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_campaign_school_org_id_org'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                                name=op.f('fk_campaign_school_instance_id_process_instance'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_school')),
        sa.UniqueConstraint('instance_id', name=op.f('uq_campaign_school_instance_id')),
        sa.UniqueConstraint('process_key', 'period', 'org_id',
                            name=op.f('uq_campaign_school_process_key_period_org_id')),
    )
    op.create_index(op.f('ix_campaign_school_campaign_id'), 'campaign_school', ['campaign_id'], unique=False)
    op.create_index(op.f('ix_campaign_school_org_id'), 'campaign_school', ['org_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_campaign_school_org_id'), table_name='campaign_school')
    op.drop_index(op.f('ix_campaign_school_campaign_id'), table_name='campaign_school')
    op.drop_table('campaign_school')
    op.drop_index(op.f('ix_campaign_org_id'), table_name='campaign')
    op.drop_index(op.f('ix_campaign_process_key'), table_name='campaign')
    op.drop_table('campaign')
