"""money columns 64-bit

Amounts and balances in minor units become BIGINT on PostgreSQL (32-bit INTEGER ends at
21,474,836.47 EUR, and sums of fees and interest on top must still fit). SQLite's INTEGER
already holds 64-bit values, so nothing changes there (the models say INTEGER for SQLite).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 06:45:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

MONEY_COLUMNS = [
    ("merchant", "dunning_fee_cap_minor"),
    ("merchant", "plan_min_rate_minor"),
    ("merchant", "plan_max_total_minor"),
    ("dunning_policy", "match_amount_min_minor"),
    ("dunning_policy", "match_amount_max_minor"),
    ("dunning_policy_step", "fee_minor"),
    ("bank_entry", "amount_minor"),
    ("checkout_session", "amount_minor"),
    ("checkout_item", "amount_minor"),
    ("invoice", "amount_minor"),
    ("invoice", "open_minor"),
    ("installment_plan", "total_minor"),
    ("installment_plan", "open_at_start_minor"),
    ("ledger_entry", "amount_minor"),
    ("stripe_payment", "amount_minor"),
    ("stripe_payment", "refunded_minor"),
    ("plan_rate", "amount_minor"),
]


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in MONEY_COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in MONEY_COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
