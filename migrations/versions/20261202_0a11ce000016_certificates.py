"""certificates (学时证明 and the rule sets' completion certificates) and their revocations

Both tables are append-only: besides the ORM guard, a trigger refuses UPDATE and DELETE on PostgreSQL and
SQLite (TRUNCATE, used by the test suite's cleanup, is left alone).

Revision ID: 0a11ce000016
Revises: 0a11ce000018
Create Date: 2026-12-02 20:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce000016'
down_revision = '0a11ce000018'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
GUARDED = {
    'certificate': 'certificate is append-only: revoke it instead',
    'certificate_revocation': 'certificate_revocation is append-only: a revocation is final',
}


def upgrade():
    op.create_table(
        'certificate',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('teacher_id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=60), nullable=False),
        sa.Column('rule_set_id', sa.Integer(), nullable=False),
        sa.Column('period_kind', sa.String(length=60), nullable=False),
        sa.Column('period_key', sa.String(length=24), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('issued_by_id', sa.Integer(), nullable=True),
        sa.Column('content', sa.JSON(), nullable=False),
        sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
        sa.Column('pdf', sa.LargeBinary(), nullable=False),
        sa.CheckConstraint('period_start <= as_of AND as_of <= period_end',
                           name=op.f('ck_certificate_as_of_in_period')),
        sa.ForeignKeyConstraint(['teacher_id'], ['user_account.id'],
                                name=op.f('fk_certificate_teacher_id_user_account'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_certificate_org_id_org'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['rule_set_id'], ['rule_set.id'],
                                name=op.f('fk_certificate_rule_set_id_rule_set'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['issued_by_id'], ['user_account.id'],
                                name=op.f('fk_certificate_issued_by_id_user_account'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate')),
        sa.UniqueConstraint('code', name=op.f('uq_certificate_code')),
    )
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_teacher_id'), ['teacher_id'], unique=False)
    op.create_table(
        'certificate_revocation',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('certificate_id', BIG_ID, nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_by_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['certificate_id'], ['certificate.id'],
                                name=op.f('fk_certificate_revocation_certificate_id_certificate'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['revoked_by_id'], ['user_account.id'],
                                name=op.f('fk_certificate_revocation_revoked_by_id_user_account'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_revocation')),
        sa.UniqueConstraint('certificate_id', name=op.f('uq_certificate_revocation_certificate_id')),
    )
    dialect = op.get_bind().dialect.name
    for table, message in GUARDED.items():
        if dialect == 'postgresql':
            op.execute(f"""
                CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '{message}' USING ERRCODE = 'restrict_violation';
                END;
                $$ LANGUAGE plpgsql
            """)
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")
        elif dialect == 'sqlite':
            for action in ('UPDATE', 'DELETE'):
                op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def downgrade():
    dialect = op.get_bind().dialect.name
    for table in GUARDED:
        if dialect == 'postgresql':
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
        elif dialect == 'sqlite':
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_table('certificate_revocation')
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_teacher_id'))
    op.drop_table('certificate')
