"""Store adapters: the durable event log plus current state, in SQLite (the embedded default) or
PostgreSQL (shared by cluster nodes); :func:`holdfire.adapters.store.factory.make_store` picks."""
