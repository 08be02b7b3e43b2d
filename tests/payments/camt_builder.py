"""Small camt.053 documents for tests, written the way banks write them."""
from __future__ import annotations

from xml.sax.saxutils import escape


def entry(amount: str, *, direction="CRDT", status="BOOK", ref=None, rf=None, text=None, name=None, iban=None,
          reversal=False, e2e=None, currency="EUR", version=2, booked="2026-01-15", value=None, tx_ref=None) -> str:
    sts = f"<Sts><Cd>{status}</Cd></Sts>" if version >= 5 else f"<Sts>{status}</Sts>"
    dbtr = ""
    if name or iban:
        nm = (f"<Pty><Nm>{escape(name)}</Nm></Pty>" if version >= 8 else f"<Nm>{escape(name)}</Nm>") if name else ""
        acct = f"<DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct>" if iban else ""
        dbtr = f"<RltdPties><Dbtr>{nm}</Dbtr>{acct}</RltdPties>"
    rmt = ""
    if rf or text:
        strd = f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{rf}</Ref></CdtrRefInf></Strd>" if rf else ""
        rmt = f"<RmtInf>{f'<Ustrd>{escape(text)}</Ustrd>' if text else ''}{strd}</RmtInf>"
    refs = (f"<Refs>{f'<AcctSvcrRef>{tx_ref}</AcctSvcrRef>' if tx_ref else ''}"
            f"{f'<EndToEndId>{e2e}</EndToEndId>' if e2e else ''}</Refs>") if (e2e or tx_ref) else ""
    return (
        f'<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>'
        f"{'<RvslInd>true</RvslInd>' if reversal else ''}{sts}"
        f"<BookgDt><Dt>{booked}</Dt></BookgDt><ValDt><Dt>{value or booked}</Dt></ValDt>"
        f"{f'<AcctSvcrRef>{ref}</AcctSvcrRef>' if ref else ''}"
        f"<BkTxCd/><NtryDtls><TxDtls>{refs}{dbtr}{rmt}</TxDtls></NtryDtls></Ntry>"
    )


def statement(*entries: str, version: int = 2, stmt_id="STMT-1", iban="DE89370400440532013000") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version:02d}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-01-15T20:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{stmt_id}</Id><CreDtTm>2026-01-15T20:00:00</CreDtTm><Acct><Id><IBAN>{iban}</IBAN></Id></Acct>"
        + "".join(entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def batch(amount: str, parts: list[dict], *, ref=None, booked="2026-01-15", value=None) -> str:
    """One credit entry carrying several transactions (TxDtls), e.g. a collective booking in the camt.053."""
    def one(p: dict) -> str:
        tx_ref = f"<AcctSvcrRef>{p['tx_ref']}</AcctSvcrRef>" if p.get("tx_ref") else ""
        e2e = f"<EndToEndId>{p['e2e']}</EndToEndId>" if p.get("e2e") else ""
        rmt = f"<RmtInf><Strd><CdtrRefInf><Ref>{p['rf']}</Ref></CdtrRefInf></Strd></RmtInf>" if p.get("rf") else ""
        return (f"<TxDtls><Refs>{tx_ref}{e2e}</Refs><AmtDtls><TxAmt><Amt Ccy=\"EUR\">{p['amount']}</Amt></TxAmt>"
                f"</AmtDtls>{rmt}</TxDtls>")

    details = "".join(one(p) for p in parts)
    return (
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt><Dt>{booked}</Dt></BookgDt><ValDt><Dt>{value or booked}</Dt></ValDt>"
        f"{f'<AcctSvcrRef>{ref}</AcctSvcrRef>' if ref else ''}<BkTxCd/><NtryDtls>{details}</NtryDtls></Ntry>"
    )


def notification(*entries: str, ntfctn_id="NTF-1", iban="DE89370400440532013000") -> bytes:
    """An intraday camt.054.001.02 notification of the same account."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>'
        "<GrpHdr><MsgId>N1</MsgId><CreDtTm>2026-01-15T11:00:00</CreDtTm></GrpHdr>"
        f"<Ntfctn><Id>{ntfctn_id}</Id><CreDtTm>2026-01-15T11:00:00</CreDtTm><Acct><Id><IBAN>{iban}</IBAN></Id></Acct>"
        + "".join(entries)
        + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()
