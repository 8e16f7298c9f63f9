-- Token Factory's own tables: the model catalog (models and the upstream endpoints serving
-- them) and per-request analytics with hourly and daily roll-ups. No balances, prices,
-- memberships or key material (TF-OWN-001): keys, money and limits stay in the platform, and
-- an endpoint names the environment variable holding its upstream credential, never the value.
CREATE SCHEMA token_factory;

-- One row per catalog change: every process reloads its catalog on the NOTIFY it sends.
CREATE TABLE token_factory.changes (
    id bigserial PRIMARY KEY,
    what text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE token_factory.models (
    id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,95}$'),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    -- chat serves /v1/chat/completions and /v1/completions; embedding serves /v1/embeddings.
    kind text NOT NULL CHECK (kind IN ('chat', 'embedding')),
    context_length integer NOT NULL CHECK (context_length BETWEEN 1 AND 10000000),
    max_output_tokens integer NOT NULL CHECK (max_output_tokens BETWEEN 0 AND 10000000),
    -- Models tried, in order, when none of this model's endpoints can take a request.
    fallbacks text[] NOT NULL DEFAULT '{}',
    premium boolean NOT NULL DEFAULT false,
    state text NOT NULL CHECK (state IN ('enabled', 'disabled')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE token_factory.endpoints (
    id uuid PRIMARY KEY,
    model_id text NOT NULL REFERENCES token_factory.models (id),
    name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    -- An OpenAI-compatible base URL (…/v1), or demo://echo and demo://embed, the built-in
    -- demo upstream served in process.
    base_url text NOT NULL CHECK (length(base_url) BETWEEN 1 AND 500),
    upstream_model text NOT NULL CHECK (length(upstream_model) BETWEEN 1 AND 200),
    credential_env text CHECK (credential_env ~ '^[A-Z_][A-Z0-9_]{0,127}$'),
    weight integer NOT NULL CHECK (weight BETWEEN 1 AND 1000),
    timeout_ms integer NOT NULL CHECK (timeout_ms BETWEEN 100 AND 3600000),
    max_in_flight integer NOT NULL CHECK (max_in_flight BETWEEN 1 AND 100000),
    created_at timestamptz NOT NULL,
    UNIQUE (model_id, name)
);

-- One row per request the gateway answered, written in batches off the request path.
CREATE TABLE token_factory.requests (
    request_id text PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    organization_id uuid NOT NULL,
    department_id uuid NOT NULL,
    project_id uuid NOT NULL,
    key_prefix text NOT NULL,
    route text NOT NULL,
    model text NOT NULL,
    endpoint text,
    status integer NOT NULL,
    error_code text,
    stream boolean NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    -- True when the upstream reported no usage and the gateway's count was billed.
    estimated boolean NOT NULL,
    upstream_input_tokens bigint,
    upstream_output_tokens bigint,
    counted_input_tokens bigint NOT NULL,
    counted_output_tokens bigint NOT NULL,
    latency_us bigint NOT NULL,
    overhead_us bigint NOT NULL,
    first_token_us bigint
);
CREATE INDEX requests_project_time ON token_factory.requests (project_id, occurred_at DESC);
CREATE INDEX requests_errors ON token_factory.requests (occurred_at DESC) WHERE status >= 400;

-- Roll-ups by hour and by day (bucket_start truncated in UTC), added to by the same batches.
CREATE TABLE token_factory.rollups (
    granularity text NOT NULL CHECK (granularity IN ('hour', 'day')),
    bucket_start timestamptz NOT NULL,
    organization_id uuid NOT NULL,
    project_id uuid NOT NULL,
    model text NOT NULL,
    key_prefix text NOT NULL,
    requests bigint NOT NULL,
    errors bigint NOT NULL,
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    latency_us_sum bigint NOT NULL,
    overhead_us_sum bigint NOT NULL,
    PRIMARY KEY (granularity, bucket_start, organization_id, project_id, model, key_prefix)
);

-- The built-in demo models, so a fresh install serves a working gateway with no external
-- model: deterministic, in process, enabled.
INSERT INTO token_factory.models
    (id, display_name, kind, context_length, max_output_tokens, state, created_at, updated_at)
VALUES
    ('demo-echo', 'Demo echo (built in)', 'chat', 8192, 1024, 'enabled', now(), now()),
    ('demo-embed', 'Demo embeddings (built in)', 'embedding', 8192, 0, 'enabled', now(), now());
INSERT INTO token_factory.endpoints
    (id, model_id, name, base_url, upstream_model, weight, timeout_ms, max_in_flight, created_at)
VALUES
    ('01938a00-0000-7000-8000-0000000000e1', 'demo-echo', 'demo', 'demo://echo', 'demo-echo',
     1, 30000, 10000, now()),
    ('01938a00-0000-7000-8000-0000000000e2', 'demo-embed', 'demo', 'demo://embed', 'demo-embed',
     1, 30000, 10000, now());
INSERT INTO token_factory.changes (what) VALUES ('seeded the demo models');

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT USAGE ON SCHEMA token_factory TO %I', server_role);
        EXECUTE format('GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA token_factory TO %I', server_role);
        EXECUTE format('GRANT UPDATE (state, updated_at) ON token_factory.models TO %I', server_role);
        EXECUTE format('GRANT DELETE ON token_factory.endpoints TO %I', server_role);
        EXECUTE format('GRANT UPDATE ON token_factory.rollups TO %I', server_role);
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA token_factory TO %I', server_role);
    END IF;
END $$;
