"""Open items filtered by preferred channel: the customers of a channel from a (merchant, channel) index instead of
reading every customer

Revision ID: officeperf_02
Revises: officeperf_01
"""
from alembic import op

revision = 'officeperf_02'
down_revision = 'officeperf_01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_debtor_channel', 'debtor', ['merchant_id', 'preferred_channel'])


def downgrade():
    op.drop_index('ix_debtor_channel', table_name='debtor')
