"""Which invoices the portal ticks at first: what the message asked for, else what is due."""
from portal.domain.statement import DueState, preselect

OVERDUE, DUE_TODAY, LATER, ON_HOLD = DueState("overdue", 5), DueState("due_today"), DueState("not_due", 20), DueState("paused_dispute")


def test_without_a_message_only_due_invoices_are_ticked():
    assert preselect([(1, OVERDUE), (2, LATER), (3, DUE_TODAY)], None) == [1, 3]


def test_a_message_ticks_exactly_its_own_invoices():
    assert preselect([(1, OVERDUE), (2, OVERDUE), (3, LATER)], frozenset({2})) == [2]


def test_a_reminder_before_the_due_date_ticks_the_invoice_it_is_about_and_no_other_not_yet_due_one():
    assert preselect([(1, LATER), (2, LATER)], frozenset({1})) == [1]


def test_invoices_on_hold_are_never_ticked_and_a_paid_message_falls_back_to_what_is_due():
    assert preselect([(1, ON_HOLD), (2, OVERDUE)], frozenset({1})) == [2]
    assert preselect([(1, ON_HOLD), (2, LATER)], None) == []
