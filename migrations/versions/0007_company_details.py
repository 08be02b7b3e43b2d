"""merchant company details for letters and emails

§ 37a HGB, § 125a HGB, § 35a GmbHG and § 80 AktG: legal form, registered office, register
court and number, managing directors (AG: management board and supervisory board chair),
the personally liable partner of a GmbH & Co. KG, and the VAT ID. All optional in the
schema; the settings form requires what the chosen legal form needs.

Revision ID: 0007_company_details
Revises: 0006
Create Date: 2026-12-02 07:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0007_company_details'
down_revision = '0006'
branch_labels = None
depends_on = None

COLUMNS = [
    ("legal_form", 20, "Legal form (portal/domain/company.py LEGAL_FORMS): sole, gbr, ek, ohg, kg, gmbh_co_kg, gmbh, ug, ag, other"),
    ("registered_office", 100, "Registered office (Sitz) for letters and emails"),
    ("register_court", 100, "Register court, e.g. Amtsgericht Stuttgart"),
    ("register_number", 40, "Commercial register number, e.g. HRB 12345"),
    ("managing_directors", 300, "All managing directors (AG: management board), comma-separated"),
    ("general_partner", 300, "GmbH & Co. KG: the personally liable partner with its office, register and directors"),
    ("supervisory_chair", 120, "AG: chair of the supervisory board"),
    ("vat_id", 20, "VAT identification number (USt-IdNr.), compact"),
]


def upgrade():
    with op.batch_alter_table('merchant') as batch_op:
        for name, length, comment in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True, comment=comment))


def downgrade():
    with op.batch_alter_table('merchant') as batch_op:
        for name, _length, _comment in reversed(COLUMNS):
            batch_op.drop_column(name)
