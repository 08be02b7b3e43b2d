"""Versioned dunning policies (editor), a fee per channel, the merchant's letter costs

Revision ID: policy_01
Revises: portal_01
"""
from alembic import op
import sqlalchemy as sa

revision = 'policy_01'
down_revision = 'portal_01'
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table('dunning_policy') as batch:
        batch.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False,
                                   comment="Version of this customer group's policy, from 1"))
        batch.add_column(sa.Column('lineage_id', sa.Integer(), nullable=True,
                                   comment='First version of the same customer group; NULL: this is the first'))
        batch.add_column(sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True,
                                   comment='When a newer version replaced it; invoices already under it keep it'))
        batch.add_column(sa.Column('changed_by', sa.String(length=254), nullable=True,
                                   comment='Who saved this version (email), NULL for the seeded defaults'))
        batch.drop_constraint('uq_dunning_policy_merchant_id_name', type_='unique')
        batch.create_unique_constraint(op.f('uq_dunning_policy_merchant_id_name_version'), ['merchant_id', 'name', 'version'])
        batch.create_foreign_key(op.f('fk_dunning_policy_lineage_id_dunning_policy'), 'dunning_policy', ['lineage_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_index(op.f('ix_dunning_policy_lineage_id'), ['lineage_id'], unique=False)
    with op.batch_alter_table('dunning_policy_step') as batch:
        batch.add_column(sa.Column('fee_email_minor', MINOR, server_default='0', nullable=False,
                                   comment='Dunning fee when it goes out by email (default 0: an email costs next to nothing)'))
        batch.add_column(sa.Column('fee_sms_minor', MINOR, server_default='0', nullable=False,
                                   comment='Dunning fee when it goes out by SMS (default 0)'))
        batch.alter_column('fee_minor', existing_type=MINOR, existing_nullable=False,
                           comment="Dunning fee when the notice goes out as a letter (charged only in default; at most the merchant's letter costs and fee cap)")
        batch.create_check_constraint(op.f('ck_dunning_policy_step_channel_fees_nonneg'), 'fee_email_minor >= 0 AND fee_sms_minor >= 0')
    with op.batch_alter_table('merchant') as batch:
        batch.add_column(sa.Column('letter_cost_minor', MINOR, server_default='125', nullable=False,
                                   comment='Actual cost of one dunning letter (postage and print), minor units: the highest fee for a letter'))
        batch.create_check_constraint(op.f('ck_merchant_letter_cost_nonneg'), 'letter_cost_minor >= 0')


def downgrade():
    with op.batch_alter_table('merchant') as batch:
        batch.drop_constraint(op.f('ck_merchant_letter_cost_nonneg'), type_='check')
        batch.drop_column('letter_cost_minor')
    with op.batch_alter_table('dunning_policy_step') as batch:
        batch.drop_constraint(op.f('ck_dunning_policy_step_channel_fees_nonneg'), type_='check')
        batch.drop_column('fee_sms_minor')
        batch.drop_column('fee_email_minor')
    with op.batch_alter_table('dunning_policy') as batch:
        batch.drop_index(op.f('ix_dunning_policy_lineage_id'))
        batch.drop_constraint(op.f('fk_dunning_policy_lineage_id_dunning_policy'), type_='foreignkey')
        batch.drop_constraint(op.f('uq_dunning_policy_merchant_id_name_version'), type_='unique')
        batch.create_unique_constraint('uq_dunning_policy_merchant_id_name', ['merchant_id', 'name'])
        batch.drop_column('changed_by')
        batch.drop_column('superseded_at')
        batch.drop_column('lineage_id')
        batch.drop_column('version')
