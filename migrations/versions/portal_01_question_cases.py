"""Questions from the portal become cases in the support queue: the case kind "question"

Revision ID: portal_01
Revises: analytics_01
"""
from alembic import op
import sqlalchemy as sa

revision = 'portal_01'
down_revision = 'analytics_01'
branch_labels = None
depends_on = None


def _kinds(batch, kinds: tuple[str, ...], comment: str) -> None:
    batch.drop_constraint(op.f('ck_support_case_kind_known'), type_='check')
    batch.create_check_constraint('kind_known', sa.text(f"kind IN {kinds}"))
    batch.alter_column('kind', existing_type=sa.String(length=10), existing_nullable=False, comment=comment)


def upgrade():
    with op.batch_alter_table('support_case') as batch:
        _kinds(batch, ("dispute", "plan", "promise", "question"), "dispute, plan, promise or question")


def downgrade():
    op.execute("DELETE FROM support_case WHERE kind = 'question'")
    with op.batch_alter_table('support_case') as batch:
        _kinds(batch, ("dispute", "plan", "promise"), "dispute, plan or promise")
