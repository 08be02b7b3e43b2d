"""The OpenAPI 3.1 description of the shop API; tests validate real answers against it."""
from __future__ import annotations

AMOUNT = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["119.00"]}
DATE = {"type": "string", "format": "date"}
NULLABLE_STR = {"type": ["string", "null"]}

SCHEMAS = {
    "Address": {
        "type": "object",
        "properties": {
            "street": NULLABLE_STR,
            "postal_code": NULLABLE_STR,
            "city": NULLABLE_STR,
            "country": {"type": ["string", "null"], "pattern": "^[A-Za-z]{2}$"},
        },
    },
    "DebtorIn": {
        "type": "object",
        "required": ["external_ref", "name"],
        "properties": {
            "external_ref": {"type": "string", "maxLength": 64, "description": "The shop's customer number"},
            "kind": {"enum": ["person", "business"], "default": "person"},
            "name": {"type": "string", "maxLength": 200},
            "company": {**NULLABLE_STR, "description": "Required for business debtors"},
            "email": NULLABLE_STR,
            "phone": {**NULLABLE_STR, "description": "Mobile number; stored in E.164 form"},
            "language": {"type": ["string", "null"], "enum": ["de", "en", None]},
            "date_of_birth": {"type": ["string", "null"], "format": "date"},
            "address": {"$ref": "#/components/schemas/Address"},
        },
    },
    "LineIn": {
        "type": "object",
        "required": ["description", "amount"],
        "properties": {
            "description": {"type": "string"},
            "quantity": {"type": ["number", "string"], "default": 1},
            "amount": AMOUNT,
        },
    },
    "InvoiceIn": {
        "type": "object",
        "required": ["number", "issue_date", "due_date", "amount", "debtor"],
        "properties": {
            "number": {"type": "string", "maxLength": 64},
            "issue_date": DATE,
            "due_date": DATE,
            "amount": {**AMOUNT, "description": "Total as a decimal string in the currency's minor-unit precision"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "default": "EUR"},
            "order_ref": NULLABLE_STR,
            "lines": {"type": "array", "items": {"$ref": "#/components/schemas/LineIn"}},
            "debtor": {"$ref": "#/components/schemas/DebtorIn"},
        },
    },
    "Invoice": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "number", "status", "issue_date", "due_date", "amount", "open_amount", "paid_amount",
            "fees", "interest", "currency", "order_ref", "rf_reference", "debtor", "escalation", "portal_url",
        ],
        "properties": {
            "number": {"type": "string"},
            "status": {"enum": ["open", "paid", "cancelled", "written_off", "handed_over"]},
            "issue_date": DATE,
            "due_date": DATE,
            "amount": AMOUNT,
            "open_amount": {**AMOUNT, "description": "Negative when the debtor has paid more than owed (credit)"},
            "paid_amount": AMOUNT,
            "fees": AMOUNT,
            "interest": AMOUNT,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "order_ref": NULLABLE_STR,
            "rf_reference": {"type": "string", "pattern": "^RF[0-9]{2}[0-9A-Z]{1,21}$"},
            "debtor": {
                "type": "object",
                "additionalProperties": False,
                "required": ["external_ref", "name"],
                "properties": {"external_ref": {"type": "string"}, "name": {"type": "string"}},
            },
            "escalation": {
                "type": "object",
                "additionalProperties": False,
                "required": ["step", "level", "next_action_on", "paused", "paused_reason"],
                "properties": {
                    "step": {**NULLABLE_STR, "description": "Key of the last dunning step taken"},
                    "level": {"type": "integer", "minimum": 0},
                    "next_action_on": {"type": ["string", "null"], "format": "date"},
                    "paused": {"type": "boolean"},
                    "paused_reason": {"enum": ["dispute", "plan", "promise", "unreachable", "staff", "agency", None]},
                },
            },
            "portal_url": {"type": "string", "format": "uri"},
            "einvoice": {
                "$ref": "#/components/schemas/EInvoiceInfo",
                "description": "Only in answers to an e-invoice body (application/xml or application/pdf)",
            },
        },
    },
    "EInvoiceInfo": {
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "warnings"],
        "properties": {
            "format": {"type": "string", "examples": ["XRechnung (UBL 2.1)", "ZUGFeRD / Factur-X PDF (UN/CEFACT CII D16B)"]},
            "due_date_from": {
                "enum": ["BT-9", "BT-20", "default"],
                "description": "Where the due date came from: BT-9, the payment terms text (BT-20), or the "
                "issue date plus the merchant's default term",
            },
            "warnings": {
                "type": "array",
                "description": "Things the shop should look at, e.g. BT-84: the invoice names another IBAN than the merchant's",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["term", "message"],
                    "properties": {"term": {"type": "string", "examples": ["BT-84"]}, "message": {"type": "string"}},
                },
            },
        },
    },
    "CreditNoteResult": {
        "type": "object",
        "additionalProperties": False,
        "required": ["credit_note", "invoice"],
        "description": "A credit note (type 381 or a UBL CreditNote) credits the invoice it names (BG-3)",
        "properties": {
            "credit_note": {
                "type": "object",
                "additionalProperties": False,
                "required": ["number", "amount", "currency", "credits", "format", "warnings"],
                "properties": {
                    "number": {"type": "string", "description": "BT-1 of the credit note"},
                    "amount": {**AMOUNT, "description": "BT-115, credited to the invoice"},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                    "credits": {"type": "string", "description": "BT-25: the number of the credited invoice"},
                    "format": {"type": "string"},
                    "warnings": {"$ref": "#/components/schemas/EInvoiceInfo/properties/warnings"},
                },
            },
            "invoice": {"$ref": "#/components/schemas/Invoice"},
        },
    },
    "PaymentIn": {
        "type": "object",
        "required": ["amount", "reference"],
        "properties": {
            "amount": AMOUNT,
            "reference": {"type": "string", "maxLength": 120, "description": "The shop's payment id; repeats are idempotent"},
            "received_on": {**DATE, "description": "Defaults to today"},
        },
    },
    "PaymentResult": {
        "type": "object",
        "additionalProperties": False,
        "required": ["payment", "invoice"],
        "properties": {
            "payment": {
                "type": "object",
                "additionalProperties": False,
                "required": ["reference", "amount", "received_on"],
                "properties": {"reference": {"type": "string"}, "amount": AMOUNT, "received_on": DATE},
            },
            "invoice": {"$ref": "#/components/schemas/Invoice"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "description": "Field path (e.g. debtor.email, lines[0].amount) → messages; for e-invoices the "
                "EN 16931 business term (e.g. BT-9, BG-3), \"\" for the file as a whole",
            },
            "invoice": {"$ref": "#/components/schemas/Invoice"},
        },
    },
}


def _json(schema: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _invoice_or_credit() -> dict:
    schema = {"oneOf": [{"$ref": "#/components/schemas/Invoice"}, {"$ref": "#/components/schemas/CreditNoteResult"}]}
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return {"description": description, **_json("Error")}


NUMBER_PARAM = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}
COMMON_ERRORS = {
    "401": _error("Missing, unknown or revoked API key"),
    "429": _error("Too many requests: for this key, or too many unknown keys from this client address"),
}
# Answered for every operation before it runs (portal.inputs), keyed like any field error:
# `{"debtor.name": ["must not contain NUL bytes"]}`, `{"path": [...]}`, `{"": ["is nested too deeply ..."]}`.
INPUT_ERROR = _error("Invalid input: a field, the path or the query string holds a NUL byte or invalid Unicode "
                  "(a lone surrogate), or the JSON body is nested too deeply; `fields` names each place")


def spec() -> dict:
    document = _document()
    for item in document["paths"].values():
        for operation in item.values():
            if "422" in operation["responses"]:
                description = operation["responses"]["422"]["description"]
                operation["responses"]["422"] = _error(f"{description}; or {INPUT_ERROR['description'][0].lower()}"
                                                       f"{INPUT_ERROR['description'][1:]}")
            else:
                operation["responses"]["422"] = INPUT_ERROR
    return document


def _document() -> dict:
    from portal.shop_webhooks import types as webhook_types

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Settle shop API",
            "version": "1.0.0",
            "description": "Push open invoices into Settle and report payments. Amounts are decimal strings "
            "in the currency's precision, ASCII digits only, at most 40 characters (no exponents, NaN or Infinity); "
            "dates are calendar dates (YYYY-MM-DD). Every invalid input answers 422 with `fields` (field path → "
            "messages), including text with NUL bytes or lone surrogates and JSON nested deeper than 32 levels.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**SCHEMAS, **webhook_types.schemas()},
        },
        # What Settle POSTs to the shop's endpoints (docs/webhooks.md): signed, each with a unique id.
        "webhooks": webhook_types.openapi_webhooks(),
        "paths": {
            "/invoices": {
                "post": {
                    "operationId": "createInvoice",
                    "summary": "Create an invoice (and create or update its debtor), from JSON or an e-invoice",
                    "description": "The body is the JSON invoice, or an e-invoice: `application/xml` (XRechnung / "
                    "EN 16931 in UBL 2.1 or UN/CEFACT CII D16B) or `application/pdf` (ZUGFeRD / Factur-X with the "
                    "XML embedded). A credit note credits the invoice it refers to instead of creating one.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            **_json("InvoiceIn")["content"],
                            "application/xml": {"schema": {"type": "string", "contentMediaType": "application/xml"}},
                            "application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}},
                        },
                    },
                    "responses": {
                        "201": {"description": "Created (or, for a credit note, booked)", **_invoice_or_credit()},
                        "200": {"description": "Repeat of an earlier identical submission", **_invoice_or_credit()},
                        "409": _error("The number exists with different content; or the credited invoice is closed"),
                        "422": _error("Invalid fields (for e-invoices keyed by business term, e.g. BT-9)"),
                        **COMMON_ERRORS,
                    },
                }
            },
            "/invoices/{number}": {
                "get": {
                    "operationId": "getInvoice",
                    "parameters": [NUMBER_PARAM],
                    "responses": {
                        "200": {"description": "The invoice", **_json("Invoice")},
                        "404": _error("No such invoice for this merchant"),
                        **COMMON_ERRORS,
                    },
                }
            },
            "/invoices/{number}/payments": {
                "post": {
                    "operationId": "addPayment",
                    "summary": "Report a payment the shop received; idempotent by reference",
                    "parameters": [NUMBER_PARAM],
                    "requestBody": {"required": True, **_json("PaymentIn")},
                    "responses": {
                        "201": {"description": "Booked", **_json("PaymentResult")},
                        "200": {"description": "Already booked (repeat)", **_json("PaymentResult")},
                        "404": _error("No such invoice for this merchant"),
                        "409": _error("The reference was booked with another amount or invoice"),
                        "422": _error("Invalid fields"),
                        **COMMON_ERRORS,
                    },
                }
            },
            "/invoices/{number}/cancel": {
                "post": {
                    "operationId": "cancelInvoice",
                    "summary": "Cancel an open invoice; repeats are no-ops",
                    "parameters": [NUMBER_PARAM],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": {"type": "object", "properties": {"reason": {"type": "string"}}}}},
                    },
                    "responses": {
                        "200": {"description": "Cancelled", **_json("Invoice")},
                        "404": _error("No such invoice for this merchant"),
                        "409": _error("The invoice is paid, handed over or written off"),
                        **COMMON_ERRORS,
                    },
                }
            },
        },
    }
