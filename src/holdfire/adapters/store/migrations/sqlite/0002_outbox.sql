-- The outbox: events a cluster node has still to publish to the other nodes. Additive: a new
-- table that an older holdfire never reads.
-- holdfire: safe-at-start
CREATE TABLE outbox (
    seq  INTEGER PRIMARY KEY REFERENCES events (seq),
    node TEXT NOT NULL
);
CREATE INDEX outbox_node ON outbox (node, seq);
