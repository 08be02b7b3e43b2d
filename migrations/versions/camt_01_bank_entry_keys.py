"""Bank reconciliation: keys that recognise a credit in a camt.054 and the camt.053 that repeats it;
the merchant's tolerance for small remainders and what happens to credits

Revision ID: camt_01
Revises: uploads_01
"""
from alembic import op
import sqlalchemy as sa

revision = 'camt_01'
down_revision = 'uploads_01'
branch_labels = None
depends_on = None

MINOR = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table(
        'bank_entry_key',
        sa.Column('id', sa.Integer(), nullable=False, comment='Surrogate key'),
        sa.Column('merchant_id', sa.Integer(), nullable=False, comment='Tenant'),
        sa.Column('key', sa.String(length=250), nullable=False, comment='b:<account>:<AcctSvcrRef>, e:<account>:<direction/amount>:<EndToEndId>#n or s:<account>:<direction/amount>:<value date>:<reference>#n'),
        sa.Column('entry_ref', sa.String(length=140), nullable=False, comment='bank_entry.entry_ref of the entry it identifies'),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_bank_entry_key_merchant_id_merchant'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_entry_key')),
        sa.UniqueConstraint('merchant_id', 'key', name=op.f('uq_bank_entry_key_merchant_id_key')),
    )
    # Entries imported before: their bank reference (entry or transaction level) and EndToEndId.
    bind = op.get_bind()
    account = "split_part(entry_ref, ':', 1)" if bind.dialect.name == 'postgresql' else "substr(entry_ref, 1, instr(entry_ref, ':') - 1)"
    op.execute(
        "INSERT INTO bank_entry_key (merchant_id, key, entry_ref) "
        "SELECT merchant_id, 'b:' || replace(entry_ref, ':tx:', ':'), entry_ref FROM bank_entry "
        "WHERE entry_ref NOT LIKE 'h:%' AND length(entry_ref) <= 240"
    )
    op.execute(
        "INSERT INTO bank_entry_key (merchant_id, key, entry_ref) "
        f"SELECT merchant_id, 'e:' || {account} || ':' || direction || CASE WHEN reversal THEN '-R' ELSE '' END || ':' "
        "|| currency || CAST(amount_minor AS VARCHAR(20)) || ':' || end_to_end_id || '#1', min(entry_ref) FROM bank_entry "
        "WHERE entry_ref NOT LIKE 'h:%' AND end_to_end_id IS NOT NULL AND length(entry_ref) <= 180 "
        f"GROUP BY merchant_id, {account}, direction, reversal, currency, amount_minor, end_to_end_id"
    )
    with op.batch_alter_table('merchant') as batch:
        batch.add_column(sa.Column('remainder_tolerance_minor', MINOR, server_default='100', nullable=False,
                                   comment="A remainder up to this (minor units) after a bank payment is not dunned: bank charges the payer's bank took"))
        batch.add_column(sa.Column('remainder_action', sa.String(length=10), server_default='write_off', nullable=False,
                                   comment='What happens to such a remainder: write_off (booked at once) or staff (dunning stops, staff decide)'))
        batch.add_column(sa.Column('credit_handling', sa.String(length=10), server_default='refund', nullable=False,
                                   comment='What happens to an overpayment, as the debtor is told: refund (paid back) or offset (set against the next invoice)'))
        batch.create_check_constraint(op.f('ck_merchant_remainder_tolerance_nonneg'), 'remainder_tolerance_minor >= 0')
        batch.create_check_constraint(op.f('ck_merchant_remainder_action_known'), "remainder_action IN ('write_off', 'staff')")
        batch.create_check_constraint(op.f('ck_merchant_credit_handling_known'), "credit_handling IN ('refund', 'offset')")


def downgrade():
    with op.batch_alter_table('merchant') as batch:
        batch.drop_constraint(op.f('ck_merchant_credit_handling_known'), type_='check')
        batch.drop_constraint(op.f('ck_merchant_remainder_action_known'), type_='check')
        batch.drop_constraint(op.f('ck_merchant_remainder_tolerance_nonneg'), type_='check')
        batch.drop_column('credit_handling')
        batch.drop_column('remainder_action')
        batch.drop_column('remainder_tolerance_minor')
    op.drop_table('bank_entry_key')
