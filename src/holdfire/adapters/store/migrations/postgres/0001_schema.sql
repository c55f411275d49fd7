-- The schema of holdfire's first release: event log, current state, audit, tokens.
-- Bodies are text holding the codec's JSON as written; `ord` columns keep insertion order.

CREATE FUNCTION holdfire_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% are append-only: % is not allowed', TG_ARGV[0], TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TABLE events (
    seq  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL,
    at   text NOT NULL,
    body text NOT NULL CHECK (body::jsonb IS NOT NULL)
);
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION holdfire_append_only('events');
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION holdfire_append_only('events');

CREATE TABLE units (
    uid  text PRIMARY KEY,
    body text NOT NULL
);

CREATE TABLE positions (
    uid          text NOT NULL,
    reporter_key text NOT NULL,
    observed_at  text NOT NULL,
    observed_us  bigint NOT NULL,
    body         text NOT NULL,
    PRIMARY KEY (uid, reporter_key)
);
CREATE INDEX positions_observed ON positions (observed_us);

CREATE TABLE measures (
    id     text PRIMARY KEY,
    kind   text NOT NULL,
    status text NOT NULL,
    body   text NOT NULL
);

CREATE TABLE checks (
    id           text PRIMARY KEY,
    evaluated_at text NOT NULL,
    evaluated_us bigint NOT NULL,
    verdict      text NOT NULL,
    requester    text NOT NULL,
    body         text NOT NULL
);
CREATE INDEX checks_time ON checks (evaluated_us DESC, id DESC);
CREATE INDEX checks_verdict ON checks (verdict, evaluated_us DESC, id DESC);
CREATE INDEX checks_requester ON checks (requester, evaluated_us DESC, id DESC);
CREATE TRIGGER checks_append_only BEFORE UPDATE OR DELETE ON checks
    FOR EACH ROW EXECUTE FUNCTION holdfire_append_only('checks');
CREATE TRIGGER checks_no_truncate BEFORE TRUNCATE ON checks
    FOR EACH STATEMENT EXECUTE FUNCTION holdfire_append_only('checks');

CREATE TABLE alerts (
    ord        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id         text PRIMARY KEY,
    kind       text NOT NULL,
    created_at text NOT NULL,
    body       text NOT NULL
);
CREATE INDEX alerts_created ON alerts (created_at);

CREATE TABLE mailbox (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient  text NOT NULL,
    expires_us bigint NOT NULL,
    body       text NOT NULL
);
CREATE INDEX mailbox_recipient ON mailbox (recipient);

CREATE TABLE alert_acks (
    alert_id text PRIMARY KEY,
    at       text NOT NULL,
    by       text NOT NULL
);

CREATE TABLE check_records (
    ord      bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id       text PRIMARY KEY,
    check_id text NOT NULL,
    kind     text NOT NULL,
    body     text NOT NULL
);
CREATE INDEX check_records_check ON check_records (check_id);
CREATE TRIGGER check_records_append_only BEFORE UPDATE OR DELETE ON check_records
    FOR EACH ROW EXECUTE FUNCTION holdfire_append_only('check records');

CREATE TABLE pairings (
    ord  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id   text PRIMARY KEY,
    body text NOT NULL
);

CREATE TABLE tokens (
    ord         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id          text PRIMARY KEY,
    name        text NOT NULL,
    secret_hash text NOT NULL UNIQUE,
    revoked     integer NOT NULL DEFAULT 0,
    body        text NOT NULL
);
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked = 0;

CREATE TABLE alert_clears (
    alert_id text PRIMARY KEY,
    at       text NOT NULL
);

CREATE TABLE messages (
    ord  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id   text PRIMARY KEY,
    code text NOT NULL,
    body text NOT NULL
);

CREATE TABLE deliveries (
    ord        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    id         text PRIMARY KEY,
    message_id text NOT NULL,
    recipient  text NOT NULL,
    code       text NOT NULL,
    pending    integer NOT NULL,
    body       text NOT NULL
);
CREATE INDEX deliveries_recipient ON deliveries (recipient);
CREATE INDEX deliveries_message ON deliveries (message_id);
CREATE INDEX deliveries_pending ON deliveries (pending) WHERE pending = 1;
