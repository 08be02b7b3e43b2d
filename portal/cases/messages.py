"""What case errors and states mean, in words for debtors and staff (German and English)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.cases.service import CaseError

ERRORS = {
    "no_invoices": _l("Please choose at least one invoice."),
    "unknown_invoice": _l("This invoice is not available."),
    "unknown_case": _l("This request is not available."),
    "invoice_closed": _l("Invoice %(number)s is no longer open."),
    "case_exists": _l("There is already a request for invoice %(number)s. We will get back to you about it."),
    "body_too_long": _l("Please keep your message under %(max)s characters."),
    "body_required": _l("Please tell us briefly what happened."),
    "question_required": _l("Please write your question."),
    "note_required": _l("Please write a note."),
    "reason_unknown": _l("Please choose a reason."),
    "too_many_files": _l("Please attach at most %(max)s files."),
    "file_empty": _l("The file %(filename)s is empty."),
    "file_too_large": _l("The file %(filename)s is larger than 10 MB."),
    "file_executable": _l("The file %(filename)s cannot be accepted. Please send a PDF or a photo."),
    "file_unknown_type": _l("The file %(filename)s is not a PDF, JPEG, PNG or WebP file."),
    "file_extension_mismatch": _l("The file %(filename)s does not match its name. Please send a PDF or a photo."),
    "plan_invalid": _l("These installment terms are not possible: %(why)s."),
    "mixed_currencies": _l("Invoices in different currencies cannot share one plan."),
    "promise_out_of_range": _l("Please choose a date between %(earliest)s and %(latest)s."),
    "credit_required": _l("Please enter the credit for at least one invoice."),
    "credit_out_of_range": _l("The credit for invoice %(number)s must be more than zero and at most the open amount."),
    "date_in_past": _l("The date must not be in the past."),
    "date_invalid": _l("Please enter a valid date."),
    "wrong_kind": _l("This action does not fit this request."),
    "wrong_status": _l("This request has been answered already."),
    "amount_invalid": _l("Please enter an amount greater than zero."),
}

REASONS = {
    "not_received": _l("I have not received the goods"),
    "returned": _l("I have sent the goods back"),
    "already_paid": _l("I have already paid"),
    "wrong_amount": _l("The amount is wrong"),
    "damaged": _l("The goods arrived damaged or faulty"),
    "other": _l("Something else"),
}

STATUSES = {
    "open": _l("waiting for an answer"),
    "countered": _l("new proposal, waiting for the customer"),
    "active": _l("in effect"),
    "resolved": _l("resolved"),
    "rejected": _l("declined"),
    "completed": _l("completed"),
    "broken": _l("ended (not kept)"),
    "withdrawn": _l("withdrawn"),
}

DEBTOR_STATUSES = {
    "open": _l("the shop is looking into it"),
    "countered": _l("a proposal is waiting for your answer"),
    "active": _l("in effect"),
    "resolved": _l("resolved"),
    "rejected": _l("declined"),
    "completed": _l("completed"),
    "broken": _l("ended"),
    "withdrawn": _l("withdrawn"),
}

KINDS = {"dispute": _l("Objection"), "plan": _l("Installment plan"), "promise": _l("Promise to pay"),
         "question": _l("Question")}

# A question is answered, not "resolved": how its states read to the debtor where they differ.
DEBTOR_QUESTION_STATUSES = {"open": _l("waiting for an answer"), "resolved": _l("answered")}


def debtor_status(status: str, kind: str | None = None) -> str:
    if kind == "question" and status in DEBTOR_QUESTION_STATUSES:
        return str(DEBTOR_QUESTION_STATUSES[status])
    return str(DEBTOR_STATUSES.get(status, status))


def error_text(exc: CaseError) -> str:
    message = ERRORS.get(exc.code)
    if message is None:
        return str(exc.code)
    try:
        return str(message) % exc.details if exc.details else str(message)
    except (KeyError, TypeError, ValueError):
        return str(message)
