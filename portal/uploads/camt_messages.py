"""Problems with a bank statement (camt.053 / camt.054) as a merchant reads them, in their language.

`portal.domain.camt`, the ZIP reader and `portal.payments.reconcile` report in English
(the command line prints that as it is), prefixed by where the problem is: the file (or
"file.zip/member.xml"), then the statement and entry ("statement 2025-11, entry 3: …").
Here the prefixes and every known text become a translated sentence; the libxml2 detail
of a syntax error stays in parentheses, as it names the byte and line that need fixing.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

_NOT_UTF8 = _l("The file is not valid UTF-8 (it may be in another encoding without saying so, or contain a lone "
               "surrogate); please export the statement again as UTF-8.")

# (pattern of the English text, translated sentence)
CAMT_MESSAGES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"the file is empty"), _l("The file is empty.")),
    (re.compile(r"refused: the file declares a DTD or entities.*"),
     _l("Refused: the file declares a DTD or entities, which a bank statement must not contain.")),
    (re.compile(r"not a camt\.053 or camt\.054 message \(versions 001\.02 to 001\.08\): root element '(?P<root>[^']*)' "
                r"in namespace (?P<ns>.+)"),
     _l("This is not a camt.053 or camt.054 bank statement (versions 001.02 to 001.08): the root element is "
        "“%(root)s” in the namespace %(ns)s.")),
    (re.compile(r"(?P<type>camt\.05[34]\.001\.\d\d): expected (?P<tag>\w+) under Document"),
     _l("%(type)s: the element %(tag)s is missing under Document.")),
    (re.compile(r"(?P<type>camt\.053\.001\.\d\d): the file contains no statement \(Stmt\)"),
     _l("%(type)s: the file contains no statement (Stmt).")),
    (re.compile(r"(?P<type>camt\.054\.001\.\d\d): the file contains no notification \(Ntfctn\)"),
     _l("%(type)s: the file contains no notification (Ntfctn).")),
    (re.compile(r"not well-formed XML: (?P<detail>.+)", re.S), _l("This is not well-formed XML (%(detail)s).")),
    # character encodings
    (re.compile(r"the file declares the character encoding '(?P<enc>[^']*)', which is unknown; .+"),
     _l("The file declares the character encoding “%(enc)s”, which is unknown; please export the statement again as "
        "UTF-8.")),
    (re.compile(r"the file declares the character encoding '(?P<enc>[^']*)', but it is not written in it; .+"),
     _l("The file declares the character encoding “%(enc)s” but is not written in it; please export the statement "
        "again as UTF-8.")),
    (re.compile(r"the file contains a NUL byte \(at byte (?P<byte>\d+)\): .+"),
     _l("The file contains a NUL byte (at byte %(byte)s): it is not a text file, or it is damaged.")),
    (re.compile(r"the file contains a NUL character: .+( \(.+\))?", re.S),
     _l("The file contains a NUL character: it is not a text file, or it is damaged.")),
    (re.compile(r"the file contains a lone surrogate \(half of a UTF-16 character pair\): .+", re.S),
     _l("The file contains a lone surrogate (half of a UTF-16 character pair): it is damaged; please export the "
        "statement again.")),
    (re.compile(r"the file contains a character reference to a character XML does not allow .+", re.S),
     _l("The file refers to a character that XML does not allow (a NUL or a lone surrogate): it is damaged.")),
    (re.compile(r"the file is not valid UTF-8 \(it may be another encoding .+", re.S), _NOT_UTF8),
    (re.compile(r"the file is not valid (?P<codec>.+?) as its byte order mark says \(byte (?P<byte>\d+)\); .+"),
     _l("The file is not valid %(codec)s, as its byte order mark says it is (byte %(byte)s); please export the "
        "statement again as UTF-8.")),
    (re.compile(r"the file is not valid (?P<codec>.+?) as its first bytes says \(byte (?P<byte>\d+)\); .+"),
     _l("The file is not valid %(codec)s, as its first bytes suggest (byte %(byte)s); please export the statement "
        "again as UTF-8.")),
    (re.compile(r"the file is not valid (?P<codec>.+?) as its declaration \((?P<enc>[^()]*)\) says \(byte (?P<byte>\d+)\); .+"),
     _l("The file is not valid %(codec)s, as its declaration (%(enc)s) says it is (byte %(byte)s); please export the "
        "statement again as UTF-8.")),
    # an entry
    (re.compile(r"the amount \(Amt\) is missing"), _l("the amount (Amt) is missing.")),
    (re.compile(r"the amount has no currency \(Ccy\)"), _l("the amount has no currency (Ccy).")),
    (re.compile(r"'(?P<raw>[^']*)' is not an amount"), _l("“%(raw)s” is not an amount.")),
    (re.compile(r"amounts are never negative in camt .+"),
     _l("the amount is negative; camt amounts never are (the direction is given by CdtDbtInd).")),
    (re.compile(r"unknown currency '(?P<cur>[^']*)'"), _l("“%(cur)s” is not a currency code.")),
    (re.compile(r"(?P<cur>[A-Z]{3}) amounts have at most (?P<n>\d+) decimal places"),
     _l("%(cur)s amounts have at most %(n)s decimal places.")),
    (re.compile(r"not an amount(?:: .*)?"), _l("the amount cannot be read.")),
    (re.compile(r"'(?P<raw>[^']*)' is not a date"), _l("“%(raw)s” is not a date.")),
    (re.compile(r"CdtDbtInd must be CRDT or DBIT, not (?P<raw>.+)"),
     _l("the direction (CdtDbtInd) must be CRDT or DBIT, not %(raw)s.")),
    (re.compile(r"the status \(Sts\) is missing"), _l("the status (Sts) is missing.")),
    # ZIP files
    (re.compile(r"not a readable ZIP file.*", re.S), _l("This is not a readable ZIP file.")),
    (re.compile(r"the ZIP holds (?P<n>\d+) files; at most (?P<max>\d+) are read in one import"),
     _l("The ZIP holds %(n)s files; at most %(max)s are read in one import.")),
    (re.compile(r"the ZIP contains no files"), _l("The ZIP contains no files.")),
    (re.compile(r"the ZIP file holds no \.xml statement"), _l("The ZIP holds no bank statement (.xml file).")),
    (re.compile(r"the ZIP unpacks to more than (?P<max>\d+ (?:MB|bytes)) \(it declares (?P<size>\d+ (?:MB|bytes))\)"),
     _l("Unpacked, the ZIP would be larger than %(max)s (it declares %(size)s).")),
    (re.compile(r"the ZIP unpacks to more than (?P<max>\d+ (?:MB|bytes))"), _l("Unpacked, the ZIP would be larger than %(max)s.")),
    (re.compile(r"is encrypted \(password-protected\).*"),
     _l("This file is encrypted (password-protected); please upload it without a password.")),
    (re.compile(r"is compressed with (?P<method>.+), which cannot be read; .+"),
     _l("This file is compressed with %(method)s, which cannot be read; please pack it again with ordinary ZIP "
        "compression (Deflate).")),
    (re.compile(r"is larger than (?P<max>\d+ (?:MB|bytes)) unpacked"), _l("Unpacked, this file is larger than %(max)s.")),
    (re.compile(r"is damaged and cannot be unpacked.*", re.S), _l("This file is damaged and cannot be unpacked; please pack the ZIP again.")),
]

_ENTRY = re.compile(r"statement (?P<statement>.+?), entry (?P<entry>\d+): (?P<rest>.+)", re.S)
_FILE = re.compile(r"(?P<file>[^:\n]+?): (?P<rest>.+)", re.S)


def _match(text: str) -> str | None:
    from portal.uploads.messages import LINE_MESSAGES, _match as match

    return match(CAMT_MESSAGES, text) or match(LINE_MESSAGES, text)


def explain(message: str) -> str:
    """One camt / reconciliation message, translated, with its file and entry in front."""
    text = _match(message)
    if text is not None:
        return text
    m = _ENTRY.fullmatch(message)
    if m is not None:
        problem = _match(m.group("rest"))
        if problem is not None:
            return _("Statement %(statement)s, entry %(entry)s: %(problem)s", statement=m.group("statement"),
                     entry=m.group("entry"), problem=problem)
    m = _FILE.fullmatch(message)
    if m is not None:
        rest = explain(m.group("rest"))
        if rest != m.group("rest"):
            return _("%(file)s: %(problem)s", file=m.group("file"), problem=rest)
    return message


def split_file(message: str, filename: str) -> tuple[str | None, str]:
    """(the file or ZIP member a message is about, the message without it)."""
    if message.startswith(filename + "/"):
        member, sep, rest = message[len(filename) + 1:].partition(": ")
        if sep:
            return f"{filename}/{member}", rest
    if message.startswith(filename + ": "):
        return filename, message[len(filename) + 2:]
    return None, message
