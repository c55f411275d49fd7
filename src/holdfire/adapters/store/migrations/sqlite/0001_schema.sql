-- The schema of holdfire's first release: event log, current state, audit, tokens.
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS events (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    at   TEXT NOT NULL,
    body TEXT NOT NULL CHECK (json_valid(body))
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;

CREATE TABLE IF NOT EXISTS units (
    uid  TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS positions (
    uid          TEXT NOT NULL,
    reporter_key TEXT NOT NULL,
    observed_at  TEXT NOT NULL,
    observed_us  INTEGER NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (uid, reporter_key)
);
CREATE INDEX IF NOT EXISTS positions_observed ON positions (observed_us);

CREATE TABLE IF NOT EXISTS measures (
    id     TEXT PRIMARY KEY,
    kind   TEXT NOT NULL,
    status TEXT NOT NULL,
    body   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS checks (
    id           TEXT PRIMARY KEY,
    evaluated_at TEXT NOT NULL,
    evaluated_us INTEGER NOT NULL,
    verdict      TEXT NOT NULL,
    requester    TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checks_time ON checks (evaluated_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS checks_verdict ON checks (verdict, evaluated_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS checks_requester ON checks (requester, evaluated_us DESC, id DESC);
CREATE TRIGGER IF NOT EXISTS checks_no_update BEFORE UPDATE ON checks
BEGIN SELECT RAISE(ABORT, 'checks are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER IF NOT EXISTS checks_no_delete BEFORE DELETE ON checks
BEGIN SELECT RAISE(ABORT, 'checks are append-only: DELETE is not allowed'); END;

CREATE TABLE IF NOT EXISTS alerts (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_created ON alerts (created_at);

CREATE TABLE IF NOT EXISTS mailbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient  TEXT NOT NULL,
    expires_us INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_recipient ON mailbox (recipient);

CREATE TABLE IF NOT EXISTS alert_acks (
    alert_id TEXT PRIMARY KEY,
    at       TEXT NOT NULL,
    by       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS check_records (
    id       TEXT PRIMARY KEY,
    check_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS check_records_check ON check_records (check_id);
CREATE TRIGGER IF NOT EXISTS check_records_no_update BEFORE UPDATE ON check_records
BEGIN SELECT RAISE(ABORT, 'check records are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER IF NOT EXISTS check_records_no_delete BEFORE DELETE ON check_records
BEGIN SELECT RAISE(ABORT, 'check records are append-only: DELETE is not allowed'); END;

CREATE TABLE IF NOT EXISTS pairings (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    revoked     INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_active_name ON tokens (name) WHERE revoked = 0;

CREATE TABLE IF NOT EXISTS alert_clears (
    alert_id TEXT PRIMARY KEY,
    at       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS messages (
    id   TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS deliveries (
    id         TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    code       TEXT NOT NULL,
    pending    INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_recipient ON deliveries (recipient);
CREATE INDEX IF NOT EXISTS deliveries_message ON deliveries (message_id);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (pending) WHERE pending = 1;
