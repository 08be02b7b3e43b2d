"""Bank statement problems on the upload page read fully in the merchant's language: the file,
the statement and entry, and the problem itself, in German for German users, in English otherwise."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from flask import g

from portal.domain import camt
from portal.extensions import db
from portal.uploads import jobs
from portal.uploads.camt_messages import explain
from tests.factories import make_user
from tests.office.conftest import PASSWORD, sign_in
from tests.office.test_uploads import upload
from tests.payments.camt_builder import entry, statement


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# (file as uploaded, upload name, what a German reader sees, what an English reader sees)
CASES = {
    "bad amount": (statement(entry("12,50")), "auszug.xml",
                   "Kontoauszug STMT-1, Buchung 1: „12,50“ ist kein Betrag.",
                   "Statement STMT-1, entry 1: “12,50” is not an amount."),
    "bad direction": (statement(entry("12.50", direction="CRED")), "auszug.xml",
                      "Kontoauszug STMT-1, Buchung 1: Die Richtung (CdtDbtInd) muss CRDT oder DBIT sein, nicht 'CRED'.",
                      "Statement STMT-1, entry 1: the direction (CdtDbtInd) must be CRDT or DBIT, not 'CRED'."),
    "too precise": (statement(entry("12.505")), "auszug.xml",
                    "Kontoauszug STMT-1, Buchung 1: EUR-Beträge haben höchstens 2 Nachkommastellen.",
                    "Statement STMT-1, entry 1: EUR amounts have at most 2 decimal places."),
    "bad date": (statement(entry("12.50", booked="15.01.2026")), "auszug.xml",
                 "Kontoauszug STMT-1, Buchung 1: „15.01.2026“ ist kein Datum.",
                 "Statement STMT-1, entry 1: “15.01.2026” is not a date."),
    "dtd": (b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY x "y">]><Document/>', "auszug.xml",
            "Abgelehnt: Die Datei deklariert eine DTD oder Entitäten; ein Kontoauszug darf das nicht enthalten.",
            "Refused: the file declares a DTD or entities, which a bank statement must not contain."),
    "not camt": (b'<?xml version="1.0"?><Document xmlns="urn:example"><x/></Document>', "auszug.xml",
                 "Das ist kein Kontoauszug im Format camt.053 oder camt.054",
                 "This is not a camt.053 or camt.054 bank statement"),
    "broken xml": (statement(entry("12.50"))[:-20], "auszug.xml",
                   "Das ist kein wohlgeformtes XML (", "This is not well-formed XML ("),
    "unknown encoding": (b'<?xml version="1.0" encoding="klingon"?><Document/>', "auszug.xml",
                         "Die Datei gibt die Zeichenkodierung „klingon“ an, die unbekannt ist; bitte exportieren Sie den "
                         "Kontoauszug erneut als UTF-8.",
                         "The file declares the character encoding “klingon”, which is unknown"),
    "zip without statement": (zipped({"readme.txt": b"hello"}), "auszuege.zip",
                              "Die ZIP-Datei enthält keinen Kontoauszug (.xml-Datei).",
                              "The ZIP holds no bank statement (.xml file)."),
    "bad entry in zip": (zipped({"nov.xml": statement(entry("-5.00"))}), "auszuege.zip",
                         "Kontoauszug STMT-1, Buchung 1: Der Betrag ist negativ",
                         "Statement STMT-1, entry 1: the amount is negative"),
}

ENGLISH_WORDS = re.compile(r"\b(is|not|the|file|amount|missing|must|statement|entry|declares|holds)\b")


def problems_on(client, raw: bytes, name: str) -> tuple[list[str], list[str]]:
    job_url = upload(client, raw, name=name, kind="bank_statement", field="statement").headers["Location"]
    assert jobs.drain("test-worker") == 1
    page = client.get(job_url).get_data(as_text=True)
    files = re.findall(r'<td data-label="[^"]*">([^<]*)</td>\s*<td data-label=', page)
    problems = re.findall(r'<span class="problem">([^<]*)</span>', page)
    import html

    return [html.unescape(f) for f in files], [html.unescape(p) for p in problems]


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_statement_reads_in_german_with_its_file(signed_in, merchant_a, case):
    raw, name, german, _ = CASES[case]
    files, problems = problems_on(signed_in, raw, name)
    assert len(problems) == 1 and problems[0].startswith(german), problems
    words = ENGLISH_WORDS.findall(re.sub(r"\(.*\)", "", problems[0]))  # a libxml2 detail in parentheses may stay
    assert not words, (problems[0], words)
    assert files[0].startswith(name)  # the file (or ZIP member) sits in its own column, not in the sentence
    if name.endswith(".zip") and case != "zip without statement":
        assert files[0] == f"{name}/nov.xml"


@pytest.mark.parametrize("case", ["bad amount", "bad entry in zip", "dtd", "zip without statement"])
def test_the_same_problems_read_in_english_for_an_english_speaking_user(client, merchant_a, case):
    user = make_user(merchant_a, "en@alpha.example", password=PASSWORD)
    user.language = "en"
    db.session.commit()
    sign_in(client, user.email)
    raw, name, _, english = CASES[case]
    _, problems = problems_on(client, raw, name)
    assert len(problems) == 1 and problems[0].startswith(english), problems


# Every text camt, the ZIP reader and the reconciliation raise, as they raise it (file prefixes included).
EVERY_MESSAGE = [
    "a.xml: statement S-1, entry 2: the amount (Amt) is missing",
    "a.xml: statement S-1, entry 2: the amount has no currency (Ccy)",
    "a.xml: statement ?, entry 2: 'x' is not an amount",
    "a.xml: statement S-1, entry 2: amounts are never negative in camt (the direction is CdtDbtInd)",
    "a.xml: statement S-1, entry 2: unknown currency 'XXY'",
    "a.xml: statement S-1, entry 2: EUR amounts have at most 2 decimal places",
    "a.xml: statement S-1, entry 2: not an amount: too many digits",
    "a.xml: statement S-1, entry 2: '2026-13-01' is not a date",
    "a.xml: statement S-1, entry 2: CdtDbtInd must be CRDT or DBIT, not None",
    "a.xml: statement S-1, entry 2: the status (Sts) is missing",
    "a.xml: the file declares the character encoding 'x', which is unknown; export the statement again as UTF-8",
    "a.xml: the file declares the character encoding 'utf-16', but it is not written in it; export the statement again as UTF-8",
    "a.xml: the file contains a NUL byte (at byte 12): it is not a text file or it is damaged",
    "a.xml: the file is not valid UTF-16 as its byte order mark says (byte 10); export the statement again as UTF-8",
    "a.xml: the file is not valid UTF-16 as its first bytes says (byte 10); export the statement again as UTF-8",
    "a.xml: the file is not valid Windows-1252 as its declaration (windows-1252) says (byte 10); export the statement again as UTF-8",
    "a.xml: the file contains a NUL character: it is not a text file or it is damaged",
    "a.xml: the file contains a lone surrogate (half of a UTF-16 character pair): it is damaged; export the statement again",
    "a.xml: the file contains a character reference to a character XML does not allow (a NUL or a lone surrogate): "
    "it is damaged (xmlParseCharRef: invalid xmlChar value 0, line 1, column 60)",
    "a.xml: the file is not valid UTF-8 (it may be another encoding without a declaration, or contain a lone surrogate); "
    "export the statement again as UTF-8 (Input is not proper UTF-8, line 1)",
    "a.xml: not well-formed XML: Opening and ending tag mismatch: Stmt line 1 and Document, line 1, column 300",
    "a.xml: refused: the file declares a DTD or entities (DTDForbidden)",
    "a.xml: the file is empty",
    "a.xml: not a camt.053 or camt.054 message (versions 001.02 to 001.08): root element 'Invoice' in namespace 'none'",
    "a.xml: camt.053.001.02: expected BkToCstmrStmt under Document",
    "a.xml: camt.053.001.02: the file contains no statement (Stmt)",
    "a.xml: camt.054.001.08: the file contains no notification (Ntfctn)",
    "b.zip: not a readable ZIP file (File is not a zip file)",
    "b.zip: the ZIP holds 20000 files; at most 10000 are read in one import",
    "b.zip: the ZIP contains no files",
    "b.zip: the ZIP unpacks to more than 1024 MB (it declares 2048 MB)",
    "b.zip: the ZIP unpacks to more than 1024 MB",
    "b.zip: the ZIP file holds no .xml statement",
    "b.zip/x.xml: is encrypted (password-protected); upload it without a password",
    "b.zip/x.xml: is compressed with bzip2, which cannot be read; pack it again with ordinary ZIP compression (Deflate)",
    "b.zip/x.xml: is larger than 200 MB unpacked",
    "b.zip/x.xml: statement S-1, entry 2: the status (Sts) is missing",
]


@pytest.mark.parametrize("message", EVERY_MESSAGE)
def test_every_camt_message_has_a_german_sentence(app, message):
    with app.test_request_context():
        g.locale = "de"
        german = explain(message)
    english_part = ENGLISH_WORDS.findall(re.sub(r"\([^()]*\)", "", german))
    assert german != message and not english_part, (german, english_part)


def test_the_messages_listed_are_those_camt_raises():
    source = __import__("inspect").getsource(camt)
    raised = len(re.findall(r"raise CamtError\(", source)) + source.count("return CamtError(")
    assert raised == 21  # when camt raises a new text, add it to EVERY_MESSAGE and to portal.uploads.camt_messages
