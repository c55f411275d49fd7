-- The audit chain: one link per audit record (check, fired notice, decision, measure change),
-- written in the record's own append transaction (see holdfire.adapters.store.audit).
-- Additive: a new table that an older holdfire never reads. Audit records already in the log
-- predate the chain, which starts from the genesis hash at the next one.
-- holdfire: safe-at-start
CREATE TABLE audit_chain (
    pos  bigint PRIMARY KEY,
    seq  bigint NOT NULL UNIQUE REFERENCES events (seq),
    prev text NOT NULL,
    hash text NOT NULL
);
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION holdfire_append_only('audit chain links');
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION holdfire_append_only('audit chain links');
