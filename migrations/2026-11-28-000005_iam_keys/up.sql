-- IAM: service accounts and API keys. Only a SHA-256 of each key's secret is stored.
CREATE TABLE iam.service_accounts (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES iam.organizations (id),
    project_id uuid NOT NULL REFERENCES iam.projects (id),
    name text NOT NULL,
    owner text NOT NULL,
    purpose text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE iam.api_keys (
    id uuid PRIMARY KEY,
    prefix text NOT NULL UNIQUE,
    secret_sha256 text NOT NULL,
    name text NOT NULL,
    organization_id uuid NOT NULL REFERENCES iam.organizations (id),
    department_id uuid NOT NULL REFERENCES iam.departments (id),
    project_id uuid NOT NULL REFERENCES iam.projects (id),
    service_account_id uuid NOT NULL REFERENCES iam.service_accounts (id),
    scopes text[] NOT NULL,
    model_allowlist text[],
    expires_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX api_keys_project ON iam.api_keys (project_id);

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON iam.service_accounts, iam.api_keys TO %I', server_role);
    END IF;
END $$;
