-- IAM: people, platform roles, portal sessions and sign-in failures (for throttling).
CREATE TABLE iam.users (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    display_name text NOT NULL,
    password_hash text NOT NULL,
    state text NOT NULL CHECK (state IN ('active', 'disabled')),
    last_sign_in_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email ON iam.users (lower(email));

CREATE TABLE iam.platform_roles (
    user_id uuid NOT NULL REFERENCES iam.users (id),
    role text NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- Only a SHA-256 of each session token is kept.
CREATE TABLE iam.sessions (
    token_sha256 text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES iam.users (id),
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON iam.sessions (user_id);

CREATE TABLE iam.sign_in_failures (
    id bigserial PRIMARY KEY,
    email text NOT NULL,
    client_ip text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_email ON iam.sign_in_failures (lower(email), at);
CREATE INDEX sign_in_failures_ip ON iam.sign_in_failures (client_ip, at);

DO $$
DECLARE server_role text := current_setting('aicloud.server_role', true);
BEGIN
    IF server_role IS NOT NULL AND server_role <> '' AND server_role <> current_user THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON iam.users, iam.platform_roles, iam.sessions, iam.sign_in_failures TO %I', server_role);
        EXECUTE format('GRANT USAGE ON SEQUENCE iam.sign_in_failures_id_seq TO %I', server_role);
    END IF;
END $$;
