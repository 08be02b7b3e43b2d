"""Messages to debtors and staff: the outbox, rendering, and the channels that deliver them."""
