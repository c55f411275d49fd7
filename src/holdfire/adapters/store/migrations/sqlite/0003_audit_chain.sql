-- The audit chain: one link per audit record (check, fired notice, decision, measure change),
-- written in the record's own append transaction (see holdfire.adapters.store.audit).
-- Additive: a new table that an older holdfire never reads. Audit records already in the log
-- predate the chain, which starts from the genesis hash at the next one.
-- holdfire: safe-at-start
CREATE TABLE audit_chain (
    pos  INTEGER PRIMARY KEY,
    seq  INTEGER NOT NULL UNIQUE REFERENCES events (seq),
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only: UPDATE is not allowed'); END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only: DELETE is not allowed'); END;
