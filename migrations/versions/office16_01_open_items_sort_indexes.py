"""Open items of all statuses by due date, amount or open amount from an index walk (merchant, column, id) instead of
sorting the whole selection; a broad search then checks each invoice along the walk

Revision ID: office16_01
Revises: mailperf_01
"""
from alembic import op

revision = 'office16_01'
down_revision = 'mailperf_01'
branch_labels = None
depends_on = None


def upgrade():
    # by due date: with the id in the index a page ends where it ends, instead of reading the whole day of its last
    # row (1,370 invoices a day at a million) to sort it by id
    op.drop_index('ix_invoice_merchant_due', table_name='invoice')
    op.create_index('ix_invoice_merchant_due', 'invoice', ['merchant_id', 'due_date', 'id'])
    op.create_index('ix_invoice_merchant_amount', 'invoice', ['merchant_id', 'amount_minor', 'id'])
    op.create_index('ix_invoice_merchant_open', 'invoice', ['merchant_id', 'open_minor', 'id'])


def downgrade():
    op.drop_index('ix_invoice_merchant_open', table_name='invoice')
    op.drop_index('ix_invoice_merchant_amount', table_name='invoice')
    op.drop_index('ix_invoice_merchant_due', table_name='invoice')
    op.create_index('ix_invoice_merchant_due', 'invoice', ['merchant_id', 'due_date'])
