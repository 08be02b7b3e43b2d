"""Splitting one payment across several invoices, and taking a refund back from them.

Pure functions over amounts in minor units, in a fixed order the caller chooses
(oldest due first), so the same payment is always split the same way, whichever
event or statement delivers it first.
"""
from __future__ import annotations

from collections.abc import Sequence


def split(amount: int, caps: Sequence[int]) -> list[int]:
    """Fill each share up to its cap in order; what is left over goes to the last one (kept as credit).

    A shortfall leaves the later shares smaller (a partial payment pays the oldest first).
    """
    if amount < 0:
        raise ValueError("a payment is never negative")
    if not caps:
        raise ValueError("nothing to split across")
    shares = []
    left = amount
    for cap in caps:
        share = min(max(cap, 0), left)
        shares.append(share)
        left -= share
    shares[-1] += left
    return shares


def take_back(amount: int, booked: Sequence[int]) -> list[int]:
    """Spread a refund or chargeback over what was booked, newest share first (the reverse of `split`).

    Anything beyond the booked total lands on the first share, so nothing is ever dropped.
    """
    if amount < 0:
        raise ValueError("a refund is never negative")
    shares = [0] * len(booked)
    left = amount
    for index in range(len(booked) - 1, -1, -1):
        share = min(max(booked[index], 0), left)
        shares[index] = share
        left -= share
    if shares:
        shares[0] += left
    return shares
