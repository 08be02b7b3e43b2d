"""merchant message texts, versioned

One row per saved version of a merchant's words for a message kind and language
(docs/messages.md); the highest version is in force, an empty `texts` is the default.

Revision ID: 0008_message_texts
Revises: 0007_company_details
Create Date: 2026-12-02 07:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0008_message_texts'
down_revision = '0007_company_details'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('message_text',
    sa.Column('id', sa.Integer(), nullable=False, comment='Surrogate key'),
    sa.Column('merchant_id', sa.Integer(), nullable=False, comment='Tenant'),
    sa.Column('kind', sa.String(length=60), nullable=False, comment='Message kind (dunning step template or case message)'),
    sa.Column('language', sa.String(length=5), nullable=False, comment='Language of the words (de, en)'),
    sa.Column('version', sa.Integer(), nullable=False, comment='1, 2, 3 … per merchant, kind and language; the highest is in force'),
    sa.Column('texts', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False, comment='Slot name to text; empty: the shipped default'),
    sa.Column('action', sa.String(length=20), nullable=False, comment='save, restore (of an earlier version) or default'),
    sa.Column('restored_from', sa.Integer(), nullable=True, comment='For a restore: the version it copies'),
    sa.Column('created_by', sa.String(length=254), nullable=False, comment='Email of the staff member who made this version'),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, comment='When this version was made'),
    sa.CheckConstraint('version >= 1', name=op.f('ck_message_text_version_positive')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_message_text_merchant_id_merchant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_text')),
    sa.UniqueConstraint('merchant_id', 'kind', 'language', 'version', name=op.f('uq_message_text_merchant_id_kind_language_version'))
    )
    with op.batch_alter_table('message_text', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_text_merchant_id'), ['merchant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('message_text', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_text_merchant_id'))
    op.drop_table('message_text')
