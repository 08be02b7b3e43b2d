"""Outgoing webhooks to the shop: endpoints admins register, signed JSON deliveries sent by the worker.

`types` maps event kinds to webhook types and builds the bodies; `signing` signs them;
`addresses` decides which URLs may be called; `delivery` fans queued events out to endpoints
and sends them (called by the outbox worker); the admin pages are in `portal.office.webhooks`.
"""
