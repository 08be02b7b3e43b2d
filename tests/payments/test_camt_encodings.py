"""Statements in odd character encodings are read correctly or refused with a clear message
(CLI and back-office upload), never a 500; NUL bytes and lone surrogates are refused; ZIPs that
cannot be read (encrypted, unknown method, damaged, too large) are refused the same way."""
from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import select

from portal.domain.camt import CamtError
from portal.extensions import db
from portal.models import BankEntry, Invoice
from portal.payments.reconcile import import_statements
from portal.uploads import jobs
from tests.domain.test_ziparchive import patch_headers, zipped
from tests.factories import make_invoice, make_merchant, make_user
from tests.office.conftest import PASSWORD, csrf_from, sign_in
from tests.payments.camt_builder import entry, statement

TODAY = date(2026, 1, 20)
UTF8 = statement(entry("119.00", ref="A1", name="Jürgen Müller", text="Rechnung RE-1 Straße")).decode()


def declared(encoding: str, codec: str | None = None) -> bytes:
    return UTF8.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode(codec or encoding)


@pytest.fixture
def merchant(app):
    merchant = make_merchant("garden")
    make_invoice(merchant, "RE-1", amount="119.00")
    return merchant


def payer_and_text(merchant) -> tuple[str, str]:
    row = db.session.execute(select(BankEntry)).scalar_one()
    return row.debtor_name, row.remittance


@pytest.mark.parametrize("data", [
    declared("UTF-16", "utf-16"),  # with byte order mark
    declared("UTF-16LE", "utf-16-le"),  # without, recognised by its first bytes
    declared("UTF-16BE", "utf-16-be"),
    declared("ISO-8859-1", "latin-1"),
    declared("windows-1252", "cp1252"),
    declared("ISO-8859-15", "iso8859-15"),
    b"\xef\xbb\xbf" + UTF8.encode(),  # UTF-8 with a byte order mark
], ids=["utf16-bom", "utf16le", "utf16be", "latin1", "cp1252", "latin9", "utf8-bom"])
def test_a_statement_in_another_encoding_is_read_with_its_umlauts_and_books_the_payment(merchant, data):
    result = import_statements(merchant, data, "stmt.xml", actor="test", today=TODAY)
    assert result.total("booked") == 1
    assert payer_and_text(merchant) == ("Jürgen Müller", "Rechnung RE-1 Straße")
    assert db.session.execute(select(Invoice.status)).scalar_one() == "paid"


@pytest.mark.parametrize("data, message", [
    (declared("x-klingon", "utf-8"), "the file declares the character encoding 'x-klingon', which is unknown; "
                                     "export the statement again as UTF-8"),
    (declared("UTF-16", "utf-8"), "the file declares the character encoding 'UTF-16', but it is not written in it"),
    (declared("rot13", "utf-8"), "the file declares the character encoding 'rot13', but it is not written in it"),
    (UTF8.replace("Straße", "Stra\0ße").encode(), "the file contains a NUL byte (at byte "),
    (UTF8.replace("Straße", "Stra&#0;ße").encode(), "character reference to a character XML does not allow"),
    (UTF8.replace("Straße", "Stra&#xD800;ße").encode(), "character reference to a character XML does not allow"),
    (UTF8.replace("Straße", "Stra\ud800ße").encode("utf-8", "surrogatepass"), "the file is not valid UTF-8"),
    (UTF8.encode().replace("Müller".encode(), b"M\xfcller"), "the file is not valid UTF-8"),
    (declared("UTF-16", "utf-16").replace("Straße".encode("utf-16-le"), "Stra\ud800e".encode("utf-16-le", "surrogatepass")),
     "the file is not valid UTF-16 as its byte order mark says"),
    (declared("ISO-8859-1", "latin-1").replace(b"Stra", b"St\0a"), "the file contains a NUL character"),
], ids=["unknown", "utf16-lie", "not-text", "nul-byte", "nul-ref", "surrogate-ref", "surrogate-utf8", "latin1-undeclared",
        "surrogate-utf16", "nul-latin1"])
def test_an_unreadable_encoding_is_refused_with_a_clear_message_and_books_nothing(merchant, data, message):
    with pytest.raises(CamtError) as exc:
        import_statements(merchant, data, "stmt.xml", actor="test", today=TODAY)
    assert str(exc.value).startswith("stmt.xml: ") and message in str(exc.value)


def test_cli_refuses_an_unknown_encoding_and_a_nul_byte_clearly(runner, merchant, tmp_path):
    (tmp_path / "odd.xml").write_bytes(declared("x-klingon", "utf-8"))
    (tmp_path / "nul.xml").write_bytes(UTF8.replace("Straße", "Stra\0ße").encode())
    (tmp_path / "latin1.xml").write_bytes(declared("ISO-8859-1", "latin-1"))
    for name, expected in (("odd.xml", "character encoding 'x-klingon', which is unknown"),
                           ("nul.xml", "the file contains a NUL byte")):
        result = runner.invoke(args=["payments", "import-camt", str(tmp_path / name), "--merchant", "garden"])
        assert result.exit_code == 1
        assert f"Rejected, nothing booked: {name}: " in result.output and expected in result.output
        assert "Traceback" not in result.output
    ok = runner.invoke(args=["payments", "import-camt", str(tmp_path / "latin1.xml"), "--merchant", "garden"])
    assert ok.exit_code == 0 and "1 payment(s) booked" in ok.output


@pytest.mark.parametrize("data, message", [
    (declared("x-klingon", "utf-8"), "die unbekannt ist; bitte exportieren Sie den Kontoauszug erneut als UTF-8"),
    (UTF8.replace("Straße", "Stra\0ße").encode(), "Die Datei enthält ein NUL-Byte"),
    (patch_headers(zipped({"day.xml": UTF8.encode()}), flag=0x1), "Diese Datei ist verschlüsselt (mit Passwort geschützt)"),
    (patch_headers(zipped({"day.xml": UTF8.encode()}), method=9), "Diese Datei ist mit Deflate64 komprimiert"),
    (patch_headers(zipped({"day.xml": UTF8.encode()}), size=10), "Diese Datei ist beschädigt und lässt sich nicht entpacken"),
    (b"PK\x03\x04garbage" + b"\0" * 40, "Das ist keine lesbare ZIP-Datei."),
], ids=["unknown-encoding", "nul", "encrypted", "deflate64", "damaged", "not-a-zip"])
def test_the_upload_refuses_odd_files_and_the_job_page_says_why(client, app, data, message):
    merchant = make_merchant("alpha")
    user = make_user(merchant, "support@alpha.example", password=PASSWORD)
    sign_in(client, user.email)
    token = csrf_from(client.get("/office/payments").get_data(as_text=True))
    response = client.post("/office/payments/upload", data={"csrf_token": token, "statement": (io.BytesIO(data), "day.zip")},
                           content_type="multipart/form-data")
    assert response.status_code == 303  # queued; the worker imports it and records why it refused
    assert jobs.drain("test-worker") == 1
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert message in text and "Es wurde nichts importiert" in text
    assert db.session.execute(select(BankEntry)).first() is None


def test_a_utf16_statement_uploaded_in_the_back_office_is_booked(client, app):
    merchant = make_merchant("alpha")
    make_invoice(merchant, "RE-1", amount="119.00")
    user = make_user(merchant, "support@alpha.example", password=PASSWORD)
    sign_in(client, user.email)
    token = csrf_from(client.get("/office/payments").get_data(as_text=True))
    response = client.post("/office/payments/upload", content_type="multipart/form-data", data={
        "csrf_token": token, "statement": (io.BytesIO(declared("UTF-16", "utf-16")), "day.xml")})
    assert response.status_code == 303 and jobs.drain("test-worker") == 1
    assert db.session.execute(select(Invoice.status)).scalar_one() == "paid"
    assert db.session.execute(select(BankEntry.debtor_name)).scalar_one() == "Jürgen Müller"
