"""The dunning engine: policies per customer group, the escalation state machine, the daily run and handover."""
