"""open items: indexes for keyset pages (by due date, by open amount) and for search by email or phone

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_invoice_open_items_due', 'invoice', ['merchant_id', 'status', 'due_date', 'id'])
    op.create_index('ix_invoice_open_items_open', 'invoice', ['merchant_id', 'status', 'open_minor', 'id'])
    op.create_index('ix_debtor_email', 'debtor', ['merchant_id', 'email'])
    op.create_index('ix_debtor_phone', 'debtor', ['merchant_id', 'phone'])


def downgrade():
    op.drop_index('ix_debtor_phone', table_name='debtor')
    op.drop_index('ix_debtor_email', table_name='debtor')
    op.drop_index('ix_invoice_open_items_open', table_name='invoice')
    op.drop_index('ix_invoice_open_items_due', table_name='invoice')
