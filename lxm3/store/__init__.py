"""The experiment database (SQLite by default)."""
