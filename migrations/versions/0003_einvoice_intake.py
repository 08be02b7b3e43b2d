"""e-invoice intake: the original file on the invoice, the merchant's default term and customer-number term

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoice') as batch:
        batch.add_column(sa.Column('einvoice_file', sa.String(length=255), nullable=True,
                                   comment='Original e-invoice (XML or PDF) as received, path relative to STORAGE_DIR'))
        batch.add_column(sa.Column('einvoice_format', sa.String(length=60), nullable=True,
                                   comment='Format of that e-invoice, e.g. XRechnung (UBL 2.1)'))
    with op.batch_alter_table('merchant') as batch:
        batch.add_column(sa.Column('payment_term_days', sa.Integer(), server_default='14', nullable=False,
                                   comment='E-invoices without a due date: due this many days after the issue date'))
        batch.add_column(sa.Column('einvoice_customer_ref', sa.String(length=5), server_default='BT-46', nullable=False,
                                   comment='Which e-invoice term is the customer number: BT-46 (buyer identifier) or BT-10 (buyer reference)'))


def downgrade():
    with op.batch_alter_table('merchant') as batch:
        batch.drop_column('einvoice_customer_ref')
        batch.drop_column('payment_term_days')
    with op.batch_alter_table('invoice') as batch:
        batch.drop_column('einvoice_format')
        batch.drop_column('einvoice_file')
