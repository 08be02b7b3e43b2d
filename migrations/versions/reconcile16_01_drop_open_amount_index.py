"""Drop ix_invoice_merchant_open_minor: the amount rule of the bank reconciliation probes
ix_invoice_open_items_open (merchant_id, status, open_minor, id), which also narrows to open
invoices; the older index only cost two more B-tree writes for every payment (ix_invoice_merchant_open, office16_01, serves the rest)

Revision ID: reconcile16_01
Revises: office16_01
"""
from alembic import op

revision = 'reconcile16_01'
down_revision = 'office16_01'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_invoice_merchant_open_minor', table_name='invoice')


def downgrade():
    op.create_index('ix_invoice_merchant_open_minor', 'invoice', ['merchant_id', 'open_minor'])
