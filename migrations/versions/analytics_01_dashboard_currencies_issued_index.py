"""Dashboard at size: the merchant's currencies kept with the watermark; invoiced amounts per month from an index

Revision ID: analytics_01
Revises: c286a1b2d3e4
"""
from alembic import op
import sqlalchemy as sa

from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = 'analytics_01'
down_revision = 'c286a1b2d3e4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('analytics_watermark') as batch:
        batch.add_column(sa.Column('currencies', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True,
                                   comment="The merchant's invoice currencies, most invoices first; NULL: to be counted again"))
    op.create_index('ix_invoice_merchant_issued', 'invoice', ['merchant_id', 'currency', 'issue_date', 'amount_minor'])


def downgrade():
    op.drop_index('ix_invoice_merchant_issued', table_name='invoice')
    with op.batch_alter_table('analytics_watermark') as batch:
        batch.drop_column('currencies')
