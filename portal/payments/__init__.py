"""Payments: Stripe Checkout, bank transfer details with EPC QR codes, camt reconciliation."""
