"""semester summaries: personal summaries with their outcome files, subgroup summaries, the school's summary and self-check

Revision ID: 0a11ce00001a
Revises: 0a11ce000019
Create Date: 2026-12-02 21:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0a11ce00001a'
down_revision = '0a11ce000019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('summary_personal',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('teacher_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('draft', 'submitted', 'withdrawn', 'missing', name='status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_summary_personal_campaign_id_campaign'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_summary_personal_instance_id_process_instance'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['org.id'], name=op.f('fk_summary_personal_school_id_org'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['teacher_id'], ['user_account.id'], name=op.f('fk_summary_personal_teacher_id_user_account'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_personal')),
    sa.UniqueConstraint('instance_id', 'teacher_id', name=op.f('uq_summary_personal_instance_id_teacher_id'))
    )
    with op.batch_alter_table('summary_personal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_summary_personal_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_summary_personal_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_summary_personal_teacher_id'), ['teacher_id'], unique=False)

    op.create_table('summary_school',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('self_check', sa.JSON(), nullable=False),
    sa.Column('newsletters', sa.Integer(), nullable=False),
    sa.Column('aggregates', sa.JSON(), nullable=False),
    sa.Column('missing_teachers', sa.JSON(), nullable=False),
    sa.Column('compiled_by_id', sa.Integer(), nullable=True),
    sa.Column('compiled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_by_id', sa.Integer(), nullable=True),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sign_comment', sa.Text(), nullable=True),
    sa.Column('county_decision', sa.Enum('accepted', 'returned', name='county_decision', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('county_comment', sa.Text(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_count', sa.Integer(), nullable=False),
    sa.CheckConstraint('newsletters >= 0', name=op.f('ck_summary_school_newsletters_not_negative')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_summary_school_campaign_id_campaign'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['compiled_by_id'], ['user_account.id'], name=op.f('fk_summary_school_compiled_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_summary_school_decided_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_summary_school_instance_id_process_instance'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['org.id'], name=op.f('fk_summary_school_school_id_org'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['signed_by_id'], ['user_account.id'], name=op.f('fk_summary_school_signed_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_school')),
    sa.UniqueConstraint('instance_id', name=op.f('uq_summary_school_instance_id'))
    )
    with op.batch_alter_table('summary_school', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_summary_school_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_summary_school_school_id'), ['school_id'], unique=False)

    op.create_table('summary_subgroup',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('instance_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subgroup_id', sa.Integer(), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_summary_subgroup_instance_id_process_instance'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['leader_id'], ['user_account.id'], name=op.f('fk_summary_subgroup_leader_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['subgroup_id'], ['org.id'], name=op.f('fk_summary_subgroup_subgroup_id_org'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_subgroup')),
    sa.UniqueConstraint('instance_id', 'subgroup_id', name=op.f('uq_summary_subgroup_instance_id_subgroup_id'))
    )
    with op.batch_alter_table('summary_subgroup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_summary_subgroup_instance_id'), ['instance_id'], unique=False)

    op.create_table('summary_attachment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('personal_summary_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('case_analysis', 'paper', 'log', 'style_summary', name='kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_path', sa.String(length=200), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['personal_summary_id'], ['summary_personal.id'], name=op.f('fk_summary_attachment_personal_summary_id_summary_personal'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_summary_attachment_uploaded_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_attachment')),
    sa.UniqueConstraint('personal_summary_id', 'kind', 'sha256', name=op.f('uq_summary_attachment_personal_summary_id_kind_sha256'))
    )
    with op.batch_alter_table('summary_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_summary_attachment_personal_summary_id'), ['personal_summary_id'], unique=False)



def downgrade():
    with op.batch_alter_table('summary_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_summary_attachment_personal_summary_id'))

    op.drop_table('summary_attachment')
    with op.batch_alter_table('summary_subgroup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_summary_subgroup_instance_id'))

    op.drop_table('summary_subgroup')
    with op.batch_alter_table('summary_school', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_summary_school_school_id'))
        batch_op.drop_index(batch_op.f('ix_summary_school_campaign_id'))

    op.drop_table('summary_school')
    with op.batch_alter_table('summary_personal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_summary_personal_teacher_id'))
        batch_op.drop_index(batch_op.f('ix_summary_personal_instance_id'))
        batch_op.drop_index(batch_op.f('ix_summary_personal_campaign_id'))

    op.drop_table('summary_personal')
