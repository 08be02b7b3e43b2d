"""Bank account validation: IBAN (checksum and national format, via schwifty) and BIC."""
from __future__ import annotations

from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException


class BankAccountError(ValueError):
    """An IBAN or BIC that is not valid."""


@dataclass(frozen=True)
class BankAccount:
    iban: str  # compact, upper case
    bic: str | None

    @property
    def iban_grouped(self) -> str:
        return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))


def validate_bank_account(iban: str, bic: str | None = None) -> BankAccount:
    try:
        parsed = IBAN(iban)
    except SchwiftyException as exc:
        raise BankAccountError(f"invalid IBAN: {exc}") from None
    bic_value = None
    if bic:
        try:
            bic_value = str(BIC(bic.replace(" ", "")))
        except SchwiftyException as exc:
            raise BankAccountError(f"invalid BIC: {exc}") from None
    else:
        try:
            found = parsed.bic
            bic_value = str(found) if found else None
        except SchwiftyException:
            bic_value = None
    return BankAccount(parsed.compact, bic_value)


def group(iban: str) -> str:
    return BankAccount(iban, None).iban_grouped
