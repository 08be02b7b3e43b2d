"""A stored name split for the collection agency's file: salutation, title, first and last name."""
import pytest

from portal.domain.names import split_name


@pytest.mark.parametrize("name, parts", [
    ("Max Mustermann", ("", "", "Max", "Mustermann")),
    ("Frau Dr. Erika Mustermann", ("Frau", "Dr.", "Erika", "Mustermann")),
    ("Herrn Prof. Dr. Hans-Peter Müller", ("Herr", "Prof. Dr.", "Hans-Peter", "Müller")),
    ("Anna Maria von der Heide", ("", "", "Anna Maria", "von der Heide")),
    ("von Bülow", ("", "", "", "von Bülow")),
    ("Meier", ("", "", "", "Meier")),
    ("", ("", "", "", "")),
])
def test_a_name_splits_into_salutation_title_first_and_last_name(name, parts):
    p = split_name(name)
    assert (p.salutation, p.title, p.first_name, p.last_name) == parts
