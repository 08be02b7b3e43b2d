"""E-invoice problems as a merchant reads them on the upload page: led by the business term and its name, in German."""
from __future__ import annotations

import pytest
from flask import g

from portal.uploads.einvoice_messages import explain


@pytest.mark.parametrize("message, german", [
    ("BT-9: is missing (the due date, cbc:DueDate)", "BT-9 Fälligkeitsdatum fehlt (cbc:DueDate)"),
    ("BT-5: 'EURO' is not an ISO 4217 currency code", "BT-5 Rechnungswährung ist mit „EURO“ kein Währungscode nach ISO 4217"),
    ("BT-115: '12,50' is not an amount (XML amounts are written like 1234.56)",
     "BT-115 Fälliger Zahlungsbetrag ist mit „12,50“ kein Betrag (in XML werden Beträge wie 1234.56 geschrieben)"),
    ("refused: the XML declares a DTD or entities (DOCTYPE is not allowed in an e-invoice)",
     "Abgelehnt: Das XML deklariert eine DTD oder Entitäten; eine E-Rechnung darf das nicht enthalten."),
    ("the PDF contains no embedded e-invoice: a ZUGFeRD / Factur-X PDF carries factur-x.xml or ZUGFeRD-invoice.xml as an attachment",
     "Das PDF enthält keine eingebettete E-Rechnung"),
    ("BG-3: the credited invoice RE-7 is not in Settle", "BG-3 Referenz auf die vorausgegangene Rechnung nennt die Rechnung RE-7"),
])
def test_parser_messages_read_in_german_with_the_business_term(app, message, german):
    with app.test_request_context():
        g.locale = "de"
        assert explain(message).startswith(german)
