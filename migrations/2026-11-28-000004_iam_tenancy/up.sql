-- IAM tenancy: organizations (tenants), departments (cost centers), projects.
CREATE SCHEMA iam;

CREATE TABLE iam.organizations (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('personal', 'team')),
    state text NOT NULL CHECK (state IN ('active', 'suspended')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE iam.departments (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES iam.organizations (id),
    slug text NOT NULL,
    name text NOT NULL,
    is_default boolean NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (organization_id, slug),
    -- Lets projects require their department to be in their own organization.
    UNIQUE (organization_id, id)
);
CREATE UNIQUE INDEX departments_one_default ON iam.departments (organization_id) WHERE is_default;

CREATE TABLE iam.projects (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES iam.organizations (id),
    department_id uuid NOT NULL,
    slug text NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (organization_id, slug),
    FOREIGN KEY (organization_id, department_id) REFERENCES iam.departments (organization_id, id)
);

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT USAGE ON SCHEMA iam TO %I', server_role);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA iam TO %I', server_role);
    END IF;
END $$;
