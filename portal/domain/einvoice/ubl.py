"""UBL 2.1 Invoice and CreditNote (XRechnung 3.x, EN 16931) → `EInvoice`.

Paths are those of the EN 16931-1 UBL binding (CEN/TS 16931-3-2), relative to the root.
"""
from __future__ import annotations

from lxml.etree import _Element as Element

from portal.domain.einvoice.errors import EInvoiceError
from portal.domain.einvoice.model import (CREDIT_NOTE_TYPES, AllowanceCharge, EInvoice, Line, Party, PaymentAccount, Reader,
                                          TaxBreakdown, text)

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def _f(elem: Element | None, path: str) -> Element | None:
    return None if elem is None else elem.find(path, NS)


def _t(elem: Element | None, path: str) -> str | None:
    return text(_f(elem, path))


def _party(party: Element | None) -> Party:
    if party is None:
        return Party()
    endpoint = party.find("cbc:EndpointID", NS)
    vat = None
    for scheme in party.findall("cac:PartyTaxScheme", NS):
        if (_t(scheme, "cac:TaxScheme/cbc:ID") or "").upper() == "VAT":
            vat = _t(scheme, "cbc:CompanyID")
            break
    address = party.find("cac:PostalAddress", NS)
    return Party(
        name=_t(party, "cac:PartyLegalEntity/cbc:RegistrationName"),
        trading_name=_t(party, "cac:PartyName/cbc:Name"),
        identifier=_t(party, "cac:PartyIdentification/cbc:ID"),
        legal_id=_t(party, "cac:PartyLegalEntity/cbc:CompanyID"),
        vat_id=vat,
        electronic_address=text(endpoint),
        electronic_scheme=endpoint.get("schemeID") if endpoint is not None else None,
        street=_t(address, "cbc:StreetName"),
        street2=_t(address, "cbc:AdditionalStreetName"),
        city=_t(address, "cbc:CityName"),
        postal_code=_t(address, "cbc:PostalZone"),
        country=_t(address, "cac:Country/cbc:IdentificationCode"),
        contact_name=_t(party, "cac:Contact/cbc:Name"),
        contact_phone=_t(party, "cac:Contact/cbc:Telephone"),
        contact_email=_t(party, "cac:Contact/cbc:ElectronicMail"),
    )


def _period(root: Element, soft: Reader):
    period = root.find("cac:InvoicePeriod", NS)
    if period is None:
        return None
    start, end = soft.iso_date("BT-73", _f(period, "cbc:StartDate")), soft.iso_date("BT-74", _f(period, "cbc:EndDate"))
    return (start, end) if start or end else None


def read(root: Element, *, credit_note: bool) -> EInvoice:
    r = Reader()
    kind = "CreditNote" if credit_note else "Invoice"
    currency = r.set_currency(_t(root, "cbc:DocumentCurrencyCode"))
    number = r.required("BT-1", _t(root, "cbc:ID"), "the invoice number, cbc:ID")
    issue_date = r.iso_date("BT-2", _f(root, "cbc:IssueDate"))
    if issue_date is None and "BT-2" not in r.errors:
        r.add("BT-2", "is missing (the issue date, cbc:IssueDate)")
    type_code = _t(root, f"cbc:{kind}TypeCode")
    # BT-9: cbc:DueDate on an Invoice; a CreditNote has it on the payment means.
    due_date = r.iso_date("BT-9", _f(root, "cbc:DueDate" if not credit_note else "cac:PaymentMeans/cbc:PaymentDueDate"))
    if due_date is None and not credit_note and "BT-9" not in r.errors:
        due_date = r.iso_date("BT-9", _f(root, "cac:PaymentMeans/cbc:PaymentDueDate"))
    totals = root.find("cac:LegalMonetaryTotal", NS)
    payable = r.amount("BT-115", _f(totals, "cbc:PayableAmount"), signed=True)
    if payable is None and "BT-115" not in r.errors and currency:
        r.add("BT-115", "is missing (the amount due for payment, cac:LegalMonetaryTotal/cbc:PayableAmount)")
    tax_total = None
    for total in root.findall("cac:TaxTotal", NS):
        amount = _f(total, "cbc:TaxAmount")
        if amount is not None and (amount.get("currencyID") or currency) == currency:
            tax_total = r.amount("BT-110", amount, signed=True)
            break
    soft = r.lenient()  # fields only the debtor's view shows
    lines = []
    for line in root.findall(f"cac:{kind}Line", NS):
        quantity = line.find(f"cbc:{'Credited' if credit_note else 'Invoiced'}Quantity", NS)
        lines.append(
            Line(
                line_id=_t(line, "cbc:ID"),
                name=_t(line, "cac:Item/cbc:Name"),
                quantity=r.decimal("BT-129", quantity),
                unit=quantity.get("unitCode") if quantity is not None else None,
                net_minor=r.amount("BT-131", _f(line, "cbc:LineExtensionAmount"), signed=True),
                unit_price=soft.decimal("BT-146", _f(line, "cac:Price/cbc:PriceAmount")),
                price_base=soft.decimal("BT-149", _f(line, "cac:Price/cbc:BaseQuantity")),
                vat_category=_t(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
                vat_percent=soft.decimal("BT-152", _f(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")),
                description=_t(line, "cac:Item/cbc:Description"),
            )
        )
    taxes = tuple(
        TaxBreakdown(
            category=_t(sub, "cac:TaxCategory/cbc:ID"),
            percent=r.decimal("BT-119", _f(sub, "cac:TaxCategory/cbc:Percent")),
            basis_minor=r.amount("BT-116", _f(sub, "cbc:TaxableAmount"), signed=True),
            tax_minor=r.amount("BT-117", _f(sub, "cbc:TaxAmount"), signed=True),
            exemption_reason=_t(sub, "cac:TaxCategory/cbc:TaxExemptionReason"),
        )
        for sub in root.findall("cac:TaxTotal/cac:TaxSubtotal", NS)
    )
    allowances = tuple(
        AllowanceCharge(
            charge=(_t(ac, "cbc:ChargeIndicator") or "").lower() == "true",
            amount_minor=soft.amount("BT-92", _f(ac, "cbc:Amount"), signed=True),
            reason=_t(ac, "cbc:AllowanceChargeReason"),
            vat_category=_t(ac, "cac:TaxCategory/cbc:ID"),
            vat_percent=soft.decimal("BT-96", _f(ac, "cac:TaxCategory/cbc:Percent")),
        )
        for ac in root.findall("cac:AllowanceCharge", NS)
    )
    accounts = tuple(
        PaymentAccount(iban=iban, name=_t(acct, "cbc:Name"), bic=_t(acct, "cac:FinancialInstitutionBranch/cbc:ID"))
        for acct in root.findall("cac:PaymentMeans/cac:PayeeFinancialAccount", NS)
        if (iban := _t(acct, "cbc:ID"))
    )
    buyer = _party(root.find("cac:AccountingCustomerParty/cac:Party", NS))
    if buyer.name is None:
        r.add("BT-44", "is missing (the buyer name, cac:PartyLegalEntity/cbc:RegistrationName)")
    fields = dict(
        syntax="UBL 2.1",
        profile=_t(root, "cbc:CustomizationID"),
        type_code=type_code,
        is_credit_note=credit_note or type_code in CREDIT_NOTE_TYPES,
        number=number,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        payable_minor=payable,
        total_minor=r.amount("BT-112", _f(totals, "cbc:TaxInclusiveAmount"), signed=True),
        prepaid_minor=r.amount("BT-113", _f(totals, "cbc:PrepaidAmount"), signed=True),
        net_minor=r.amount("BT-109", _f(totals, "cbc:TaxExclusiveAmount"), signed=True),
        tax_minor=tax_total,
        terms=tuple(t for t in (text(n) for n in root.findall("cac:PaymentTerms/cbc:Note", NS)) if t),
        buyer_reference=_t(root, "cbc:BuyerReference"),
        order_ref=_t(root, "cac:OrderReference/cbc:ID"),
        payment_reference=_t(root, "cac:PaymentMeans/cbc:PaymentID"),
        preceding=tuple(
            (ref_id, r.iso_date("BT-26", _f(ref, "cbc:IssueDate")))
            for ref in root.findall("cac:BillingReference/cac:InvoiceDocumentReference", NS)
            if (ref_id := _t(ref, "cbc:ID"))
        ),
        seller=_party(root.find("cac:AccountingSupplierParty/cac:Party", NS)),
        buyer=buyer,
        seller_ibans=tuple(
            t for t in (text(e) for e in root.findall("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", NS)) if t
        ),
        lines=tuple(lines),
        taxes=taxes,
        notes=tuple(t for t in (text(n) for n in root.findall("cbc:Note", NS)) if t),
        delivery_date=soft.iso_date("BT-72", _f(root, "cac:Delivery/cbc:ActualDeliveryDate")),
        period=_period(root, soft),
        line_total_minor=soft.amount("BT-106", _f(totals, "cbc:LineExtensionAmount"), signed=True),
        allowances=allowances,
        accounts=accounts,
        payment_means=_t(root, "cac:PaymentMeans/cbc:PaymentMeansCode"),
    )
    if r.errors:
        raise EInvoiceError(r.errors)
    return EInvoice(**fields)
