"""The policy editor: customer groups and their dunning steps as the merchant's own data.

`service` reads a submitted form into a draft, checks that the draft keeps the dunning
lawful (each refusal a translated sentence), saves it as a new version of the group
(invoices keep the version they were put under) and moves an invoice to another group.
`preview` renders every step of a draft for a sample debtor of its group with the same
functions the worker uses (portal.messaging.render). The pages: portal/office/policies.py.
"""
