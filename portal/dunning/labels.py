"""How the legal facts of the dunning run read to staff: which rule of § 286 BGB put a debtor in default."""
from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l

from portal.domain import default as law_default
from portal.i18n import format_day

DEFAULT_RULES = {
    law_default.NOTICE_DEADLINE: _l("§ 286 (1) BGB: the payment deadline of the notice has passed"),
    law_default.NOTICE_RECEIPT: _l("§ 286 (1) BGB: receipt of the notice"),
    law_default.THIRTY_DAYS: _l("§ 286 (3) BGB: 30 days after due date and receipt"),
}


def default_label(invoice) -> str:
    """"01.07.2025 · § 286 (3) BGB: … · interest from 02.07.2025", or a dash while the debtor is not in default."""
    if invoice.default_on is None:
        return "–"
    rule = DEFAULT_RULES.get(invoice.default_rule or "")
    parts = [format_day(invoice.default_on)]
    if rule is not None:
        parts.append(str(rule))
    parts.append(str(_l("interest from %(day)s", day=format_day(invoice.default_on + timedelta(days=1)))))
    return " · ".join(parts)
