"""Back office at a million invoices: open items sorted by customer name through a (merchant, name, id) index on
the customers, sorted by amount, filtered by pause reason (a partial index) and added up from an index alone;
a customer's timeline newest first from a (debtor, time, id) index on the events

Revision ID: officeperf_01
Revises: hardening_01
"""
import sqlalchemy as sa
from alembic import op

revision = 'officeperf_01'
down_revision = 'hardening_01'
branch_labels = None
depends_on = None


PAUSED = sa.text("paused_reason IS NOT NULL")


def upgrade():
    op.create_index('ix_invoice_open_items_amount', 'invoice', ['merchant_id', 'status', 'amount_minor', 'id'])
    op.create_index('ix_invoice_open_items_totals', 'invoice', ['merchant_id', 'status', 'currency', 'amount_minor', 'open_minor'])
    op.create_index('ix_invoice_open_items_paused', 'invoice', ['merchant_id', 'paused_reason', 'status', 'due_date', 'id'],
                    postgresql_where=PAUSED, sqlite_where=PAUSED)
    op.create_index('ix_debtor_merchant_name', 'debtor', ['merchant_id', 'name', 'id'])
    # the new index starts with debtor_id: it serves everything the old one did (and the foreign key's deletes)
    op.create_index('ix_event_debtor_time', 'event', ['debtor_id', 'occurred_at', 'id'])
    op.drop_index('ix_event_debtor_id', table_name='event')


def downgrade():
    op.create_index('ix_event_debtor_id', 'event', ['debtor_id'])
    op.drop_index('ix_event_debtor_time', table_name='event')
    op.drop_index('ix_debtor_merchant_name', table_name='debtor')
    for name in ('ix_invoice_open_items_paused', 'ix_invoice_open_items_totals', 'ix_invoice_open_items_amount'):
        op.drop_index(name, table_name='invoice')
