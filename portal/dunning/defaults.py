"""The German default policies every merchant starts with (data; staff may change them).

Steps (days from the due date): pre-due reminder −3 (with the § 286 (3) BGB notice for
consumers), friendly reminder +7 (no fee), first Mahnung +21 (puts the debtor in
default), second Mahnung +35 (with fee), final notice +49 announcing the handover,
handover +63. Three customer groups: older customers (70+) get letters first,
mobile-first customers (under 30) get SMS first, everyone else email first.
"""
from __future__ import annotations

from sqlalchemy import Connection, insert

# (key, offset, template, fee_minor (by letter: postage and print, at most merchant.letter_cost_minor; email and
# SMS cost 0), legal, payment_days, notice_286)
STEPS = [
    ("pre_due", -3, "pre_due_reminder", 0, "reminder", 0, True),
    ("reminder", 7, "payment_reminder", 0, "reminder", 7, False),
    ("notice_1", 21, "first_notice", 0, "default_notice", 10, False),
    ("notice_2", 35, "second_notice", 125, "reminder", 10, False),
    ("final", 49, "final_notice", 125, "final_notice", 10, False),
    ("handover", 63, "handover_notice", 0, "handover", 0, False),
]

EMAIL_FIRST = ["email", "letter"]
LETTER_FIRST = ["letter", "email"]
SMS_FIRST = ["sms", "email", "letter"]

# (name, priority, rules, channels per step key; default for steps not listed)
POLICIES = [
    ("Ältere Kundschaft (ab 70 Jahren)", 10, {"match_kind": "person", "match_age_min": 70}, {}, LETTER_FIRST),
    (
        "Mobile first (bis 29 Jahre)",
        20,
        {"match_kind": "person", "match_age_max": 29},
        {"final": LETTER_FIRST, "handover": LETTER_FIRST},
        SMS_FIRST,
    ),
    ("Standard", 100, {}, {"final": LETTER_FIRST, "handover": LETTER_FIRST}, EMAIL_FIRST),
]


def seed_rows(connection: Connection, merchant_id: int) -> None:
    """Insert the default policies for a new merchant on the given connection."""
    from portal.models.dunning import Policy, PolicyStep

    for name, priority, rules, per_step, channels in POLICIES:
        policy_id = connection.execute(
            insert(Policy.__table__).values(merchant_id=merchant_id, name=name, priority=priority, active=True, **rules)
        ).inserted_primary_key[0]
        connection.execute(
            insert(PolicyStep.__table__),
            [
                {
                    "policy_id": policy_id,
                    "key": key,
                    "position": position,
                    "offset_days": offset,
                    "offset_from": "due",
                    "channels": per_step.get(key, channels),
                    "template": template,
                    "fee_minor": fee,
                    "legal": legal,
                    "payment_days": payment_days,
                    "notice_286": notice,
                }
                for position, (key, offset, template, fee, legal, payment_days, notice) in enumerate(STEPS, start=1)
            ],
        )
