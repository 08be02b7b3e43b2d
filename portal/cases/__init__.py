"""Installment plans, promises to pay and disputes: what debtors ask for and what staff decide.

Services here are called by the debtor portal, the back office and the daily run; they
write in the caller's transaction and never commit.
"""
