"""Bank accounts: IBANs are checked with schwifty (checksum, national format, bank register)."""
import pytest

from portal.domain.iban import BankAccountError, group, validate_bank_account

VALID_DE = "DE89370400440532013000"


def test_a_valid_german_iban_is_accepted_in_compact_form_and_gets_its_bic():
    account = validate_bank_account("de89 3704 0044 0532 0130 00")
    assert account.iban == VALID_DE
    assert account.bic == "COBADEFFXXX"


def test_one_wrong_digit_is_rejected():
    with pytest.raises(BankAccountError):
        validate_bank_account("DE89370400440532013001")


def test_a_german_iban_naming_a_bank_code_that_does_not_exist_is_rejected():
    # Checksum correct (computed for the made-up bank code 12345678), bank unknown.
    with pytest.raises(BankAccountError, match="bank code"):
        validate_bank_account("DE65123456780532013000")


def test_a_wrong_length_is_rejected():
    with pytest.raises(BankAccountError):
        validate_bank_account("DE8937040044053201300")


def test_an_explicit_bic_is_validated_and_kept():
    assert validate_bank_account(VALID_DE, "COBA DEFF XXX").bic == "COBADEFFXXX"
    with pytest.raises(BankAccountError):
        validate_bank_account(VALID_DE, "NOTABIC")


def test_foreign_ibans_are_accepted():
    assert validate_bank_account("GB33BUKB20201555555555").iban == "GB33BUKB20201555555555"


def test_ibans_print_in_groups_of_four():
    assert group(VALID_DE) == "DE89 3704 0044 0532 0130 00"
    assert validate_bank_account(VALID_DE).iban_grouped == "DE89 3704 0044 0532 0130 00"
    assert group("de89 370400440532013000") == "DE89 3704 0044 0532 0130 00"
