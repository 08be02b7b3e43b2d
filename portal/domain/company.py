"""What a business letter or email must state about the merchant, by legal form.

§ 37a HGB (e. K.), § 125a HGB (OHG, KG; for a GmbH & Co. KG also the personally liable
partner, § 125a (1) sentence 2, § 177a HGB), § 35a GmbHG (GmbH, UG: all managing directors)
and § 80 AktG (AG: all members of the management board and the chair of the supervisory
board): legal form, registered office (Sitz), register court and number, and the people
named. The VAT ID is printed where the merchant has one (§ 14 UStG asks for it on invoices;
on reminders it is a courtesy). Flask-free: labels are translated at the edge.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# key: (German abbreviation for the footer, what the register entry needs)
LEGAL_FORMS = {
    "sole": ("Einzelunternehmen", ()),
    "gbr": ("GbR", ()),
    "ek": ("e. K.", ("registered_office", "register_court", "register_number")),
    "ohg": ("OHG", ("registered_office", "register_court", "register_number")),
    "kg": ("KG", ("registered_office", "register_court", "register_number")),
    "gmbh_co_kg": ("GmbH & Co. KG", ("registered_office", "register_court", "register_number", "general_partner")),
    "gmbh": ("GmbH", ("registered_office", "register_court", "register_number", "managing_directors")),
    "ug": ("UG (haftungsbeschränkt)", ("registered_office", "register_court", "register_number", "managing_directors")),
    "ag": ("AG", ("registered_office", "register_court", "register_number", "managing_directors", "supervisory_chair")),
    "other": ("", ()),
}
FIELDS = ("registered_office", "register_court", "register_number", "managing_directors", "general_partner",
          "supervisory_chair", "vat_id")


def required_fields(legal_form: str | None) -> tuple[str, ...]:
    return LEGAL_FORMS.get(legal_form or "", ("", ()))[1]


def missing_fields(legal_form: str | None, values: dict) -> list[str]:
    """The fields the legal form needs that are empty, in form order."""
    return [f for f in required_fields(legal_form) if not (values.get(f) or "").strip()]


_VAT = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,12}$")


def normal_vat_id(value: str | None) -> str | None:
    """`DE 123 456 789` → `DE123456789`; None when empty. Raises ValueError when it cannot be one."""
    if not value or not value.strip():
        return None
    compact = re.sub(r"[\s.-]", "", value).upper()
    if not _VAT.match(compact):
        raise ValueError(compact)
    if compact.startswith("DE"):
        from stdnum.de import vat

        if not vat.is_valid(compact):
            raise ValueError(compact)
    return compact


@dataclass(frozen=True)
class CompanyDetails:
    """The statements in the order they are printed; `people_label` names the board for the form."""

    registered_office: str | None
    register: str | None
    people: str | None
    people_is_board: bool  # AG: Vorstand, else Geschäftsführung
    general_partner: str | None
    supervisory_chair: str | None
    vat_id: str | None

    @property
    def any(self) -> bool:
        return any((self.registered_office, self.register, self.people, self.general_partner, self.supervisory_chair,
                    self.vat_id))


def details(merchant) -> CompanyDetails:
    """What the merchant's footer states (whatever is on file, whether or not its form requires it)."""
    register = ", ".join(p for p in ((merchant.register_court or "").strip(), (merchant.register_number or "").strip()) if p)
    return CompanyDetails(
        registered_office=(merchant.registered_office or "").strip() or None,
        register=register or None,
        people=(merchant.managing_directors or "").strip() or None,
        people_is_board=merchant.legal_form == "ag",
        general_partner=(merchant.general_partner or "").strip() or None,
        supervisory_chair=(merchant.supervisory_chair or "").strip() or None,
        vat_id=merchant.vat_id or None,
    )
