"""The office invoice page says when and by which rule of § 286 BGB the debtor went into default."""
from datetime import timedelta

from portal.dunning.run import run
from tests.dunning.helpers import DUE, make_debtor_invoice


def test_the_invoice_page_names_the_rule_of_286_that_gave_the_default_day(signed_in, merchant_a):
    invoice = make_debtor_invoice(merchant_a, "standard", "RE-1")
    page = signed_in.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    assert "<dt>Verzug</dt><dd>–</dd>" in page
    run(today=DUE - timedelta(days=3))  # the pre-due email with the § 286 (3) notice
    page = signed_in.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    assert "01.07.2025 · § 286 Abs. 3 BGB: 30 Tage nach Fälligkeit und Zugang · Zinsen ab 02.07.2025" in page
