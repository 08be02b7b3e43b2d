"""Open items by dunning step from an index walk: (merchant, status, dunning step, id) and, for all statuses, the step
filter's (merchant, dunning step) index with the id

Revision ID: office16_02
Revises: reconcile16_01
"""
from alembic import op

revision = 'office16_02'
down_revision = 'reconcile16_01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_invoice_open_items_step', 'invoice', ['merchant_id', 'status', 'dunning_step', 'id'])
    op.drop_index('ix_invoice_merchant_step', table_name='invoice')
    op.create_index('ix_invoice_merchant_step', 'invoice', ['merchant_id', 'dunning_step', 'id'])


def downgrade():
    op.drop_index('ix_invoice_merchant_step', table_name='invoice')
    op.create_index('ix_invoice_merchant_step', 'invoice', ['merchant_id', 'dunning_step'])
    op.drop_index('ix_invoice_open_items_step', table_name='invoice')
