"""Every event kind the code can write reads as a translated sentence, in German and English."""
from __future__ import annotations

import functools
import re
import textwrap
from datetime import datetime, timezone

import pytest
from flask_babel import force_locale

from portal import timeline
from portal.models import Event
from tests.timeline import kinds_in_code

RAW = re.compile(r"amount_minor|_minor|=|\[\]|\{|\}|%\(|\bNone\b|\bTrue\b|\bFalse\b")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@functools.lru_cache(maxsize=1)
def _scan() -> kinds_in_code.Found:
    return kinds_in_code.scan(timeline.FAMILIES)


def written_kinds() -> dict[str, str]:
    found = _scan()
    assert not found.unresolved, "event kinds the scan cannot read:\n" + "\n".join(found.unresolved)
    return found.kinds


def _event(kind: str, data: dict | None) -> Event:
    return Event(id=1, merchant_id=1, invoice_id=1, debtor_id=1, kind=kind, actor="system",
                 occurred_at=datetime(2026, 1, 15, 9, 30, tzinfo=timezone.utc), data=data)


def test_the_scan_finds_the_kinds_everyone_knows():
    kinds = written_kinds()
    for kind in ("invoice.created", "ledger.payment", "ledger.fee", "dunning.step", "message.sent", "link.opened",
                 "staff.invoice.cancel", "case.plan_completed", "request.dispute"):
        assert kind in kinds


def test_every_event_kind_the_code_writes_has_a_sentence():
    missing = {k: where for k, where in written_kinds().items() if k not in timeline.PRESENTERS}
    assert not missing, ("event kinds without a sentence in portal/timeline (register one with @presents): "
                         + ", ".join(f"{k} ({w})" for k, w in sorted(missing.items())))


@pytest.mark.parametrize("with_data", [True, False], ids=["example data", "no data"])
def test_every_kind_reads_as_a_translated_sentence_without_raw_data(app, with_data):
    problems = []
    with app.test_request_context():
        for kind in sorted(set(written_kinds()) | set(timeline.PRESENTERS)):
            event = _event(kind, timeline.EXAMPLES.get(kind) if with_data else None)
            texts = {}
            for locale in ("de", "en"):
                with force_locale(locale):
                    texts[locale] = timeline.sentence(event)
            for locale, text in texts.items():
                if not text.strip() or RAW.search(text) or kind in text:
                    problems.append(f"{kind} [{locale}]: {text!r}")
            if ISO_DATE.search(texts["de"]):
                problems.append(f"{kind} [de] shows an ISO date: {texts['de']!r}")
            if texts["de"] == texts["en"]:
                problems.append(f"{kind}: not translated into German: {texts['en']!r}")
    assert not problems, "\n".join(problems)


def test_amounts_and_days_are_formatted_for_the_reader(app):
    event = _event("ledger.payment", {"amount_minor": -4990, "currency": "EUR", "source": "bank", "external_ref": "E-1"})
    ctx = timeline.Context(bank_days={"E-1": datetime(2026, 1, 14).date()})
    with app.test_request_context():
        with force_locale("de"):
            assert timeline.sentence(event, ctx) == "Zahlung über 49,90\xa0€ per Überweisung erhalten (Kontoauszug vom 14.01.2026)"
        with force_locale("en"):
            assert timeline.sentence(event, ctx) == "Payment of €49.90 received by bank transfer (statement of Jan 14, 2026)"


def test_a_kind_added_without_a_sentence_is_noticed(tmp_path, monkeypatch):
    """The scan reads new code: a new literal kind, or one passed through a helper, shows up."""
    package = tmp_path / "portal"
    package.mkdir()
    (package / "feature.py").write_text(textwrap.dedent('''
        from portal.models import Event

        def _note(invoice, kind, actor):
            db.session.add(Event.on_invoice(invoice, kind, actor))

        def handover_letter_printed(invoice):
            _note(invoice, "handover.letter_printed", "system")
            db.session.add(Event(merchant_id=1, kind=f"webhook.{outcome}", actor="system"))
    '''))
    monkeypatch.setattr(kinds_in_code, "ROOT", package)
    found = kinds_in_code.scan(timeline.FAMILIES)
    assert "handover.letter_printed" in found.kinds
    assert "handover.letter_printed" not in timeline.PRESENTERS
    assert any("webhook.{}" in u for u in found.unresolved)
