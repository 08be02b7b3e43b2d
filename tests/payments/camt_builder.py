"""Small camt.053 documents for tests, written the way banks write them."""
from __future__ import annotations

from xml.sax.saxutils import escape


def entry(amount: str, *, direction="CRDT", status="BOOK", ref=None, rf=None, text=None, name=None, iban=None,
          reversal=False, e2e=None, currency="EUR", version=2, booked="2026-01-15") -> str:
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
    refs = f"<Refs><EndToEndId>{e2e}</EndToEndId></Refs>" if e2e else ""
    return (
        f'<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>'
        f"{'<RvslInd>true</RvslInd>' if reversal else ''}{sts}"
        f"<BookgDt><Dt>{booked}</Dt></BookgDt><ValDt><Dt>{booked}</Dt></ValDt>"
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
