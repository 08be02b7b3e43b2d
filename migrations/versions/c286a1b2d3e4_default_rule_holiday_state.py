"""When default begins: the rule that gave default_on, and the merchant's state for public holidays

Revision ID: c286a1b2d3e4
Revises: 0009_dashboard
"""
from alembic import op
import sqlalchemy as sa

revision = 'c286a1b2d3e4'
down_revision = '0009_dashboard'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoice') as batch:
        batch.add_column(sa.Column('default_rule', sa.String(length=20), nullable=True,
                                   comment='Which rule of § 286 BGB gave default_on: notice_deadline, notice_receipt or thirty_days'))
    with op.batch_alter_table('merchant') as batch:
        batch.add_column(sa.Column('holiday_state', sa.String(length=2), nullable=True,
                                   comment='German state whose public holidays count for deadlines (§ 193 BGB), e.g. BY; NULL: national holidays only'))


def downgrade():
    with op.batch_alter_table('merchant') as batch:
        batch.drop_column('holiday_state')
    with op.batch_alter_table('invoice') as batch:
        batch.drop_column('default_rule')
