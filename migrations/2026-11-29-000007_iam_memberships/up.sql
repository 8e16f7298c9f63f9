-- IAM: memberships, role bindings, invitations, and keys that act as a user.
-- Access always resolves through these tables; users carry no organization column.
CREATE TABLE iam.org_memberships (
    organization_id uuid NOT NULL REFERENCES iam.organizations (id),
    user_id uuid NOT NULL REFERENCES iam.users (id),
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX org_memberships_user ON iam.org_memberships (user_id);

-- A project member is always a member of the project's organization: leaving the
-- organization ends every project membership and role binding in it.
CREATE TABLE iam.project_memberships (
    project_id uuid NOT NULL REFERENCES iam.projects (id),
    organization_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'developer', 'viewer')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, user_id),
    FOREIGN KEY (organization_id, user_id)
        REFERENCES iam.org_memberships (organization_id, user_id) ON DELETE CASCADE
);
CREATE INDEX project_memberships_user ON iam.project_memberships (user_id);

-- Registry roles (product roles among them) bound to a member in the whole organization
-- (project_id NULL) or in one project.
CREATE TABLE iam.role_bindings (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    project_id uuid REFERENCES iam.projects (id),
    user_id uuid NOT NULL,
    role text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE NULLS NOT DISTINCT (organization_id, project_id, user_id, role),
    FOREIGN KEY (organization_id, user_id)
        REFERENCES iam.org_memberships (organization_id, user_id) ON DELETE CASCADE
);

-- Only a SHA-256 of each invitation token is kept; a token works once, before it expires.
CREATE TABLE iam.invitations (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES iam.organizations (id),
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_sha256 text NOT NULL UNIQUE,
    invited_by text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES iam.users (id)
);
CREATE INDEX invitations_org ON iam.invitations (organization_id);

-- A key acts as exactly one of a service account or a user.
ALTER TABLE iam.api_keys ALTER COLUMN service_account_id DROP NOT NULL;
ALTER TABLE iam.api_keys ADD COLUMN user_id uuid REFERENCES iam.users (id);
ALTER TABLE iam.api_keys ADD CONSTRAINT api_keys_one_principal
    CHECK ((service_account_id IS NULL) <> (user_id IS NULL));

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON iam.org_memberships, iam.project_memberships, iam.role_bindings, iam.invitations TO %I', server_role);
    END IF;
END $$;
