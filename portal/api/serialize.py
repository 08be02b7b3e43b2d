"""JSON shapes of API answers (documented in portal.api.openapi)."""
from __future__ import annotations

from portal import ledger
from portal.domain.money import minor_to_str
from portal.links import url_for_debtor
from portal.models import Invoice


def invoice_json(invoice: Invoice) -> dict:
    cur = invoice.currency
    totals = ledger.charges(invoice)
    paid = -(totals.get("payment", 0))
    return {
        "number": invoice.number,
        "status": invoice.status,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "amount": minor_to_str(invoice.amount_minor, cur),
        "open_amount": minor_to_str(invoice.open_minor, cur),
        "paid_amount": minor_to_str(paid, cur),
        "fees": minor_to_str(totals.get("fee", 0), cur),
        "interest": minor_to_str(totals.get("interest", 0), cur),
        "currency": cur,
        "order_ref": invoice.order_ref,
        "rf_reference": invoice.rf_reference,
        "debtor": {"external_ref": invoice.debtor.external_ref, "name": invoice.debtor.display_name},
        "escalation": {
            "step": invoice.dunning_step,
            "level": invoice.dunning_level,
            "next_action_on": invoice.next_action_on.isoformat() if invoice.next_action_on else None,
            "paused": invoice.paused_reason is not None,
            "paused_reason": invoice.paused_reason,
        },
        "portal_url": url_for_debtor(invoice.debtor),
    }
