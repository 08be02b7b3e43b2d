"""Indexes of open invoices only: the dunning work list and the open-items orders by open amount, amount and
dunning step become partial indexes `WHERE status = 'open'`, without the status column. A payment that closes an
invoice now deletes it from each of them instead of moving it to the paid part of the same B-tree (a delete and
an insert elsewhere, four times per paid invoice of a bank import); paid invoices in these orders are listed
through the indexes of all statuses (merchant, amount / open amount / step, id). The order by due date keeps its
index of every status (merchant, status, due date, id): the list's default order, also for the rare statuses

Revision ID: recon7_01
Revises: office16_02
"""
import sqlalchemy as sa
from alembic import op

revision = 'recon7_01'
down_revision = 'office16_02'
branch_labels = None
depends_on = None


OPEN = sa.text("status = 'open'")
ORDERS = {  # name: (columns after, columns before)
    'ix_invoice_open_items_open': (['merchant_id', 'open_minor', 'id'], ['merchant_id', 'status', 'open_minor', 'id']),
    'ix_invoice_open_items_amount': (['merchant_id', 'amount_minor', 'id'], ['merchant_id', 'status', 'amount_minor', 'id']),
    'ix_invoice_open_items_step': (['merchant_id', 'dunning_step', 'id'], ['merchant_id', 'status', 'dunning_step', 'id']),
    'ix_invoice_dunning_worklist': (['merchant_id', 'next_action_on'], ['status', 'next_action_on']),
}


def upgrade():
    for name, (after, _) in ORDERS.items():
        op.drop_index(name, table_name='invoice')
        op.create_index(name, 'invoice', after, postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade():
    for name, (_, before) in ORDERS.items():
        op.drop_index(name, table_name='invoice')
        op.create_index(name, 'invoice', before)
