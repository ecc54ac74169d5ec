"""rubrics (评估量表) and their immutable versions, and which evaluations use a version

``rubric_version`` is append-only: besides the ORM guard, a trigger refuses UPDATE and DELETE on PostgreSQL and
SQLite (TRUNCATE, used by the test suite's cleanup, is left alone).

Revision ID: 0a11ce00001c
Revises: 0a11ce00001b
Create Date: 2026-12-02 23:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0a11ce00001c'
down_revision = '0a11ce00001b'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
MESSAGE = 'rubric_version is immutable: make a new version instead'


def upgrade():
    op.create_table(
        'rubric',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=100), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric')),
        sa.UniqueConstraint('code', name=op.f('uq_rubric_code')),
    )
    op.create_table(
        'rubric_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rubric_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('tree', sa.JSON(), nullable=False),
        sa.Column('bands', sa.JSON(), nullable=False),
        sa.Column('veto_grade', sa.String(length=40), nullable=False),
        sa.Column('aggregation', sa.String(length=20), nullable=False),
        sa.Column('trim_from_experts', sa.Integer(), nullable=False),
        sa.Column('disagreement_threshold', sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column('total_points', sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column('effective_from', sa.Date(), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('source_yaml', sa.Text(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("aggregation IN ('mean', 'trimmed_mean')", name=op.f('ck_rubric_version_aggregation')),
        sa.CheckConstraint('total_points > 0 AND disagreement_threshold >= 0 AND trim_from_experts >= 3',
                           name=op.f('ck_rubric_version_positive')),
        sa.ForeignKeyConstraint(['rubric_id'], ['rubric.id'], name=op.f('fk_rubric_version_rubric_id_rubric'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_rubric_version_created_by_id_user_account'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric_version')),
        sa.UniqueConstraint('rubric_id', 'version', name=op.f('uq_rubric_version_rubric_id_version')),
    )
    op.create_table(
        'rubric_use',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('process_key', sa.String(length=100), nullable=False),
        sa.Column('instance_id', BIG_ID, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['version_id'], ['rubric_version.id'],
                                name=op.f('fk_rubric_use_version_id_rubric_version'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'],
                                name=op.f('fk_rubric_use_instance_id_process_instance'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric_use')),
        sa.UniqueConstraint('version_id', 'process_key', 'instance_id',
                            name=op.f('uq_rubric_use_version_id_process_key_instance_id')),
    )
    with op.batch_alter_table('rubric_use', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rubric_use_version_id'), ['version_id'], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION rubric_version_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("CREATE TRIGGER rubric_version_append_only BEFORE UPDATE OR DELETE ON rubric_version "
                   "FOR EACH ROW EXECUTE FUNCTION rubric_version_append_only()")
    elif dialect == 'sqlite':
        for action in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER rubric_version_no_{action.lower()} BEFORE {action} ON rubric_version "
                       f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS rubric_version_append_only ON rubric_version")
        op.execute("DROP FUNCTION IF EXISTS rubric_version_append_only()")
    elif dialect == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS rubric_version_no_update")
        op.execute("DROP TRIGGER IF EXISTS rubric_version_no_delete")
    with op.batch_alter_table('rubric_use', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rubric_use_version_id'))
    op.drop_table('rubric_use')
    op.drop_table('rubric_version')
    op.drop_table('rubric')
