-- Payments a card processor announced by signed webhook: one row per provider event, whatever
-- became of it (credited, ignored as not a payment, or unmatched: a payment billing could not
-- place, left for an operator). (provider, provider_event_id) is what makes a redelivery, or
-- a concurrent one, a no-op; a credited row names its journal transaction, whose source_id is
-- the same event id (journal_once credits it once, whatever runs it).
CREATE TABLE billing.payments (
    id uuid PRIMARY KEY,
    provider text NOT NULL CHECK (provider IN ('stripe')),
    -- Bounded like journal.source_id, which carries it.
    provider_event_id text NOT NULL CHECK (length(provider_event_id) BETWEEN 1 AND 200),
    event_type text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 255),
    organization_id uuid,
    amount_minor numeric(28, 9) CHECK (amount_minor >= 0),
    currency text CHECK (currency ~ '^[A-Z]{3}$'),
    status text NOT NULL CHECK (status IN ('credited', 'ignored', 'unmatched')),
    reason text CHECK (length(reason) <= 500),
    journal_id uuid REFERENCES billing.journal (id),
    received_at timestamptz NOT NULL,
    UNIQUE (provider, provider_event_id),
    -- A credit names its transaction and what it credited; nothing else names a transaction.
    CHECK ((status = 'credited') = (journal_id IS NOT NULL)),
    CHECK (status <> 'credited' OR (organization_id IS NOT NULL AND amount_minor > 0 AND currency IS NOT NULL)),
    CHECK (status = 'credited' OR reason IS NOT NULL)
);
CREATE INDEX payments_org ON billing.payments (organization_id, received_at);
CREATE INDEX payments_unmatched ON billing.payments (received_at) WHERE status = 'unmatched';

-- Append-only like the rest of the ledger.
CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON billing.payments
    FOR EACH ROW EXECUTE FUNCTION billing.reject_change();
CREATE TRIGGER payments_no_truncate BEFORE TRUNCATE ON billing.payments
    FOR EACH STATEMENT EXECUTE FUNCTION billing.reject_change();

-- The server's role may read and append, nothing else.
DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT ON billing.payments TO %I', server_role);
    END IF;
END $$;
