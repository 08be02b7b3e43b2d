"""Flask-free business rules: money, references, links, intake validation, escalation."""
