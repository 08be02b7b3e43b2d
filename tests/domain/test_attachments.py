import pytest

from portal.domain.attachments import AttachmentRejected, check, safe_filename

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_pdf_named_pdf_is_accepted_with_its_type_taken_from_the_content():
    checked = check("Rechnung Mai.pdf", PDF)
    assert checked.mime_type == "application/pdf"
    assert checked.safe_name == "Rechnung Mai.pdf"


@pytest.mark.parametrize(
    "name, data, code",
    [
        ("invoice.pdf", b"MZ\x90\x00" + b"\x00" * 60, "executable"),
        ("photo.jpg", b"\x7fELF\x02\x01\x01" + b"\x00" * 40, "executable"),
        ("script.pdf", b"#!/bin/sh\nrm -rf /\n", "executable"),
        ("receipt.pdf", PNG, "extension_mismatch"),
        ("receipt.png.exe", PNG, "extension_mismatch"),
        ("notes.txt", b"just text", "unknown_type"),
        ("page.pdf", b"<html><script>alert(1)</script>", "unknown_type"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_files_that_lie_or_could_run_are_refused(name, data, code):
    with pytest.raises(AttachmentRejected) as exc:
        check(name, data)
    assert exc.value.code == code


def test_oversized_files_are_refused():
    with pytest.raises(AttachmentRejected) as exc:
        check("big.pdf", PDF + b"0" * 2000, max_bytes=1000)
    assert exc.value.code == "too_large"


def test_file_names_lose_paths_and_header_breaking_characters():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename('C:\\Users\\x\\evil"\r\nname.pdf') == "evil___name.pdf"
    assert safe_filename("...") == "attachment"
