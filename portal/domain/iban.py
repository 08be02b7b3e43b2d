"""Bank account validation: IBAN (checksum and national format, via schwifty) and BIC."""
from __future__ import annotations

from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException


class BankAccountError(ValueError):
    """An IBAN or BIC that is not valid; `reason` says what is wrong for messages people read:
    checksum, length, country, format, bank_code (with `bank_code`) or bic (`field` is then "bic")."""

    def __init__(self, message: str, reason: str = "format", *, field: str = "iban", bank_code: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.bank_code = bank_code


def _reason(exc: SchwiftyException) -> str:
    from schwifty import exceptions as e

    if isinstance(exc, e.InvalidChecksumDigits):
        return "checksum"
    if isinstance(exc, e.InvalidLength):
        return "length"
    if isinstance(exc, e.InvalidCountryCode):
        return "country"
    return "format"


@dataclass(frozen=True)
class BankAccount:
    iban: str  # compact, upper case
    bic: str | None

    @property
    def iban_grouped(self) -> str:
        return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))


# Countries whose complete register of bank codes schwifty ships (Deutsche Bundesbank's
# Bankleitzahlen file): an IBAN naming a bank code that is not in it cannot be right.
_COMPLETE_BANK_REGISTERS = frozenset({"DE"})


def validate_bank_account(iban: str, bic: str | None = None) -> BankAccount:
    """The account in compact form; BankAccountError for a wrong checksum, format or bank code.

    The mod-97 checksum catches every single-digit typo; the national checks
    (`validate_bban`) and the bank register catch what it cannot, such as a bank code
    that does not exist.
    """
    try:
        parsed = IBAN(iban, validate_bban=True)
    except SchwiftyException as exc:
        raise BankAccountError(f"invalid IBAN: {exc}", _reason(exc)) from None
    if parsed.country_code in _COMPLETE_BANK_REGISTERS and parsed.bank is None:
        raise BankAccountError(f"invalid IBAN: unknown bank code {parsed.bank_code}", "bank_code", bank_code=parsed.bank_code)
    bic_value = None
    if bic:
        try:
            bic_value = str(BIC(bic.replace(" ", "")))
        except SchwiftyException as exc:
            raise BankAccountError(f"invalid BIC: {exc}", "bic", field="bic") from None
    else:
        try:
            found = parsed.bic
            bic_value = str(found) if found else None
        except SchwiftyException:
            bic_value = None
    return BankAccount(parsed.compact, bic_value)


def group(iban: str) -> str:
    """Groups of four, as printed: "DE89 3704 0044 0532 0130 00"."""
    return BankAccount("".join(iban.split()).upper(), None).iban_grouped
