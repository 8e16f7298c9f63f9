-- The registry: products, their packet revisions, and every product-specific name.
CREATE SCHEMA registry;

CREATE TABLE registry.products (
    id text PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    description text NOT NULL,
    lifecycle text NOT NULL CHECK (lifecycle IN ('draft', 'onboarding', 'active', 'deprecated', 'retired')),
    declared_lifecycle text NOT NULL,
    identity jsonb NOT NULL,
    ownership jsonb NOT NULL,
    current_revision_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE registry.revisions (
    id uuid PRIMARY KEY,
    product_id text NOT NULL REFERENCES registry.products (id) DEFERRABLE INITIALLY DEFERRED,
    number integer NOT NULL CHECK (number > 0),
    sha256 text NOT NULL,
    format text NOT NULL CHECK (format IN ('toml', 'json')),
    source text NOT NULL,
    normalized jsonb NOT NULL,
    diff jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (product_id, number)
);

CREATE TABLE registry.entries (
    family text NOT NULL,
    id text NOT NULL,
    product_id text NOT NULL REFERENCES registry.products (id) DEFERRABLE INITIALLY DEFERRED,
    version integer NOT NULL CHECK (version > 0),
    state text NOT NULL CHECK (state IN ('draft', 'active', 'not_applicable', 'retired')),
    description text NOT NULL,
    attributes jsonb NOT NULL,
    not_applicable jsonb,
    revision_id uuid NOT NULL REFERENCES registry.revisions (id),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (family, id)
);

CREATE INDEX entries_product ON registry.entries (product_id);
CREATE INDEX entries_state ON registry.entries (family, state);

-- The server's role (see db::apply_migrations) reads and writes the registry.
DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT USAGE ON SCHEMA registry TO %I', server_role);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA registry TO %I', server_role);
    END IF;
END $$;
