"""The one error an e-invoice can raise: every problem, keyed by the business term it concerns.

Keys are EN 16931 business terms ("BT-9", "BG-3") or "" for the file as a whole (not
XML, a DTD, no embedded invoice …), so the API answers `{"BT-9": ["…"]}` and the
command line prints "BT-9: …".
"""
from __future__ import annotations


class EInvoiceError(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        self.errors = {key: list(messages) for key, messages in errors.items()}
        super().__init__(self.summary())

    @classmethod
    def document(cls, message: str) -> "EInvoiceError":
        return cls({"": [message]})

    def summary(self) -> str:
        return "; ".join(f"{key}: {m}" if key else m for key, messages in self.errors.items() for m in messages)
