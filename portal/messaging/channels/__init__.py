"""Delivery channels: email (SMTP), SMS (an HTTP provider), letter (PDF for the print batch)."""
from __future__ import annotations


class ChannelError(Exception):
    """A failed delivery attempt; `permanent` ones go straight to the next channel."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent
