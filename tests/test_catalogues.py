"""The German catalogues of all features are merged into one (Flask-Babel reads every `translations`
folder; for a message in two of them the last one wins). So no two catalogues may translate the same
English message (and context) differently: the page would show whichever happened to load last.
Words that mean different things in different places get a context (pgettext) or their own msgid."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1] / "portal"


def translations() -> dict[tuple, dict[str, list[str]]]:
    seen: dict[tuple, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for po in sorted(ROOT.rglob("messages.po")):
        with po.open("rb") as f:
            catalogue = read_po(f)
        for message in catalogue:
            if not message.id or not message.string or message.fuzzy:
                continue
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
            seen[(message.context, msgid)][" | ".join(strings)].append(str(po.relative_to(ROOT.parent)))
    return seen


def test_there_are_several_catalogues_to_compare():
    assert len(list(ROOT.rglob("messages.po"))) >= 3


def test_no_two_catalogues_translate_one_message_differently():
    clashes = {
        (f"[{context}] " if context else "") + msgid: {text: where for text, where in variants.items()}
        for (context, msgid), variants in translations().items() if len(variants) > 1
    }
    assert not clashes, "translated differently in different catalogues (last one wins):\n" + "\n".join(
        f"  {msgid!r}: {variants}" for msgid, variants in sorted(clashes.items()))
