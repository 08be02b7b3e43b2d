"""Webhook types: the one mapping from event kinds to webhook types, the JSON bodies and their schema.

`webhook_type(kind, data)` decides which webhook (if any) an Event row becomes; `body()`
builds the JSON from the event and its invoice. The same module describes the bodies for
the OpenAPI document (`webhooks`), so what is sent and what is documented cannot drift:
the tests validate every body they receive against `SCHEMAS`.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone

from portal.domain.money import minor_to_str

API_VERSION = "2026-12-01"

# type → one-line description (English; the admin page translates the labels separately)
TYPES: dict[str, str] = {
    "invoice.created": "An invoice arrived (API, CSV or e-invoice).",
    "invoice.paid": "A payment settled the invoice in full.",
    "invoice.partially_paid": "A payment arrived and part of the invoice is still open.",
    "invoice.overpaid": "A payment exceeded what was open; the surplus is a credit.",
    "invoice.step_taken": "A dunning step was taken (reminder, notice, fee, interest).",
    "invoice.paused": "Dunning paused (dispute, installment plan, promise, unreachable).",
    "invoice.resumed": "Dunning resumed.",
    "invoice.handed_over": "The claim was handed over to the collection agency.",
    "invoice.cancelled": "The invoice was cancelled.",
    "dispute.opened": "The debtor disputed the invoice.",
    "dispute.resolved": "Staff resolved or rejected a dispute.",
    "plan.created": "An installment plan was agreed.",
    "plan.broken": "An installment was missed; the plan ended.",
    "plan.completed": "The installment plan was paid in full.",
    "promise.made": "The debtor promised to pay by a date.",
    "promise.broken": "The promised date passed without payment.",
}


def _payment_type(data: dict) -> str | None:
    if data.get("status") == "paid" and data.get("status_before") == "open":
        return "invoice.paid"
    if data.get("status") == "open" and (data.get("open_minor") or 0) > 0:
        return "invoice.partially_paid"
    return None  # a payment on an already-paid invoice: invoice.overpaid (from payment.overpaid) says it


# event kind → function of the event's data giving the webhook type (None: no webhook)
MAPPING: dict[str, Callable[[dict], str | None]] = {
    "invoice.created": lambda d: "invoice.created",
    "ledger.payment": _payment_type,
    "payment.overpaid": lambda d: "invoice.overpaid",
    "dunning.step": lambda d: "invoice.step_taken",
    "dunning.paused": lambda d: "invoice.paused",
    "dunning.resumed": lambda d: "invoice.resumed",
    "invoice.handed_over": lambda d: "invoice.handed_over",
    "invoice.cancelled": lambda d: "invoice.cancelled",
    "case.dispute_opened": lambda d: "dispute.opened",
    "case.dispute_resolved": lambda d: "dispute.resolved",
    "case.dispute_rejected": lambda d: "dispute.resolved",
    "case.plan_activated": lambda d: "plan.created",
    "case.plan_broken": lambda d: "plan.broken",
    "case.plan_completed": lambda d: "plan.completed",
    "case.promise_made": lambda d: "promise.made",
    "case.promise_broken": lambda d: "promise.broken",
}


def webhook_type(kind: str, data: dict | None) -> str | None:
    rule = MAPPING.get(kind)
    return rule(data or {}) if rule else None


# --- bodies ------------------------------------------------------------------------------------------


def _money(minor, currency):
    return None if minor is None else minor_to_str(int(minor), currency)


def _details(kind: str, type_: str, data: dict, currency: str | None) -> dict:
    cur = data.get("currency") or currency or "EUR"
    if type_ == "invoice.created":
        return {}
    if type_ in ("invoice.paid", "invoice.partially_paid"):
        return {"payment": {"amount": _money(-data["amount_minor"], cur), "source": data.get("source"),
                            "reference": data.get("external_ref")},
                "open_amount": _money(data.get("open_minor"), cur)}
    if type_ == "invoice.overpaid":
        return {"credit": _money(data.get("credit_minor"), cur), "source": data.get("source")}
    if type_ == "invoice.step_taken":
        return {"step": data.get("step"), "legal": data.get("legal"), "next_action_on": data.get("next_action_on"),
                "charges": [{"label": c.get("label"), "amount": _money(c.get("amount_minor"), cur)}
                            for c in data.get("charges") or []]}
    if type_ == "invoice.paused":
        return {"reason": data.get("reason"), "until": data.get("until")}
    if type_ == "invoice.resumed":
        return {"reason": data.get("reason"), "next_action_on": data.get("next_action_on")}
    if type_ == "invoice.handed_over":
        return {"step": data.get("step")}
    if type_ == "invoice.cancelled":
        return {"reason": data.get("reason")}
    case = {"case_id": data.get("case_id")}
    if type_ == "dispute.opened":
        return {**case, "reason": data.get("reason")}
    if type_ == "dispute.resolved":
        return {**case, "outcome": "rejected" if kind == "case.dispute_rejected" else "resolved",
                "resume_on": data.get("resume_on")}
    if type_ == "plan.created":
        return {**case, "rates": [{"due_on": due, "amount": _money(amount, cur)} for due, amount in data.get("rates") or []]}
    if type_ == "plan.broken":
        return {**case, "missed_rate": data.get("missed_rate"), "due_on": data.get("due_on")}
    if type_ in ("promise.made", "promise.broken"):
        return {**case, "promised_on": data.get("promised_on")}
    return case  # plan.completed


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def invoice_json(invoice, debtor) -> dict | None:
    if invoice is None:
        return None
    return {
        "number": invoice.number,
        "order_ref": invoice.order_ref,
        "currency": invoice.currency,
        "amount": minor_to_str(invoice.amount_minor, invoice.currency),
        "due_date": invoice.due_date.isoformat(),
        "debtor_ref": debtor.external_ref if debtor is not None else None,
    }


def body(*, webhook_id: str, type_: str, kind: str, occurred_at: datetime, data: dict | None, invoice, debtor) -> str:
    """The exact JSON text that is signed and sent (compact, keys in a fixed order)."""
    document = {
        "id": webhook_id,
        "type": type_,
        "api_version": API_VERSION,
        "created": _iso(occurred_at),
        "data": {"invoice": invoice_json(invoice, debtor),
                 **_details(kind, type_, data or {}, invoice.currency if invoice is not None else None)},
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


# --- schema (OpenAPI 3.1 `webhooks`) ------------------------------------------------------------------

AMOUNT = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
NULL_AMOUNT = {"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$"}
DAY = {"type": ["string", "null"], "format": "date"}
STR = {"type": ["string", "null"]}
CASE = {"case_id": {"type": ["integer", "null"]}}

DETAILS: dict[str, dict] = {
    "invoice.created": {},
    "invoice.paid": {
        "payment": {"type": "object", "additionalProperties": False, "required": ["amount", "source", "reference"],
                    "properties": {"amount": AMOUNT, "source": {"type": "string", "description": "api, bank, stripe, staff …"},
                                   "reference": STR}},
        "open_amount": {**AMOUNT, "description": "What is open after this payment"},
    },
    "invoice.overpaid": {"credit": {**AMOUNT, "description": "The surplus, held as a credit"}, "source": STR},
    "invoice.step_taken": {
        "step": {"type": "string"}, "legal": STR, "next_action_on": DAY,
        "charges": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                "properties": {"label": STR, "amount": AMOUNT}}},
    },
    "invoice.paused": {"reason": {"enum": ["dispute", "plan", "promise", "unreachable", "staff", "agency", None]}, "until": DAY},
    "invoice.resumed": {"reason": STR, "next_action_on": DAY},
    "invoice.handed_over": {"step": STR},
    "invoice.cancelled": {"reason": STR},
    "dispute.opened": {**CASE, "reason": STR},
    "dispute.resolved": {**CASE, "outcome": {"enum": ["resolved", "rejected"]}, "resume_on": DAY},
    "plan.created": {**CASE, "rates": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "properties": {"due_on": DAY, "amount": AMOUNT}}}},
    "plan.broken": {**CASE, "missed_rate": {"type": ["integer", "null"]}, "due_on": DAY},
    "plan.completed": {**CASE},
    "promise.made": {**CASE, "promised_on": DAY},
    "promise.broken": {**CASE, "promised_on": DAY},
}
DETAILS["invoice.partially_paid"] = DETAILS["invoice.paid"]

INVOICE_SCHEMA = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "required": ["number", "order_ref", "currency", "amount", "due_date", "debtor_ref"],
    "properties": {
        "number": {"type": "string"}, "order_ref": STR, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "amount": AMOUNT, "due_date": {"type": "string", "format": "date"}, "debtor_ref": STR,
    },
}


def _schema_name(type_: str) -> str:
    return "Webhook_" + type_.replace(".", "_")


def schemas() -> dict[str, dict]:
    """One JSON Schema per webhook type (components/schemas), plus the invoice block."""
    out = {"WebhookInvoice": INVOICE_SCHEMA}
    for type_, description in TYPES.items():
        details = DETAILS[type_]
        out[_schema_name(type_)] = {
            "type": "object",
            "description": description,
            "additionalProperties": False,
            "required": ["id", "type", "api_version", "created", "data"],
            "properties": {
                "id": {"type": "string", "description": "Unique per event; the same on a retry or resend: deduplicate by it"},
                "type": {"const": type_},
                "api_version": {"const": API_VERSION},
                "created": {"type": "string", "format": "date-time", "description": "When it happened (UTC)"},
                "data": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["invoice", *details],
                    "properties": {"invoice": {"$ref": "#/components/schemas/WebhookInvoice"}, **details},
                },
            },
        }
    return out


def openapi_webhooks() -> dict:
    """The OpenAPI 3.1 `webhooks` object: one POST per type."""
    return {
        type_: {
            "post": {
                "operationId": "webhook_" + type_.replace(".", "_"),
                "summary": description,
                "parameters": [{
                    "name": "Settle-Signature", "in": "header", "required": True,
                    "description": 't=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint\'s secret>',
                    "schema": {"type": "string", "pattern": "^t=\\d+,v1=[0-9a-f]{64}$"},
                }],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{_schema_name(type_)}"}}}},
                "responses": {"2XX": {"description": "Received; anything else (or no answer in 10 s) is retried"}},
            }
        }
        for type_, description in TYPES.items()
    }
