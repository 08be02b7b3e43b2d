"""Base rates entered after release (§ 247 BGB): one row per entry, the latest per half-year counts

Revision ID: baserate_01
Revises: handover_01
"""
from alembic import op
import sqlalchemy as sa

revision = 'baserate_01'
down_revision = 'handover_01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'base_rate_entry',
        sa.Column('id', sa.Integer(), nullable=False, comment="Surrogate key; the maximum is the table's version"),
        sa.Column('valid_from', sa.Date(), nullable=False, comment='First day of the half-year (1 January or 1 July)'),
        sa.Column('rate_percent', sa.Numeric(5, 2), nullable=False, comment='Base rate in percent per annum (may be negative)'),
        sa.Column('previous_percent', sa.Numeric(5, 2), nullable=True, comment='The rate that counted before this entry, if any'),
        sa.Column('actor', sa.String(length=80), nullable=False, comment='Who entered it: user:<id> or cli:<login name>'),
        sa.Column('actor_email', sa.String(length=254), nullable=True, comment="The staff member's email at the time, for the audit"),
        sa.Column('merchant_id', sa.Integer(), nullable=True, comment="The staff member's merchant (NULL: command line)"),
        sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False, comment='When it was entered (UTC)'),
        sa.CheckConstraint('rate_percent BETWEEN -10 AND 20', name=op.f('ck_base_rate_entry_base_rate_sane')),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_base_rate_entry_merchant_id_merchant'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_base_rate_entry')),
    )
    op.create_index('ix_base_rate_entry_valid_from', 'base_rate_entry', ['valid_from'])


def downgrade():
    op.drop_index('ix_base_rate_entry_valid_from', table_name='base_rate_entry')
    op.drop_table('base_rate_entry')
