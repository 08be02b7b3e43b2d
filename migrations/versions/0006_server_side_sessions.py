"""sessions that end on the server: staff sessions stored, ended debtor portal sessions recorded

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'staff_session',
        sa.Column('id', sa.String(length=64), nullable=False, comment='SHA-256 (hex) of the session token in the cookie'),
        sa.Column('user_id', sa.Integer(), nullable=False, comment='Who signed in'),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, comment='When the session began (sign-in)'),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_staff_session_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_session')),
    )
    op.create_index(op.f('ix_staff_session_user_id'), 'staff_session', ['user_id'], unique=False)
    op.create_table(
        'portal_session_end',
        sa.Column('id', sa.String(length=64), nullable=False, comment="SHA-256 (hex) of the ended session's id"),
        sa.Column('debtor_id', sa.Integer(), nullable=False, comment='Whose session it was'),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False,
                  comment='When the debtor left; rows older than the session lifetime are dropped'),
        sa.ForeignKeyConstraint(['debtor_id'], ['debtor.id'], name=op.f('fk_portal_session_end_debtor_id_debtor'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_session_end')),
    )
    op.create_index(op.f('ix_portal_session_end_debtor_id'), 'portal_session_end', ['debtor_id'], unique=False)
    op.create_index(op.f('ix_portal_session_end_ended_at'), 'portal_session_end', ['ended_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_portal_session_end_ended_at'), table_name='portal_session_end')
    op.drop_index(op.f('ix_portal_session_end_debtor_id'), table_name='portal_session_end')
    op.drop_table('portal_session_end')
    op.drop_index(op.f('ix_staff_session_user_id'), table_name='staff_session')
    op.drop_table('staff_session')
