"""Bulk intake from CSV: German Excel files, all-or-nothing with every bad line reported, repeats create nothing."""
from __future__ import annotations

import tracemalloc
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.domain import rf
from portal.extensions import db
from portal.intake.csv_import import ImportRejected, import_csv
from portal.models import Debtor, Event, Invoice
from tests.factories import make_invoice, make_merchant
from tests.intake.csv_files import GERMAN_ROWS, HEADER, german_excel, many_rows

TODAY = date(2026, 1, 20)


@pytest.fixture
def merchant(app):
    return make_merchant()


def run(raw: bytes, merchant):
    result = import_csv(raw, merchant, today=TODAY, actor="import:test.csv")
    db.session.commit()
    return result


def rejected(raw: bytes, merchant) -> list[str]:
    with pytest.raises(ImportRejected) as exc:
        import_csv(raw, merchant, today=TODAY, actor="import:test.csv")
    db.session.rollback()
    return [str(e) for e in exc.value.errors]


def count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def test_a_german_excel_file_imports_with_correct_amounts_dates_and_umlauts(merchant):
    raw = german_excel(GERMAN_ROWS)
    assert "ß".encode("cp1252") in raw and b"\xc3" not in raw  # really Windows-1252, not UTF-8
    result = run(raw, merchant)
    assert (result.created, result.unchanged, result.debtors_created) == (4, 0, 3)
    invoices = {i.number: i for i in db.session.execute(select(Invoice)).scalars()}
    assert invoices["RE-2025-0101"].amount_minor == 123456
    assert invoices["RE-2025-0102"].amount_minor == 4990
    assert invoices["RE-2025-0104"].amount_minor == 1234560
    assert invoices["RE-2025-0101"].issue_date == date(2025, 12, 1)
    assert invoices["RE-2025-0101"].due_date == date(2025, 12, 15)
    assert invoices["RE-2025-0103"].currency == "EUR"  # blank currency means EUR
    assert all(i.open_minor == i.amount_minor and i.status == "open" for i in invoices.values())
    assert all(rf.is_valid(i.rf_reference) for i in invoices.values())
    assert len({i.rf_reference for i in invoices.values()}) == 4
    debtors = {d.external_ref: d for d in db.session.execute(select(Debtor)).scalars()}
    assert debtors["K-2001"].name == "Jürgen Weiß"
    assert debtors["K-2001"].street == "Königstraße 1"
    assert debtors["K-2001"].phone == "+491701234567"
    assert debtors["G-3001"].company == "Müller & Söhne GmbH"
    assert debtors["G-3001"].kind == "business"
    assert debtors["K-2002"].name == "Zoë Çelik-Öztürk"
    assert debtors["K-2002"].city == "München"
    assert debtors["K-2002"].country == "DE"
    assert invoices["RE-2025-0101"].debtor_id == invoices["RE-2025-0103"].debtor_id


def test_every_imported_invoice_is_on_the_timeline(merchant):
    run(german_excel(GERMAN_ROWS), merchant)
    assert db.session.scalar(select(func.count(Event.id)).where(Event.kind == "invoice.created")) == 4
    summary = db.session.execute(select(Event).where(Event.kind == "import.completed")).scalar_one()
    assert summary.actor == "import:test.csv"
    assert summary.data == {"created": 4, "unchanged": 0, "rows": 4}


def test_a_utf8_file_with_bom_and_commas_imports(merchant):
    raw = (
        "\ufeffNumber,Issue Date,Due Date,Amount,Currency,Debtor_Ref,Name,Email,City,Extra\n"
        'RE-1,2025-12-01,2025-12-15,119.00,EUR,K-1,"Weiß, Jürgen",j@example.de,Köln,ignored\n'
        'RE-2,2025-12-01,2025-12-15,"1,234.56",CHF,K-2,Ærøskøbing Ltd,,Zürich,\n'
    ).encode("utf-8")
    result = run(raw, merchant)
    assert result.created == 2
    one = db.session.execute(select(Invoice).where(Invoice.number == "RE-1")).scalar_one()
    assert one.amount_minor == 11900
    assert one.debtor.name == "Weiß, Jürgen"
    assert one.debtor.city == "Köln"
    two = db.session.execute(select(Invoice).where(Invoice.number == "RE-2")).scalar_one()
    assert (two.amount_minor, two.currency, two.debtor.city) == (123456, "CHF", "Zürich")


def test_a_file_with_bad_lines_imports_nothing_and_reports_every_one_with_its_line(merchant):
    raw = german_excel(
        [
            # line 2 and 3: one record, a quoted street with a line break
            'RE-1;01.12.2025;15.12.2025;10,00;EUR;K-1;person;Anna Alt;;;;;"Hauptstraße 5\r\nHinterhaus";70173;Stuttgart;DE',
            "RE-2;01.12.2025;15.12.2025;zehn;EUR;K-2;person;Bernd Bau;;;;;;;;",  # line 4
            "RE-3;31.02.2025;15.12.2025;10,00;EUR;K-3;person;Clara Chor;;;;;;;;",  # line 5
            "RE-4;01.12.2025;15.11.2025;10,00;EUR;K-4;person;Dora Dach;;kaputt;;;;;;",  # line 6
            "",  # line 7: empty lines are skipped, not counted as errors
            "RE-5;01.12.2025;15.12.2025;10,0001;EUR;K-5;business;Emil Eck;;;;;;;;",  # line 8
            "RE-6;01.12.2025;15.12.2025;10,00;XYZ;;person;;;;;;;;;",  # line 9
            "RE-7;01.12.2025;15.12.2025;10,00;EUR;K-7;person;Fritz Fuchs;;;;;;;;",  # line 10: fine
        ]
    )
    errors = rejected(raw, merchant)
    assert errors == [
        "line 4: amount: is not an amount",
        "line 5: issue_date: is not a valid date",
        "line 6: due_date: must not be before issue_date; email: is not a valid email address",
        "line 8: amount: has more than 2 decimal places for EUR; company: is required for business debtors",
        "line 9: currency: must be an ISO 4217 currency code such as EUR; debtor_ref: is required; name: is required",
    ]
    assert count(Invoice) == count(Debtor) == count(Event) == 0


@pytest.mark.parametrize("amount", ["1,234", "10.001", "-1,500"])
def test_an_amount_that_reads_differently_in_german_and_english_is_a_bad_line(merchant, amount):
    row = GERMAN_ROWS[0].replace("1.234,56", amount)
    assert rejected(german_excel([row]), merchant) == ["line 2: amount: is ambiguous: write 1234, 1.234,00 or 1,234.00"]


@pytest.mark.parametrize("amount, minor", [("1.234,00", 123400), ("1,234.00", 123400), ("1234", 123400), ("1,5", 150), ("0,99", 99)])
def test_unambiguous_spreadsheet_amounts_are_read_exactly(merchant, amount, minor):
    run(german_excel([GERMAN_ROWS[0].replace("1.234,56", amount)]), merchant)
    assert db.session.scalar(select(Invoice.amount_minor)) == minor


def test_reimporting_the_same_file_creates_nothing(merchant):
    raw = german_excel(GERMAN_ROWS)
    run(raw, merchant)
    before = (count(Invoice), count(Debtor))
    again = run(raw, merchant)
    assert (again.created, again.unchanged, again.debtors_created, again.debtors_updated) == (0, 4, 0, 0)
    assert (count(Invoice), count(Debtor)) == before


def test_a_reimport_with_new_contact_details_updates_the_debtor(merchant):
    run(german_excel(GERMAN_ROWS), merchant)
    changed = [row.replace("juergen.weiss@example.de", "jw@example.de") for row in GERMAN_ROWS]
    result = run(german_excel(changed), merchant)
    assert (result.created, result.debtors_updated) == (0, 1)
    debtor = db.session.execute(select(Debtor).where(Debtor.external_ref == "K-2001")).scalar_one()
    assert debtor.email == "jw@example.de"


def test_a_number_that_exists_with_different_content_is_a_bad_line(merchant):
    make_invoice(merchant, "RE-2025-0102")
    errors = rejected(german_excel(GERMAN_ROWS), merchant)
    assert errors == ["line 3: number: invoice RE-2025-0102 already exists with different content"]
    assert count(Invoice) == 1


def test_a_number_repeated_within_the_file_with_different_content_is_a_bad_line(merchant):
    rows = [GERMAN_ROWS[0], GERMAN_ROWS[0].replace("1.234,56", "1.234,57")]
    assert rejected(german_excel(rows), merchant) == [
        "line 3: number: RE-2025-0101 appears on line 2 with different content"
    ]


def test_a_number_repeated_within_the_file_with_the_same_content_is_imported_once(merchant):
    assert run(german_excel([GERMAN_ROWS[0], GERMAN_ROWS[0]]), merchant).created == 1
    assert count(Invoice) == 1


def test_a_missing_required_column_is_reported(merchant):
    header = HEADER.replace("due_date;", "").replace(";name;", ";customer;")
    rows = [row.replace(";15.12.2025", "", 1) for row in GERMAN_ROWS]
    assert rejected(german_excel(rows, header), merchant) == ["line 1: missing column(s): due_date, name"]


def test_a_line_with_more_fields_than_the_header_is_reported(merchant):
    assert rejected(german_excel([GERMAN_ROWS[0] + ";surplus"]), merchant) == ["line 2: 17 fields but the header has 16"]


def test_an_empty_file_is_reported(merchant):
    assert rejected(b"", merchant) == ["line 1: the file is empty"]


def test_bytes_that_are_no_text_are_reported_with_their_line(merchant):
    raw = german_excel(GERMAN_ROWS[:2]) + b"RE-9;\x81\x8d;\r\n"
    assert rejected(raw, merchant) == ["line 4: byte 0x81 is neither UTF-8 nor Windows-1252 text"]


def test_optional_columns_order_ref_and_date_of_birth_are_read(merchant):
    raw = german_excel(
        ["RE-1;01.12.2025;15.12.2025;10,00;B-77;K-1;Anna Alt;31.01.1950"],
        header="number;issue_date;due_date;amount;order_ref;debtor_ref;name;date_of_birth",
    )
    run(raw, merchant)
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert invoice.order_ref == "B-77"
    assert invoice.debtor.date_of_birth == date(1950, 1, 31)


def test_an_invoice_created_by_the_api_and_reimported_by_csv_is_recognised_as_the_same(merchant):
    make_invoice(
        merchant,
        "RE-2025-0102",
        issue_date="2025-12-02",
        due_date="2025-12-16",
        amount="49.90",
        lines=[],
        debtor={"external_ref": "G-3001", "kind": "business", "company": "Müller & Söhne GmbH"},
    )
    result = run(german_excel(GERMAN_ROWS), merchant)
    assert (result.created, result.unchanged) == (3, 1)


def test_another_merchants_invoices_do_not_clash(merchant):
    make_invoice(make_merchant(), "RE-2025-0101")
    assert run(german_excel(GERMAN_ROWS), merchant).created == 4


def test_new_and_changed_debtors_are_recorded_on_the_timeline(merchant):
    run(german_excel(GERMAN_ROWS), merchant)
    assert db.session.scalar(select(func.count(Event.id)).where(Event.kind == "debtor.created")) == 3
    run(german_excel([row.replace("Königstraße 1", "Königstraße 2") for row in GERMAN_ROWS]), merchant)
    updated = db.session.execute(select(Event).where(Event.kind == "debtor.updated")).scalar_one()
    assert updated.data == {"changed": {"street": ["Königstraße 1", "Königstraße 2"]}}
    assert updated.actor == "import:test.csv"


def test_kind_is_read_regardless_of_case(merchant):
    run(german_excel([GERMAN_ROWS[1].replace(";business;", ";Business;")]), merchant)
    assert db.session.execute(select(Debtor)).scalar_one().kind == "business"


def test_progress_is_reported_for_checking_and_writing(merchant):
    seen = []

    def progress(items, length, label):
        seen.append((label, length))
        return items

    import_csv(german_excel(GERMAN_ROWS), merchant, today=TODAY, actor="import:test.csv", progress=progress)
    assert seen == [("Checking", 4), ("Writing", 1)]


def test_a_file_with_old_mac_line_endings_imports_with_right_line_numbers(merchant):
    raw = german_excel(GERMAN_ROWS[:2]).replace(b"\r\n", b"\r")
    assert run(raw, merchant).created == 2
    bad = german_excel(["RE-9;x;15.12.2025;1,00;EUR;K-9;person;Anna;;;;;;;;"]).replace(b"\r\n", b"\r")
    assert rejected(bad, merchant) == ["line 2: issue_date: must be a date (YYYY-MM-DD)"]


def test_a_file_without_a_final_line_break_imports_its_last_line(merchant):
    raw = german_excel(GERMAN_ROWS).rstrip(b"\r\n")
    assert run(raw, merchant).created == 4


def traced_peak(path, merchant) -> tuple[int, object]:
    """Peak Python memory (tracemalloc) of importing the file at `path`, and the result."""
    tracemalloc.start()
    try:
        result = import_csv(path, merchant, today=TODAY, actor="import:big.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    db.session.rollback()
    return peak, result


def test_a_big_file_is_imported_in_memory_that_does_not_grow_with_its_rows(merchant, tmp_path):
    # Holding every parsed row until the write (as the import used to) costs about 2 KB a line:
    # 15,000 more lines would add some 30 MB. Streamed, a line leaves only its invoice number with
    # its first line and fingerprint behind (the rows wait in a temporary file): under 300 bytes.
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small.write_bytes(german_excel(many_rows(5_000, debtors=1_000)))
    big.write_bytes(german_excel(many_rows(20_000, debtors=1_000)))
    small_peak, small_result = traced_peak(small, merchant)
    big_peak, big_result = traced_peak(big, merchant)
    assert (small_result.created, big_result.created, big_result.debtors_created) == (5_000, 20_000, 1_000)
    per_line = (big_peak - small_peak) / 15_000
    assert per_line < 300, f"{per_line:.0f} bytes per additional line"


def test_a_bad_line_at_the_end_of_a_big_file_rejects_all_of_it_and_every_bad_line_is_listed(merchant, tmp_path):
    make_invoice(merchant, "RE-0029990")  # booked before, with other content than the file's line 29,991
    rows = many_rows(30_000)
    rows[3] = rows[3].replace("Jürgen Weiß 4", "")  # line 5: no name
    rows[-2] = rows[0].replace(";EUR;", ";CHF;")  # line 30,000: line 2's number with other content
    rows[-1] = rows[-1].replace("01.12.2025", "31.11.2025")  # line 30,001, the last one
    path = tmp_path / "rechnungen.csv"
    path.write_bytes(german_excel(rows))
    with pytest.raises(ImportRejected) as exc:
        import_csv(path, merchant, today=TODAY, actor="import:rechnungen.csv")
    db.session.rollback()
    assert [str(e) for e in exc.value.errors] == [
        "line 5: name: is required",
        "line 29991: number: invoice RE-0029990 already exists with different content",
        "line 30000: number: RE-0000001 appears on line 2 with different content",
        "line 30001: issue_date: is not a valid date",
    ]
    assert (count(Invoice), count(Debtor)) == (1, 1)
    assert db.session.scalar(select(func.count(Event.id)).where(Event.kind == "invoice.created")) == 1


def test_a_big_file_read_from_its_path_books_what_its_bytes_would(merchant, tmp_path):
    rows = many_rows(12_000, debtors=5_000)
    rows.append(rows[10].replace("kunde11@", "neu11@"))  # a repeat with new contact details: the last row wins
    path = tmp_path / "rechnungen.csv"
    path.write_bytes(german_excel(rows))
    result = run(path, merchant)
    assert (result.created, result.unchanged, result.debtors_created, result.rows) == (12_000, 0, 5_000, 12_001)
    debtor = db.session.execute(select(Debtor).where(Debtor.external_ref == "K-000011")).scalar_one()
    assert debtor.email == "neu11@example.de"
    assert db.session.scalar(select(func.count(Event.id)).where(Event.kind == "debtor.created")) == 5_000
    again = run(german_excel(rows), merchant)
    assert (again.created, again.unchanged, again.debtors_updated) == (0, 12_000, 0)
