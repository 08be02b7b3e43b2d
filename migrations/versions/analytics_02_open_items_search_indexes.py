"""Open items at a million invoices: the step filter's choices from an index; "contains" search through
trigram indexes (pg_trgm) on PostgreSQL

Revision ID: analytics_02
Revises: policy_01
"""
from alembic import op

revision = 'analytics_02'
down_revision = 'policy_01'
branch_labels = None
depends_on = None

TRIGRAM = [("ix_invoice_number_trgm", "invoice", "number"), ("ix_invoice_order_ref_trgm", "invoice", "order_ref"),
           ("ix_debtor_name_trgm", "debtor", "name"), ("ix_debtor_company_trgm", "debtor", "company"),
           ("ix_debtor_external_ref_trgm", "debtor", "external_ref")]


def upgrade():
    op.create_index('ix_invoice_merchant_step', 'invoice', ['merchant_id', 'dunning_step'])
    if op.get_bind().dialect.name == "postgresql":
        # a trusted extension since PostgreSQL 13: the database owner may create it
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, column in TRIGRAM:
            op.create_index(name, table, [column], postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _column in TRIGRAM:
            op.drop_index(name, table_name=table)
    op.drop_index('ix_invoice_merchant_step', table_name='invoice')
