"""Why each lesion and line came out as it did, and what would have qualified (why)."""
