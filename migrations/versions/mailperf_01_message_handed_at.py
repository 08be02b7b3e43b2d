"""message.handed_at: the durable mark a worker sets just before a message can no longer be taken back
(SMTP's final dot, the SMS request), so a worker killed at any moment never sends a message twice

Revision ID: mailperf_01
Revises: officeperf_02
"""
from alembic import op
import sqlalchemy as sa

revision = 'mailperf_01'
down_revision = 'officeperf_02'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column(
            'handed_at', sa.DateTime(timezone=True), nullable=True,
            comment="When the worker began to hand it over (just before SMTP's final dot, the SMS request); "
                    "with sent_at NULL and the worker gone: in doubt, never sent again"))


def downgrade():
    with op.batch_alter_table('message') as batch:
        batch.drop_column('handed_at')
