"""ISO 11649 creditor references: what intake assigns and what the bank matcher finds in free text."""
import pytest
from stdnum import iso11649

from portal.domain import rf


def test_a_made_reference_is_valid_according_to_python_stdnum():
    reference = rf.make("539007547034")
    assert reference == "RF18539007547034"  # the example of the standard
    assert iso11649.is_valid(reference)


def test_fresh_references_are_valid_unique_and_free_of_letters_read_as_digits():
    references = {rf.new() for _ in range(500)}
    assert len(references) == 500
    for reference in references:
        assert iso11649.is_valid(reference)
        assert len(reference) == 16
        assert not set(reference[4:]) & {"I", "O"}


@pytest.mark.parametrize("body", ["", "ABC-1", "X" * 22])
def test_a_body_that_cannot_be_a_reference_is_refused(body):
    with pytest.raises(ValueError):
        rf.make(body)


def test_is_valid_ignores_spaces_and_case_and_checks_the_digits():
    assert rf.is_valid("rf18 5390 0754 7034")
    assert not rf.is_valid("RF19 5390 0754 7034")


def test_pretty_prints_groups_of_four():
    assert rf.pretty("rf18539007547034") == "RF18 5390 0754 7034"


def test_find_in_text_finds_a_reference_written_in_groups_and_lower_case():
    text = "Überweisung rf18 5390 0754 7034 Rechnung vom 1.12. danke"
    assert rf.find_in_text(text) == ["RF18539007547034"]


def test_find_in_text_finds_a_reference_written_as_one_word_next_to_punctuation():
    assert rf.find_in_text("Verwendungszweck:RF18539007547034, Kd.-Nr. 4711") == ["RF18539007547034"]


def test_find_in_text_rejects_a_reference_with_wrong_check_digits():
    assert rf.find_in_text("Überweisung RF19 5390 0754 7034 danke") == []
    assert rf.find_in_text("RF19539007547034") == []


def test_find_in_text_does_not_swallow_the_words_that_follow_a_reference():
    for _ in range(300):
        reference = rf.new()
        assert reference in rf.find_in_text(f"Zahlung {rf.pretty(reference)} Rechnung 4711 danke")
        assert reference in rf.find_in_text(f"Zahlung {rf.pretty(reference)} 4711")


def test_find_in_text_finds_every_reference_once():
    a, b = rf.make("4711"), rf.make("RE20250001")
    assert rf.find_in_text(f"{a} und {b}, nochmals {a.lower()}") == [a, b]


def test_find_in_text_on_empty_text_finds_nothing():
    assert rf.find_in_text("") == []
    assert rf.find_in_text(None) == []
