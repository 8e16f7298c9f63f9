-- The transactional outbox, consumer registrations, per-consumer deliveries and dead letters.
CREATE SCHEMA events;

CREATE TABLE events.outbox (
    seq bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    version text NOT NULL,
    occurred_at timestamptz NOT NULL,
    correlation_id text,
    payload jsonb NOT NULL,
    fanned_out boolean NOT NULL DEFAULT false
);
CREATE INDEX outbox_pending ON events.outbox (seq) WHERE NOT fanned_out;

CREATE TABLE events.consumers (
    name text PRIMARY KEY,
    subjects text[] NOT NULL,
    registered_at timestamptz NOT NULL
);

CREATE TABLE events.deliveries (
    event_seq bigint NOT NULL REFERENCES events.outbox (seq),
    consumer text NOT NULL REFERENCES events.consumers (name),
    status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    leased_until timestamptz,
    last_error text,
    delivered_at timestamptz,
    PRIMARY KEY (event_seq, consumer)
);
CREATE INDEX deliveries_due ON events.deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE events.dead_letters (
    id uuid PRIMARY KEY,
    event_seq bigint NOT NULL,
    consumer text NOT NULL,
    attempts integer NOT NULL,
    error text NOT NULL,
    dead_at timestamptz NOT NULL,
    replayed_at timestamptz
);
CREATE INDEX dead_letters_open ON events.dead_letters (dead_at) WHERE replayed_at IS NULL;

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT USAGE ON SCHEMA events TO %I', server_role);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA events TO %I', server_role);
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA events TO %I', server_role);
    END IF;
END $$;
