"""Handover lifecycle: the merchant's collection agency and a record of every export (claims and entries reported)

Revision ID: handover_01
Revises: camt_01
"""
from alembic import op
import sqlalchemy as sa


revision = 'handover_01'
down_revision = 'camt_01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'collection_agency',
        sa.Column('merchant_id', sa.Integer(), nullable=False, comment='Tenant whose claims the agency collects'),
        sa.Column('name', sa.String(length=200), nullable=False, comment="The agency's registered name"),
        sa.Column('street', sa.String(length=200), nullable=False, comment='Postal address: street and number'),
        sa.Column('postal_code', sa.String(length=20), nullable=False, comment='Postal address: postal code'),
        sa.Column('city', sa.String(length=100), nullable=False, comment='Postal address: city'),
        sa.Column('country', sa.String(length=2), nullable=False, comment='Postal address: ISO 3166 country code'),
        sa.Column('contact_person', sa.String(length=120), nullable=True, comment="Who at the agency handles the merchant's claims"),
        sa.Column('email', sa.String(length=254), nullable=True, comment='Where debtors write to the agency'),
        sa.Column('phone', sa.String(length=40), nullable=True, comment="The agency's phone number for debtors"),
        sa.Column('registration', sa.String(length=200), nullable=True, comment="Registration in the legal services register (§ 10 RDG), e.g. 'Rechtsdienstleistungsregister, AG Stuttgart, Az. 371E-1234'"),
        sa.Column('privacy_url', sa.String(length=500), nullable=True, comment="The agency's own privacy notice"),
        sa.Column('legal_basis', sa.String(length=12), nullable=False, comment='Basis of the data transfer: art6_1_f (legitimate interest) or art6_1_b_f (contract and legitimate interest)'),
        sa.Column('payee', sa.String(length=10), nullable=False, comment='Where debtors pay after handover: agency (the portal offers no payment) or shop'),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False, comment='Last change'),
        sa.CheckConstraint("payee IN ('agency', 'shop')", name='payee_known'),
        sa.CheckConstraint("legal_basis IN ('art6_1_f', 'art6_1_b_f')", name='legal_basis_known'),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('merchant_id'),
    )
    op.create_table(
        'handover_export',
        sa.Column('id', sa.Integer(), nullable=False, comment="Surrogate key; the export's number for the agency"),
        sa.Column('merchant_id', sa.Integer(), nullable=False, comment='Tenant'),
        sa.Column('actor', sa.String(length=40), nullable=False, comment='Who produced it: user:<id> or cli'),
        sa.Column('claims', sa.Integer(), nullable=False, comment='Claims carried in full for the first time'),
        sa.Column('supplements', sa.Integer(), nullable=False, comment='Ledger entries reported as changes since an earlier export'),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, comment='When it was produced'),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_handover_export_merchant_id', 'handover_export', ['merchant_id'])
    op.create_table(
        'handover_export_claim',
        sa.Column('invoice_id', sa.Integer(), nullable=False, comment='The claim'),
        sa.Column('export_id', sa.Integer(), nullable=False, comment='Export that carried it in full'),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['export_id'], ['handover_export.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('invoice_id'),
    )
    op.create_index('ix_handover_export_claim_export_id', 'handover_export_claim', ['export_id'])
    op.create_table(
        'handover_export_entry',
        sa.Column('ledger_entry_id', sa.Integer(), nullable=False, comment='The entry reported'),
        sa.Column('export_id', sa.Integer(), nullable=False, comment='Export that reported it'),
        sa.Column('supplement', sa.Boolean(), nullable=False, comment="Reported as a change after an earlier export (not in the claim's first record)"),
        sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entry.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['export_id'], ['handover_export.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('ledger_entry_id'),
    )
    op.create_index('ix_handover_export_entry_export_id', 'handover_export_entry', ['export_id'])


def downgrade():
    op.drop_index('ix_handover_export_entry_export_id', table_name='handover_export_entry')
    op.drop_table('handover_export_entry')
    op.drop_index('ix_handover_export_claim_export_id', table_name='handover_export_claim')
    op.drop_table('handover_export_claim')
    op.drop_index('ix_handover_export_merchant_id', table_name='handover_export')
    op.drop_table('handover_export')
    op.drop_table('collection_agency')
