"""CSV files as shops send them, for the import tests."""
from __future__ import annotations

HEADER = "number;issue_date;due_date;amount;currency;debtor_ref;kind;name;company;email;phone;language;street;postal_code;city;country"


def german_excel(rows: list[str], header: str = HEADER) -> bytes:
    """What German Excel writes for "CSV (Trennzeichen-getrennt)": Windows-1252, `;`, CRLF."""
    return ("\r\n".join([header, *rows]) + "\r\n").encode("cp1252")


GERMAN_ROWS = [
    "RE-2025-0101;01.12.2025;15.12.2025;1.234,56;EUR;K-2001;person;Jürgen Weiß;;juergen.weiss@example.de;0170 1234567;de;Königstraße 1;70173;Stuttgart;DE",
    "RE-2025-0102;02.12.2025;16.12.2025;49,90;EUR;G-3001;business;Björn Müller;Müller & Söhne GmbH;;;de;Große Bäckergasse 3;01067;Dresden;DE",
    "RE-2025-0103;03.12.2025;31.12.2025;119,00;;K-2001;person;Jürgen Weiß;;juergen.weiss@example.de;0170 1234567;de;Königstraße 1;70173;Stuttgart;DE",
    "RE-2025-0104;04.12.2025;18.12.2025;12.345,6;EUR;K-2002;;Zoë Çelik-Öztürk;;zoe@example.de;;;Am Weißen Stein 7;80331;München;de",
]


def many_rows(count: int, *, debtors: int | None = None, start: int = 1) -> list[str]:
    """`count` good German Excel rows (numbers RE-0000001…), a third as many customers as invoices."""
    debtors = debtors or max(1, count // 3)
    rows = []
    for i in range(start, start + count):
        d = i % debtors
        rows.append(
            f"RE-{i:07d};01.12.2025;{1 + i % 28:02d}.01.2026;{i % 900 + 1}.{i % 1000:03d},{i % 100:02d};EUR;K-{d:06d};"
            f"person;Jürgen Weiß {d};;kunde{d}@example.de;0170 {1000000 + d};de;Königstraße {d % 200 + 1};70173;Stuttgart;DE"
        )
    return rows
