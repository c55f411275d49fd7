"""Store adapters: durable event log plus current state (SQLite here; PostgreSQL alongside)."""
