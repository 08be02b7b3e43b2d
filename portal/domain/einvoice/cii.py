"""UN/CEFACT Cross Industry Invoice → `EInvoice`: D16B (XRechnung CII, ZUGFeRD 2.x, Factur-X 1.0,
every profile from MINIMUM to EXTENDED) and ZUGFeRD 1.0's CrossIndustryDocument.

The two generations differ only in element names along the way (ZUGFeRD 1.0 says
`ApplicableSupplyChainTradeSettlement` where D16B says `ApplicableHeaderTradeSettlement`),
so one reader walks both with a table of names. Paths are those of CEN/TS 16931-3-3.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml.etree import _Element as Element

from portal.domain.einvoice.errors import EInvoiceError
from portal.domain.einvoice.model import (CREDIT_NOTE_TYPES, AllowanceCharge, EInvoice, Line, Party, PaymentAccount, Reader,
                                          TaxBreakdown, text)

D16B_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
ZUGFERD1_NS = "urn:ferd:CrossIndustryDocument:invoice:1p0"


@dataclass(frozen=True)
class Names:
    syntax: str
    ns: dict[str, str]
    context: str
    document: str
    transaction: str
    agreement: str
    settlement: str
    summation: str
    line_delivery: str
    line_settlement: str
    line_summation: str
    tax_percent: str
    order_id: str
    delivery: str
    line_agreement: str


D16B = Names(
    syntax="UN/CEFACT CII D16B",
    ns={
        "rsm": D16B_NS,
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
        "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    },
    context="rsm:ExchangedDocumentContext",
    document="rsm:ExchangedDocument",
    transaction="rsm:SupplyChainTradeTransaction",
    agreement="ram:ApplicableHeaderTradeAgreement",
    settlement="ram:ApplicableHeaderTradeSettlement",
    summation="ram:SpecifiedTradeSettlementHeaderMonetarySummation",
    line_delivery="ram:SpecifiedLineTradeDelivery",
    line_settlement="ram:SpecifiedLineTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementLineMonetarySummation",
    tax_percent="ram:RateApplicablePercent",
    order_id="ram:IssuerAssignedID",
    delivery="ram:ApplicableHeaderTradeDelivery",
    line_agreement="ram:SpecifiedLineTradeAgreement",
)

ZUGFERD1 = Names(
    syntax="ZUGFeRD 1.0",
    ns={
        "rsm": ZUGFERD1_NS,
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15",
        "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:12",
    },
    context="rsm:SpecifiedExchangedDocumentContext",
    document="rsm:HeaderExchangedDocument",
    transaction="rsm:SpecifiedSupplyChainTradeTransaction",
    agreement="ram:ApplicableSupplyChainTradeAgreement",
    settlement="ram:ApplicableSupplyChainTradeSettlement",
    summation="ram:SpecifiedTradeSettlementMonetarySummation",
    line_delivery="ram:SpecifiedSupplyChainTradeDelivery",
    line_settlement="ram:SpecifiedSupplyChainTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementMonetarySummation",
    tax_percent="ram:ApplicablePercent",
    order_id="ram:ID",
    delivery="ram:ApplicableSupplyChainTradeDelivery",
    line_agreement="ram:SpecifiedSupplyChainTradeAgreement",
)


def read(root: Element, names: Names) -> EInvoice:
    ns = names.ns
    r = Reader()

    def f(elem: Element | None, path: str) -> Element | None:
        return None if elem is None else elem.find(path, ns)

    def t(elem: Element | None, path: str) -> str | None:
        return text(f(elem, path))

    def party(elem: Element | None) -> Party:
        if elem is None:
            return Party()
        vat = None
        for reg in elem.findall("ram:SpecifiedTaxRegistration/ram:ID", ns):
            if (reg.get("schemeID") or "").upper() == "VA":
                vat = text(reg)
                break
        uri = f(elem, "ram:URIUniversalCommunication/ram:URIID")
        address = f(elem, "ram:PostalTradeAddress")
        contact = f(elem, "ram:DefinedTradeContact")
        return Party(
            name=t(elem, "ram:Name"),
            trading_name=t(elem, "ram:SpecifiedLegalOrganization/ram:TradingBusinessName"),
            identifier=t(elem, "ram:ID") or t(elem, "ram:GlobalID"),
            legal_id=t(elem, "ram:SpecifiedLegalOrganization/ram:ID"),
            vat_id=vat,
            electronic_address=text(uri),
            electronic_scheme=uri.get("schemeID") if uri is not None else None,
            street=t(address, "ram:LineOne"),
            street2=t(address, "ram:LineTwo"),
            city=t(address, "ram:CityName"),
            postal_code=t(address, "ram:PostcodeCode"),
            country=t(address, "ram:CountryID"),
            contact_name=t(contact, "ram:PersonName") or t(contact, "ram:DepartmentName"),
            contact_phone=t(contact, "ram:TelephoneUniversalCommunication/ram:CompleteNumber"),
            contact_email=t(contact, "ram:EmailURIUniversalCommunication/ram:URIID"),
        )

    document = f(root, names.document)
    transaction = f(root, names.transaction)
    agreement = f(transaction, names.agreement)
    settlement = f(transaction, names.settlement)
    summation = f(settlement, names.summation)
    if document is None or transaction is None or settlement is None:
        missing = [p for p, e in ((names.document, document), (names.transaction, transaction),
                                  (f"{names.transaction}/{names.settlement}", settlement)) if e is None]
        raise EInvoiceError.document(
            f"not a {names.syntax} invoice: {', '.join(missing)} missing (wrong namespace or structure?)"
        )
    currency = r.set_currency(t(settlement, "ram:InvoiceCurrencyCode"))
    number = r.required("BT-1", t(document, "ram:ID"), f"the invoice number, {names.document}/ram:ID")
    issue_date = r.cii_date("BT-2", f(document, "ram:IssueDateTime/udt:DateTimeString"))
    if issue_date is None and "BT-2" not in r.errors:
        r.add("BT-2", "is missing (the issue date, ram:IssueDateTime)")
    type_code = t(document, "ram:TypeCode")
    terms, due_date = [], None
    for term in settlement.findall("ram:SpecifiedTradePaymentTerms", ns):
        description = t(term, "ram:Description")
        if description:
            terms.append(description)
        due = r.cii_date("BT-9", f(term, "ram:DueDateDateTime/udt:DateTimeString"))
        if due is not None and due_date is None:
            due_date = due  # the first due date the terms give
    payable = r.amount("BT-115", f(summation, "ram:DuePayableAmount"), signed=True)
    if payable is None and "BT-115" not in r.errors and currency:
        r.add("BT-115", f"is missing (the amount due for payment, {names.summation}/ram:DuePayableAmount)")
    tax_total = None
    for amount in (summation.findall("ram:TaxTotalAmount", ns) if summation is not None else []):
        if (amount.get("currencyID") or currency) == currency:  # BT-110 is the one in the invoice currency
            tax_total = r.amount("BT-110", amount, signed=True)
            break
    soft = r.lenient()  # fields only the debtor's view shows
    lines = []
    for item in transaction.findall("ram:IncludedSupplyChainTradeLineItem", ns):
        quantity = f(item, f"{names.line_delivery}/ram:BilledQuantity")
        price = f(item, f"{names.line_agreement}/ram:NetPriceProductTradePrice")
        line_tax = f(item, f"{names.line_settlement}/ram:ApplicableTradeTax")
        lines.append(
            Line(
                line_id=t(item, "ram:AssociatedDocumentLineDocument/ram:LineID"),
                name=t(item, "ram:SpecifiedTradeProduct/ram:Name"),
                quantity=r.decimal("BT-129", quantity),
                unit=quantity.get("unitCode") if quantity is not None else None,
                net_minor=r.amount(
                    "BT-131", f(item, f"{names.line_settlement}/{names.line_summation}/ram:LineTotalAmount"), signed=True
                ),
                unit_price=soft.decimal("BT-146", f(price, "ram:ChargeAmount")),
                price_base=soft.decimal("BT-149", f(price, "ram:BasisQuantity")),
                vat_category=t(line_tax, "ram:CategoryCode"),
                vat_percent=soft.decimal("BT-152", f(line_tax, names.tax_percent)),
                description=t(item, "ram:SpecifiedTradeProduct/ram:Description"),
            )
        )
    taxes = tuple(
        TaxBreakdown(
            category=t(tax, "ram:CategoryCode"),
            percent=r.decimal("BT-119", f(tax, names.tax_percent)),
            basis_minor=r.amount("BT-116", f(tax, "ram:BasisAmount"), signed=True),
            tax_minor=r.amount("BT-117", f(tax, "ram:CalculatedAmount"), signed=True),
            exemption_reason=t(tax, "ram:ExemptionReason"),
        )
        for tax in settlement.findall("ram:ApplicableTradeTax", ns)
    )
    allowances = tuple(
        AllowanceCharge(
            charge=(t(ac, "ram:ChargeIndicator/udt:Indicator") or "").lower() == "true",
            amount_minor=soft.amount("BT-92", f(ac, "ram:ActualAmount"), signed=True),
            reason=t(ac, "ram:Reason"),
            vat_category=t(ac, "ram:CategoryTradeTax/ram:CategoryCode"),
            vat_percent=soft.decimal("BT-96", f(ac, f"ram:CategoryTradeTax/{names.tax_percent}")),
        )
        for ac in settlement.findall("ram:SpecifiedTradeAllowanceCharge", ns)
    )
    accounts = []
    means_code = None
    for means in settlement.findall("ram:SpecifiedTradeSettlementPaymentMeans", ns):
        means_code = means_code or t(means, "ram:TypeCode")
        account = f(means, "ram:PayeePartyCreditorFinancialAccount")
        iban = t(account, "ram:IBANID") or t(account, "ram:ProprietaryID")
        if iban:
            accounts.append(PaymentAccount(iban=iban, name=t(account, "ram:AccountName"),
                                           bic=t(means, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID")))
    period_elem = f(settlement, "ram:BillingSpecifiedPeriod")
    period = None
    if period_elem is not None:
        start = soft.cii_date("BT-73", f(period_elem, "ram:StartDateTime/udt:DateTimeString"))
        end = soft.cii_date("BT-74", f(period_elem, "ram:EndDateTime/udt:DateTimeString"))
        period = (start, end) if start or end else None
    buyer = party(f(agreement, "ram:BuyerTradeParty"))
    if buyer.name is None:
        r.add("BT-44", "is missing (the buyer name, ram:BuyerTradeParty/ram:Name)")
    preceding = []
    for ref in settlement.findall("ram:InvoiceReferencedDocument", ns):
        ref_id = t(ref, "ram:IssuerAssignedID") or t(ref, "ram:ID")
        if ref_id:
            preceding.append((ref_id, r.cii_date("BT-26", f(ref, "ram:FormattedIssueDateTime/qdt:DateTimeString"))))
    ibans = []
    for account in settlement.findall("ram:SpecifiedTradeSettlementPaymentMeans/ram:PayeePartyCreditorFinancialAccount", ns):
        iban = t(account, "ram:IBANID") or t(account, "ram:ProprietaryID")
        if iban:
            ibans.append(iban)
    fields = dict(
        syntax=names.syntax,
        profile=t(root, f"{names.context}/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"),
        type_code=type_code,
        is_credit_note=type_code in CREDIT_NOTE_TYPES,
        number=number,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        payable_minor=payable,
        total_minor=r.amount("BT-112", f(summation, "ram:GrandTotalAmount"), signed=True),
        prepaid_minor=r.amount("BT-113", f(summation, "ram:TotalPrepaidAmount"), signed=True),
        net_minor=r.amount("BT-109", f(summation, "ram:TaxBasisTotalAmount"), signed=True),
        tax_minor=tax_total,
        terms=tuple(terms),
        buyer_reference=t(agreement, "ram:BuyerReference"),
        order_ref=t(agreement, f"ram:BuyerOrderReferencedDocument/{names.order_id}"),
        payment_reference=t(settlement, "ram:PaymentReference"),
        preceding=tuple(preceding),
        seller=party(f(agreement, "ram:SellerTradeParty")),
        buyer=buyer,
        seller_ibans=tuple(ibans),
        lines=tuple(lines),
        taxes=taxes,
        notes=tuple(n for n in (text(e) for e in document.findall("ram:IncludedNote/ram:Content", ns)) if n),
        delivery_date=soft.cii_date(
            "BT-72", f(transaction, f"{names.delivery}/ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/udt:DateTimeString")
        ),
        period=period,
        line_total_minor=soft.amount("BT-106", f(summation, "ram:LineTotalAmount"), signed=True),
        allowances=allowances,
        accounts=tuple(accounts),
        payment_means=means_code,
    )
    if r.errors:
        raise EInvoiceError(r.errors)
    return EInvoice(**fields)
