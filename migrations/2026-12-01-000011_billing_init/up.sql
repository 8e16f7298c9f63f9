-- Billing: prices, usage capture and rating, and a double-entry ledger of immutable rows.
-- Money is in the currency's minor unit (cents for USD) as exact decimals: ledger amounts
-- keep 9 fractional digits (per-token charges are fractions of a cent), unit prices 12.
CREATE SCHEMA billing;

-- Price versions; a row never changes. The price of (product, unit, resource, currency) at
-- instant t is the highest version whose [effective_from, effective_to) holds t. An empty
-- resource_id prices every resource of the type; an empty resource_type prices the unit alone.
CREATE TABLE billing.prices (
    id uuid PRIMARY KEY,
    product text NOT NULL,
    unit text NOT NULL,
    resource_type text NOT NULL DEFAULT '',
    resource_id text NOT NULL DEFAULT '',
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    unit_price_minor numeric(28, 12) NOT NULL CHECK (unit_price_minor >= 0),
    effective_from timestamptz NOT NULL,
    effective_to timestamptz CHECK (effective_to IS NULL OR effective_to > effective_from),
    version integer NOT NULL CHECK (version > 0),
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    UNIQUE (product, unit, resource_type, resource_id, currency, version)
);

-- Ledger accounts: an organization's prepaid balance and promotional credit, and the
-- platform's revenue, grants, payments clearing and refunds (organization_id NULL).
CREATE TABLE billing.accounts (
    id uuid PRIMARY KEY,
    organization_id uuid,
    kind text NOT NULL CHECK (kind IN ('prepaid', 'promotional', 'revenue', 'grants', 'payments_clearing', 'refunds')),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL,
    CHECK ((organization_id IS NULL) = (kind IN ('revenue', 'grants', 'payments_clearing', 'refunds'))),
    UNIQUE NULLS NOT DISTINCT (organization_id, kind, currency),
    UNIQUE (id, currency)
);

-- Journal transactions: each references its source; a correction references what it corrects.
CREATE TABLE billing.journal (
    id uuid PRIMARY KEY,
    seq bigserial NOT NULL UNIQUE,
    organization_id uuid,
    kind text NOT NULL CHECK (kind IN ('usage', 'topup', 'grant', 'expiry', 'payment', 'refund', 'correction')),
    source_type text NOT NULL CHECK (source_type IN ('usage_batch', 'operator', 'grant', 'payment', 'usage_event', 'period', 'journal')),
    source_id text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 200),
    corrects uuid REFERENCES billing.journal (id),
    reason text CHECK (length(reason) <= 500),
    actor text NOT NULL,
    correlation_id text,
    created_at timestamptz NOT NULL,
    CHECK ((kind = 'correction') = (corrects IS NOT NULL))
);
CREATE INDEX journal_org ON billing.journal (organization_id, seq);
-- A grant expires once, and a payment credits once, whatever runs it.
CREATE UNIQUE INDEX journal_once ON billing.journal (kind, source_id) WHERE kind IN ('expiry', 'payment');
-- A transaction is corrected (reversed) at most once.
CREATE UNIQUE INDEX journal_corrected_once ON billing.journal (corrects);
CREATE INDEX journal_source ON billing.journal (source_type, source_id);

-- Promotional credit lots: drawn before the prepaid balance, highest priority first, then
-- the soonest expiry; value left at expires_at stops counting and is posted as an expiry.
CREATE TABLE billing.grants (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_minor numeric(28, 9) NOT NULL CHECK (amount_minor > 0),
    priority integer NOT NULL CHECK (priority BETWEEN 0 AND 1000),
    expires_at timestamptz,
    reason text NOT NULL,
    journal_id uuid NOT NULL REFERENCES billing.journal (id),
    created_at timestamptz NOT NULL
);
CREATE INDEX grants_org ON billing.grants (organization_id);

-- Postings: signed amounts (positive raises the account's balance). Every journal
-- transaction sums to zero per currency (checked at commit); a posting's currency is its
-- account's. A promotional posting names the lot it draws on or fills.
CREATE TABLE billing.postings (
    id bigserial PRIMARY KEY,
    journal_id uuid NOT NULL REFERENCES billing.journal (id),
    account_id uuid NOT NULL,
    currency text NOT NULL,
    grant_id uuid REFERENCES billing.grants (id),
    amount_minor numeric(28, 9) NOT NULL CHECK (amount_minor <> 0),
    FOREIGN KEY (account_id, currency) REFERENCES billing.accounts (id, currency)
);
CREATE INDEX postings_journal ON billing.postings (journal_id);
CREATE INDEX postings_account ON billing.postings (account_id);

-- Credit lines: versions, the latest applies; how far an organization's prepaid balance
-- may go below zero.
CREATE TABLE billing.credit_lines (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    limit_minor numeric(28, 9) NOT NULL CHECK (limit_minor >= 0),
    reason text NOT NULL,
    set_by text NOT NULL,
    set_at timestamptz NOT NULL,
    seq bigserial NOT NULL UNIQUE
);
CREATE INDEX credit_lines_org ON billing.credit_lines (organization_id, currency, seq);

-- Captured usage, as products sent it; (product, event_id) is the idempotency key.
CREATE TABLE billing.usage_events (
    id uuid PRIMARY KEY,
    product text NOT NULL,
    event_id text NOT NULL,
    unit text NOT NULL,
    quantity numeric(28, 6) NOT NULL CHECK (quantity >= 0),
    organization_id uuid NOT NULL,
    department_id uuid NOT NULL,
    project_id uuid NOT NULL,
    actor_kind text NOT NULL CHECK (actor_kind IN ('api_key', 'service_account', 'user')),
    actor_id text NOT NULL,
    resource_type text NOT NULL,
    resource_id text NOT NULL,
    usage_source text NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    correlation_id text,
    attributes jsonb NOT NULL DEFAULT '{}',
    batch_id uuid NOT NULL,
    UNIQUE (product, event_id)
);
CREATE INDEX usage_org_time ON billing.usage_events (organization_id, occurred_at);

-- Rating: the price each event used (its pricing snapshot) and its amount. An event with
-- no row here is unrated: accepted, never silently zero. journal_id is NULL only when the
-- amount is zero (nothing to post).
CREATE TABLE billing.ratings (
    usage_id uuid PRIMARY KEY REFERENCES billing.usage_events (id),
    price_id uuid NOT NULL REFERENCES billing.prices (id),
    price_version integer NOT NULL,
    currency text NOT NULL,
    unit_price_minor numeric(28, 12) NOT NULL,
    amount_minor numeric(28, 9) NOT NULL CHECK (amount_minor >= 0),
    journal_id uuid REFERENCES billing.journal (id),
    rated_at timestamptz NOT NULL,
    CHECK (journal_id IS NOT NULL OR amount_minor = 0)
);
CREATE INDEX ratings_journal ON billing.ratings (journal_id);

-- Balance states of an organization's funds, each transition once.
CREATE TABLE billing.balance_states (
    seq bigserial PRIMARY KEY,
    organization_id uuid NOT NULL,
    currency text NOT NULL,
    state text NOT NULL CHECK (state IN ('healthy', 'low_balance', 'depleted')),
    available_minor numeric(28, 9) NOT NULL,
    -- The transaction that moved the funds; none when a credit line changed.
    journal_id uuid REFERENCES billing.journal (id),
    at timestamptz NOT NULL
);
CREATE INDEX balance_states_org ON billing.balance_states (organization_id, currency, seq);

-- Every journal transaction balances per currency and has at least two postings; checked
-- when the transaction commits, so its postings may be inserted in any order.
CREATE FUNCTION billing.check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    journal uuid;
    unbalanced text;
    legs bigint;
BEGIN
    IF TG_TABLE_NAME = 'journal' THEN
        journal := NEW.id;
    ELSE
        journal := NEW.journal_id;
    END IF;
    SELECT string_agg(currency || ' ' || total::text, ', ') INTO unbalanced FROM (
        SELECT currency, sum(amount_minor) AS total FROM billing.postings
        WHERE journal_id = journal GROUP BY currency HAVING sum(amount_minor) <> 0) s;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal transaction % does not balance: %', journal, unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*) INTO legs FROM billing.postings WHERE journal_id = journal;
    IF legs < 2 THEN
        RAISE EXCEPTION 'journal transaction % has % postings; at least 2 are needed', journal, legs
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_balanced AFTER INSERT ON billing.journal
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing.check_balanced();
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON billing.postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing.check_balanced();

-- Ledger, prices, usage and their history are append-only whoever connects.
CREATE FUNCTION billing.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing.% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['prices', 'accounts', 'journal', 'grants', 'postings', 'credit_lines',
                             'usage_events', 'ratings', 'balance_states'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON billing.%I FOR EACH ROW EXECUTE FUNCTION billing.reject_change()', t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON billing.%I FOR EACH STATEMENT EXECUTE FUNCTION billing.reject_change()', t || '_no_truncate', t);
    END LOOP;
END $$;

-- The server's role may read and append, nothing else.
DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT USAGE ON SCHEMA billing TO %I', server_role);
        EXECUTE format('GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA billing TO %I', server_role);
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA billing TO %I', server_role);
    END IF;
END $$;
