"""Invoice intake: the same rules for the JSON API and the CSV import."""
