"""Upload jobs: files staff upload in the back office, imported by the worker

Revision ID: uploads_01
Revises: analytics_02
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'uploads_01'
down_revision = 'analytics_02'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table(
        'upload_job',
        sa.Column('id', sa.Integer(), primary_key=True, comment='Surrogate key'),
        sa.Column('merchant_id', sa.Integer(), sa.ForeignKey('merchant.id', ondelete='CASCADE'), nullable=False, comment='Tenant'),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user_account.id', ondelete='SET NULL'), nullable=True,
                  comment='Staff member who uploaded it'),
        sa.Column('kind', sa.String(length=20), nullable=False,
                  comment='invoices (CSV), bank_statement (camt XML/ZIP), einvoice (XML/PDF/ZIP)'),
        sa.Column('filename', sa.String(length=255), nullable=False, comment="The file's name as uploaded (shown, never used as a path)"),
        sa.Column('storage_key', sa.String(length=80), nullable=False, unique=True,
                  comment='Random file name under STORAGE_DIR/uploads/<merchant>/'),
        sa.Column('size', sa.Integer(), nullable=False, comment='Bytes'),
        sa.Column('status', sa.String(length=12), nullable=False,
                  comment='queued, running, done, rejected (bad content, nothing booked), failed (error)'),
        sa.Column('attempts', sa.Integer(), nullable=False, comment='How often a worker started it'),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True, comment='Lease start while a worker imports it'),
        sa.Column('claimed_by', sa.String(length=120), nullable=True, comment='Worker holding the lease'),
        sa.Column('result', JSON, nullable=True, comment='Counts of a finished import, e.g. {"created": 20}'),
        sa.Column('problems', JSON, nullable=True, comment='Bad lines or files: [{"where": 3, "messages": [...]}]'),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, comment='When it was uploaded'),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True, comment='When the import ended (any outcome)'),
        sa.CheckConstraint("kind IN ('invoices', 'bank_statement', 'einvoice')", name='kind_known'),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'rejected', 'failed')", name='status_known'),
    )
    op.create_index('ix_upload_job_queue', 'upload_job', ['status', 'created_at'])
    op.create_index('ix_upload_job_merchant', 'upload_job', ['merchant_id', 'created_at'])


def downgrade():
    op.drop_index('ix_upload_job_merchant', table_name='upload_job')
    op.drop_index('ix_upload_job_queue', table_name='upload_job')
    op.drop_table('upload_job')
