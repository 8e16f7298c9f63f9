-- Usage captured for posting later: one row per capture group and organization, written in
-- the transaction that captures the usage (a product's hot path), then rated and posted in
-- batches by billing's poster, which sets posted_at in the transaction that posts
-- journal_id. Capturing is then one short transaction with no organization lock, instead of
-- capture, rating and posting under the lock on every request. Usage of a row not yet
-- posted counts against the spend guard of the process that captured it until then.
CREATE TABLE billing.usage_captures (
    journal_id uuid PRIMARY KEY,
    batch_id uuid NOT NULL,
    organization_id uuid NOT NULL,
    captured_at timestamptz NOT NULL,
    posted_at timestamptz,
    -- Rounds that failed with this capture on its own; at 3 the poster leaves it (its usage
    -- stays unrated, which reconciliation reports) instead of failing on it forever.
    failures integer NOT NULL DEFAULT 0,
    UNIQUE (batch_id, organization_id)
);
-- The poster's queue: only what waits.
CREATE INDEX usage_captures_waiting ON billing.usage_captures (captured_at) WHERE posted_at IS NULL;
-- The poster reads a capture's usage by its batch.
CREATE INDEX usage_batch ON billing.usage_events (batch_id);

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON billing.usage_captures TO %I', server_role);
    END IF;
END $$;
