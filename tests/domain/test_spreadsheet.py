"""CSV cells a spreadsheet would run are neutralised; ZIP member names cannot escape."""
import csv
import io

import pytest

from portal.domain.spreadsheet import safe_cell, safe_zip_name, write_csv


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_a_spreadsheet_would_run_is_prefixed_with_an_apostrophe(lead):
    assert safe_cell(f"{lead}1+1") == f"'{lead}1+1"


def test_ordinary_cells_are_left_as_they_are():
    assert safe_cell("RE-2026-0001") == "RE-2026-0001"
    assert safe_cell(None) == ""
    assert safe_cell(12) == "12"


def test_write_csv_writes_a_bom_semicolons_and_neutralised_cells():
    text = write_csv([{"number": "=1+1", "name": "Jürgen"}], ["number", "name"])
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows == [["number", "name"], ["'=1+1", "Jürgen"]]


@pytest.mark.parametrize("number", ["../../x", "/etc/passwd", "a\x00b\nc", "..", "RE/2026\\07"])
def test_zip_names_never_leave_their_folder(number):
    name = safe_zip_name("letters", number, "1.pdf")
    assert name.startswith("letters/")
    segments = name.split("/")
    assert len(segments) == 3
    assert all(s and s not in (".", "..") and not s.startswith(".") for s in segments)
    assert not any(ord(ch) < 32 for ch in name)
