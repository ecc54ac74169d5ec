"""exact credit records: rule-set versions with their own effective dates and the first day they accept
entries for, entries that replace a capped entry once room is freed, teachers' training tier and
employment type

Revision ID: 0a11ce000015
Revises: 0a11ce000014
Create Date: 2026-12-02 18:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce000015'
down_revision = '0a11ce000014'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.add_column('rule_set', sa.Column('version_from', sa.Date(), nullable=True))
    op.add_column('rule_set', sa.Column('entries_from', sa.Date(), nullable=True))
    op.execute("UPDATE rule_set SET version_from = effective_from, entries_from = effective_from")
    with op.batch_alter_table('rule_set') as batch:
        batch.alter_column('version_from', existing_type=sa.Date(), nullable=False)
        batch.alter_column('entries_from', existing_type=sa.Date(), nullable=False)
    # No foreign key: entries are never deleted (a trigger refuses it), so the link cannot dangle, and adding
    # a constrained column on SQLite would rebuild the table and drop its append-only triggers.
    op.add_column('credit_entry', sa.Column('replaces_id', BIG_ID, nullable=True))
    op.create_index(op.f('ix_credit_entry_replaces_id'), 'credit_entry', ['replaces_id'], unique=True)
    op.add_column('user_account', sa.Column('training_tier', sa.SmallInteger(), nullable=True))
    op.add_column('user_account', sa.Column('employment_type', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('user_account') as batch:
        batch.drop_column('employment_type')
        batch.drop_column('training_tier')
    op.drop_index(op.f('ix_credit_entry_replaces_id'), table_name='credit_entry')
    if op.get_bind().dialect.name != 'sqlite':  # on SQLite dropping a column rebuilds the table: keep it
        op.drop_column('credit_entry', 'replaces_id')
    with op.batch_alter_table('rule_set') as batch:
        batch.drop_column('entries_from')
        batch.drop_column('version_from')
