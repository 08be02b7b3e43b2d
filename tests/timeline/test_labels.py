"""Every label a merchant reads has German and English words (statuses, steps, pause reasons, channels …)."""
from __future__ import annotations

import re

from flask_babel import force_locale

from portal import i18n
from portal.dunning import defaults, escalation
from portal.models import InvoiceStatus, LedgerEntry, Message, PolicyStep
from portal.models.invoice import NEGATIVE_KINDS, POSITIVE_KINDS
from portal.timeline import labels

SAME_IN_BOTH = {"SMS", "Stripe"}


def _check_values(constraint_table, column: str) -> set[str]:
    """The values a CHECK constraint allows for a column (what the database can hold)."""
    for c in constraint_table.__table__.constraints:
        text = str(getattr(c, "sqltext", ""))
        if text.startswith(f"{column} IN") or f" {column} IN" in text:
            return set(re.findall(r"'([^']+)'", text))
    raise AssertionError(f"no CHECK constraint on {constraint_table.__name__}.{column}")


def _untranslated(app, table: dict, keys) -> list[str]:
    problems = []
    with app.test_request_context():
        for key in sorted(keys):
            if key not in table:
                problems.append(f"{key}: no label")
                continue
            with force_locale("de"):
                de = str(table[key])
            with force_locale("en"):
                en = str(table[key])
            if de == en and en not in SAME_IN_BOTH:
                problems.append(f"{key}: no German translation of {en!r}")
    return problems


def test_every_label_a_merchant_reads_is_translated(app):
    tables = [
        (i18n.STATUS_LABELS, {s.value for s in InvoiceStatus}),
        (i18n.LEDGER_LABELS, set(NEGATIVE_KINDS + POSITIVE_KINDS + ("adjustment",))),
        (i18n.MESSAGE_STATUS, _check_values(Message, "status")),
        (i18n.CHANNELS, _check_values(Message, "channel")),
        (labels.CHANNEL_BY, _check_values(Message, "channel")),
        (labels.PAUSE_REASONS, set(escalation.PAUSE_REASONS)),
        (labels.STEP_LABELS, {step[0] for step in defaults.STEPS}),
        (labels.LEGAL_LABELS, _check_values(PolicyStep, "legal")),
        (labels.SOURCES, _check_values(LedgerEntry, "source")),
    ]
    problems = []
    for table, keys in tables:
        problems += _untranslated(app, table, keys)
    # every other label dict: each entry translated
    for table in (labels.DEBTOR_FIELDS, labels.PAGES, labels.PAY_METHODS, labels.PURPOSES):
        problems += _untranslated(app, table, table.keys())
    assert not problems, "\n".join(problems)


def test_a_label_without_translation_is_noticed(app):
    from flask_babel import lazy_gettext as _l

    assert _untranslated(app, {"x": _l("A label nobody translated")}, {"x"}) == ["x: no German translation of 'A label nobody translated'"]
    assert _untranslated(app, {}, {"y"}) == ["y: no label"]


def test_steps_and_pause_reasons_read_as_words(app):
    with app.test_request_context(), force_locale("de"):
        assert labels.step_label("final") == "Letzte Mahnung"
        assert labels.step_label("my_own_step", "default_notice") == "Mahnung (begründet den Verzug)"
        assert labels.pause_reason("plan") == "Ratenzahlung vereinbart"
