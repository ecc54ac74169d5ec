"""recognition batches: a county closes a school year and keeps each school's summary as it was

Revision ID: 0a11ce000018
Revises: 0a11ce000015
Create Date: 2026-12-02 19:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce000018'
down_revision = '0a11ce000015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'recognition_batch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('school_year', sa.String(length=20), nullable=False),
        sa.Column('year_start', sa.Date(), nullable=False),
        sa.Column('year_end', sa.Date(), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.Column('teachers', sa.Integer(), nullable=False),
        sa.Column('schools', sa.Integer(), nullable=False),
        sa.Column('report', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_recognition_batch_org_id_org'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'],
                                name=op.f('fk_recognition_batch_closed_by_id_user_account'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recognition_batch')),
        sa.UniqueConstraint('org_id', 'school_year', name=op.f('uq_recognition_batch_org_id_school_year')),
    )
    op.create_index(op.f('ix_recognition_batch_org_id'), 'recognition_batch', ['org_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_recognition_batch_org_id'), table_name='recognition_batch')
    op.drop_table('recognition_batch')
