-- Policy: plans (versioned bundles of entitlements and limits), their assignment to
-- organizations, overrides at any scope, and the quota thresholds already announced.
-- Dimensions, products and resource types are registry ids, checked by the server.
CREATE SCHEMA policy;

-- One row per change: the highest id is the version every snapshot reports.
CREATE TABLE policy.changes (
    id bigserial PRIMARY KEY,
    what text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

-- A plan version never changes; a change is the next version.
CREATE TABLE policy.plans (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
    version integer NOT NULL CHECK (version > 0),
    description text NOT NULL,
    products text[] NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (name, version)
);

-- A plan's value for a dimension (empty resource: every resource).
CREATE TABLE policy.plan_limits (
    plan_id uuid NOT NULL REFERENCES policy.plans (id),
    dimension text NOT NULL,
    resource_type text NOT NULL DEFAULT '',
    resource_id text NOT NULL DEFAULT '',
    value_kind text NOT NULL CHECK (value_kind IN ('limit', 'unlimited', 'not_entitled')),
    amount bigint CHECK (amount >= 0),
    delegate boolean NOT NULL DEFAULT false,
    PRIMARY KEY (plan_id, dimension, resource_type, resource_id),
    CHECK ((value_kind = 'limit') = (amount IS NOT NULL))
);

-- An organization is on the plan of its latest assignment that has begun.
CREATE TABLE policy.assignments (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    plan_name text NOT NULL,
    effective_from timestamptz NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX assignments_by_organization ON policy.assignments (organization_id, effective_from);

-- An override applies at one scope until its expiry (checked at decision time) or until it
-- is cleared or replaced; at most one is live per scope, dimension and resource.
CREATE TABLE policy.overrides (
    id uuid PRIMARY KEY,
    level text NOT NULL CHECK (level IN ('global', 'plan', 'organization', 'department', 'project', 'principal', 'api_key')),
    scope_id text NOT NULL,
    organization_id uuid,
    project_id uuid,
    dimension text NOT NULL,
    resource_type text NOT NULL DEFAULT '',
    resource_id text NOT NULL DEFAULT '',
    value_kind text NOT NULL CHECK (value_kind IN ('limit', 'unlimited', 'not_entitled')),
    amount bigint CHECK (amount >= 0),
    delegate boolean NOT NULL DEFAULT false,
    reason text NOT NULL,
    author text NOT NULL,
    expires_at timestamptz,
    created_at timestamptz NOT NULL,
    cleared_at timestamptz,
    cleared_by text,
    CHECK ((value_kind = 'limit') = (amount IS NOT NULL)),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE UNIQUE INDEX overrides_live ON policy.overrides (level, scope_id, dimension, resource_type, resource_id)
    WHERE cleared_at IS NULL;
CREATE INDEX overrides_by_organization ON policy.overrides (organization_id, created_at);

-- Quota thresholds announced: one row (and one event) per threshold, scope and period.
CREATE TABLE policy.threshold_crossings (
    dimension text NOT NULL,
    level text NOT NULL,
    scope_id text NOT NULL,
    resource text NOT NULL DEFAULT '',
    period text NOT NULL,
    threshold_permille integer NOT NULL CHECK (threshold_permille BETWEEN 1 AND 1000),
    organization_id uuid NOT NULL,
    limit_amount bigint NOT NULL,
    used bigint NOT NULL,
    crossed_at timestamptz NOT NULL,
    PRIMARY KEY (dimension, level, scope_id, resource, period, threshold_permille)
);

-- A fresh install works: every organization starts on `default`, which entitles every
-- active product and leaves every dimension unlimited until an operator sets values.
INSERT INTO policy.plans (id, name, version, description, products, created_by, created_at)
VALUES ('01938a00-0000-7000-8000-000000000001', 'default', 1,
        'The plan every organization is on until assigned another: every product, no limits set.',
        ARRAY['*'], 'migration', now());
INSERT INTO policy.changes (what) VALUES ('seeded the default plan');

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT USAGE ON SCHEMA policy TO %I', server_role);
        EXECUTE format('GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA policy TO %I', server_role);
        EXECUTE format('GRANT UPDATE (cleared_at, cleared_by) ON policy.overrides TO %I', server_role);
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA policy TO %I', server_role);
    END IF;
END $$;
