"""The SQL schema, migrations and dialect-specific queries (SQLite and PostgreSQL)."""
