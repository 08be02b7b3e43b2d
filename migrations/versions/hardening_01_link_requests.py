"""link requests: "send me a new link" is queued for the worker, the same row whether or not the contact is known

Revision ID: hardening_01
Revises: baserate_01
"""
from alembic import op
import sqlalchemy as sa

revision = 'hardening_01'
down_revision = 'baserate_01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'link_request',
        sa.Column('id', sa.Integer(), nullable=False, comment='Surrogate key'),
        sa.Column('merchant_id', sa.Integer(), nullable=True,
                  comment="The shop the page was opened for (an expired link's shop); NULL: any shop on this installation"),
        sa.Column('contact_kind', sa.String(length=5), nullable=False, comment='email or phone: how the contact was entered'),
        sa.Column('contact', sa.String(length=254), nullable=True,
                  comment='Normalised email address or E.164 number; erased once processed'),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False, comment='When the form was sent'),
        sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True,
                  comment='When the worker looked it up; NULL: pending'),
        sa.Column('matched', sa.Integer(), nullable=True,
                  comment='Debtors found (only the worker knows; never shown to the requester)'),
        sa.CheckConstraint("contact_kind IN ('email', 'phone')", name=op.f('ck_link_request_contact_kind_known')),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_link_request_merchant_id_merchant'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_link_request')),
    )
    op.create_index('ix_link_request_pending', 'link_request', ['processed_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_link_request_pending', table_name='link_request')
    op.drop_table('link_request')
