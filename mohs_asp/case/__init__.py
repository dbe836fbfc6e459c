"""The case: its text read (reading), checked against the one table of the format (format, field_checks,
check, words), that table as a JSON Schema (schema), and JSON Lines of cases (jsonl)."""
