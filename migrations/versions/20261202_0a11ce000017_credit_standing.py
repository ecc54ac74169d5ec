"""credit standing: each teacher's standing per requirement line, and each school's sums of them, for the overviews

Revision ID: 0a11ce000017
Revises: 0a11ce000016
Create Date: 2026-12-02 18:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce000017'
down_revision = '0a11ce000016'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
AMOUNT = sa.Numeric(precision=9, scale=2, asdecimal=False)


def upgrade():
    op.create_table(
        'credit_standing',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('period_kind', sa.String(length=60), nullable=False),
        sa.Column('period_key', sa.String(length=24), nullable=False),
        sa.Column('period_name', sa.String(length=100), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=True),
        sa.Column('period_end', sa.Date(), nullable=True),
        sa.Column('category', sa.String(length=60), nullable=False),
        sa.Column('line_name', sa.String(length=100), nullable=False),
        sa.Column('measure', sa.String(length=16), nullable=False),
        sa.Column('counted', AMOUNT, nullable=False),
        sa.Column('counted_hours', AMOUNT, nullable=False),
        sa.Column('counted_credits', AMOUNT, nullable=False),
        sa.Column('minimum', AMOUNT, nullable=True),
        sa.Column('exclusive', sa.Boolean(), nullable=False),
        sa.Column('status', sa.Enum('met', 'not_met', 'at_risk', 'no_minimum', 'no_rules', name='status',
                                    native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("measure IN ('hours', 'credits')", name=op.f('ck_credit_standing_measure')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_credit_standing_user_id_user_account'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['school_id'], ['org.id'], name=op.f('fk_credit_standing_school_id_org'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_standing')),
        sa.UniqueConstraint('user_id', 'period_kind', 'category',
                            name=op.f('uq_credit_standing_user_id_period_kind_category')),
    )
    op.create_index('ix_credit_standing_school_id_period_kind_category', 'credit_standing',
                    ['school_id', 'period_kind', 'category'])
    op.create_index('ix_credit_standing_as_of', 'credit_standing', ['as_of'])
    op.create_table(
        'credit_standing_school',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('period_kind', sa.String(length=60), nullable=False),
        sa.Column('period_key', sa.String(length=24), nullable=False),
        sa.Column('period_name', sa.String(length=100), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=True),
        sa.Column('period_end', sa.Date(), nullable=True),
        sa.Column('category', sa.String(length=60), nullable=False),
        sa.Column('line_name', sa.String(length=100), nullable=False),
        sa.Column('measure', sa.String(length=16), nullable=False),
        sa.Column('teachers', sa.Integer(), nullable=False),
        sa.Column('met', sa.Integer(), nullable=False),
        sa.Column('not_met', sa.Integer(), nullable=False),
        sa.Column('at_risk', sa.Integer(), nullable=False),
        sa.Column('no_minimum', sa.Integer(), nullable=False),
        sa.Column('no_rules', sa.Integer(), nullable=False),
        sa.Column('counted', sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=False),
        sa.Column('counted_hours', sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=False),
        sa.Column('minimum_low', AMOUNT, nullable=True),
        sa.Column('minimum_high', AMOUNT, nullable=True),
        sa.Column('exclusive', sa.Boolean(), nullable=False),
        sa.Column('as_of_low', sa.Date(), nullable=False),
        sa.Column('as_of_high', sa.Date(), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['school_id'], ['org.id'], name=op.f('fk_credit_standing_school_school_id_org'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_standing_school')),
        sa.UniqueConstraint('school_id', 'period_kind', 'period_key', 'category', 'measure',
                            name='uq_credit_standing_school_line'),
    )


def downgrade():
    op.drop_table('credit_standing_school')
    op.drop_index('ix_credit_standing_as_of', table_name='credit_standing')
    op.drop_index('ix_credit_standing_school_id_period_kind_category', table_name='credit_standing')
    op.drop_table('credit_standing')
