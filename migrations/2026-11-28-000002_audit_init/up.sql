-- Audit custody: an append-only, hash-chained event log and signed digests over it.
CREATE SCHEMA audit;

CREATE TABLE audit.events (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    id uuid NOT NULL UNIQUE,
    occurred_at timestamptz NOT NULL,
    actor_kind text NOT NULL CHECK (actor_kind IN ('user', 'service_account', 'api_key', 'system')),
    actor_id text NOT NULL,
    actor_role text,
    on_behalf_of text,
    organization_id uuid,
    department_id uuid,
    project_id uuid,
    action text NOT NULL,
    target_type text NOT NULL,
    target_id text NOT NULL,
    result text NOT NULL CHECK (result IN ('success', 'denied', 'failed')),
    reason text,
    correlation_id text,
    client_ip text,
    user_agent text,
    -- Canonical JSON text, exactly as hashed.
    details text NOT NULL,
    retention_class text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);

CREATE INDEX events_occurred ON audit.events (occurred_at);
CREATE INDEX events_org ON audit.events (organization_id, seq);
CREATE INDEX events_action ON audit.events (action, seq);
CREATE INDEX events_target ON audit.events (target_type, target_id);
CREATE INDEX events_correlation ON audit.events (correlation_id);

CREATE TABLE audit.digests (
    number bigint PRIMARY KEY CHECK (number > 0),
    seq_from bigint NOT NULL,
    seq_to bigint NOT NULL CHECK (seq_to >= seq_from),
    last_hash text NOT NULL,
    prev_signature text NOT NULL,
    key_id text NOT NULL,
    created_at timestamptz NOT NULL,
    signature text NOT NULL
);

-- Custody is append-only whoever connects: rows may be inserted and read, never changed.
CREATE FUNCTION audit.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_change();
CREATE TRIGGER digests_append_only BEFORE UPDATE OR DELETE ON audit.digests
    FOR EACH ROW EXECUTE FUNCTION audit.reject_change();
CREATE TRIGGER digests_no_truncate BEFORE TRUNCATE ON audit.digests
    FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_change();

-- The server's role may read and append, nothing else.
DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT USAGE ON SCHEMA audit TO %I', server_role);
        EXECUTE format('GRANT SELECT, INSERT ON audit.events, audit.digests TO %I', server_role);
    END IF;
END $$;
